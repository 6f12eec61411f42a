"""ctypes binding of attnjit's C API (capi/include/attnjit/attnjit.h).

The structures below mirror the header field by field; ``check_layouts()``
compares their sizes with what the library reports through the ``*_init``
functions, so a header change that is not mirrored here fails loudly at import
instead of corrupting arguments. Pointer arguments are declared ``c_void_p``
and passed as integers (``ctypes.addressof``), the cheapest conversion ctypes
has; the attention hot path never builds a ctypes object per call.
"""

from __future__ import annotations

import ctypes
import os
import pathlib

from ._errors import raise_status

# attnjit_status
OK = 0

# The ATTNJIT_C_API_VERSION this binding mirrors (2: the *_call entries).
C_API_VERSION = 2

# DLDeviceType / DLDataTypeCode values used here (dlpack/dlpack.h).
DL_CPU = 1
DL_CUDA = 2
DL_CUDA_HOST = 3
DL_INT = 0
DL_UINT = 1
DL_FLOAT = 2
DL_BFLOAT = 4
DL_BOOL = 6

LAYOUT_BSHD = 0
LAYOUT_BHSD = 1

# attnjit_dtype, by name.
DTYPES = {"float16": 0, "bfloat16": 1, "float32": 2, "bool": 3, "int8": 4, "float8_e4m3fn": 5}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}

SELECTION_SOURCES = ("explicit", "env", "caller_default", "automatic")

MAX_RANK = 8


class DLTensor(ctypes.Structure):
    """DLPack's DLTensor with DLDevice and DLDataType flattened into it (same
    memory layout: two int32, an int32, then uint8, uint8, uint16)."""

    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device_type", ctypes.c_int32),
        ("device_id", ctypes.c_int32),
        ("ndim", ctypes.c_int32),
        ("dtype_code", ctypes.c_uint8),
        ("dtype_bits", ctypes.c_uint8),
        ("dtype_lanes", ctypes.c_uint16),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("byte_offset", ctypes.c_uint64),
    ]


class KernelConfig(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int32) for n in ("block_m", "block_n", "num_warps", "stages")]


class FlashOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("layout", ctypes.c_int32),
        ("causal", ctypes.c_int32),
        ("has_softmax_scale", ctypes.c_int32),
        ("softmax_scale", ctypes.c_float),
        ("lse", ctypes.c_void_p),
        ("config", KernelConfig),
    ]


class SdpaOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("layout", ctypes.c_int32),
        ("causal", ctypes.c_int32),
        ("has_softmax_scale", ctypes.c_int32),
        ("softmax_scale", ctypes.c_float),
        ("mask", ctypes.c_void_p),
        ("dropout_p", ctypes.c_float),
        ("seed", ctypes.c_uint64),
        ("offset", ctypes.c_uint64),
        ("config", KernelConfig),
    ]


class SageOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("layout", ctypes.c_int32),
        ("causal", ctypes.c_int32),
        ("has_softmax_scale", ctypes.c_int32),
        ("softmax_scale", ctypes.c_float),
    ]


class FlashCall(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("q", ctypes.c_void_p),
        ("k", ctypes.c_void_p),
        ("v", ctypes.c_void_p),
        ("out", ctypes.c_void_p),
        ("opts", ctypes.c_void_p),
        ("stream", ctypes.c_void_p),
    ]


class SdpaCall(ctypes.Structure):
    _fields_ = FlashCall._fields_


class DeviceInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("name", ctypes.c_char * 256),
        ("arch", ctypes.c_char * 32),
        ("cc_major", ctypes.c_int32),
        ("cc_minor", ctypes.c_int32),
        ("sm_count", ctypes.c_int32),
    ]


class BackendInfo(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("accepts_output_buffer", ctypes.c_int32),
        ("causal_bottom_right", ctypes.c_int32),
        ("auto_priority", ctypes.c_int32),
        ("num_head_sizes", ctypes.c_int32),
        ("head_sizes", ctypes.c_int32 * 256),
        ("dtype_mask", ctypes.c_uint32),
    ]


class SelectorOptions(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("requested", ctypes.c_char_p),
        ("caller_default", ctypes.c_char_p),
        ("strict", ctypes.c_int32),
        ("dropout_p", ctypes.c_double),
    ]


class Selection(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_uint32),
        ("backend", ctypes.c_char_p),
        ("requested", ctypes.c_char_p),
        ("source", ctypes.c_int32),
        ("is_fallback", ctypes.c_int32),
        ("fallback_reason", ctypes.c_char_p),
    ]


# (name, restype, argtypes); c_int results are attnjit_status.
_S = ctypes.c_int
_P = ctypes.c_void_p
_PROTOTYPES = [
    ("attnjit_c_api_version", ctypes.c_int, []),
    ("attnjit_version", ctypes.c_char_p, []),
    ("attnjit_git_hash", ctypes.c_char_p, []),
    ("attnjit_build_id", ctypes.c_char_p, []),
    ("attnjit_has_jit", ctypes.c_int, []),
    ("attnjit_status_name", ctypes.c_char_p, [ctypes.c_int]),
    ("attnjit_last_error_code", ctypes.c_int, []),
    ("attnjit_last_error_message", ctypes.c_char_p, []),
    ("attnjit_device_count", _S, [_P]),
    ("attnjit_device_info_init", None, [_P]),
    ("attnjit_device_get_info", _S, [ctypes.c_int, _P]),
    ("attnjit_flash_options_init", None, [_P]),
    ("attnjit_flash_attention", _S, [_P, _P, _P, _P, _P, _P]),
    ("attnjit_sdpa_options_init", None, [_P]),
    ("attnjit_sdpa_attention", _S, [_P, _P, _P, _P, _P, _P]),
    ("attnjit_flash_attention_call", _S, [_P]),
    ("attnjit_sdpa_attention_call", _S, [_P]),
    ("attnjit_sage_options_init", None, [_P]),
    ("attnjit_sage_attention", _S, [_P, _P, _P, _P, _P, _P]),
    ("attnjit_backend_count", _S, [_P]),
    ("attnjit_backend_name", _S, [ctypes.c_int, _P]),
    ("attnjit_backend_info_init", None, [_P]),
    ("attnjit_backend_get_info", _S, [ctypes.c_char_p, _P]),
    ("attnjit_selector_options_init", None, [_P]),
    ("attnjit_selection_init", None, [_P]),
    ("attnjit_select_backend", _S, [ctypes.c_int, ctypes.c_int, _P, _P]),
    ("attnjit_load_bundle", _S, [ctypes.c_char_p, _P]),
    ("attnjit_load_bundle_memory", _S, [_P, ctypes.c_size_t, ctypes.c_char_p, _P]),
]

LIBRARY_NAME = "libattnjit_c.so"


def _candidates():
    """Where the library is looked for, in order."""
    env = os.environ.get("ATTNJIT_LIBRARY")
    if env:
        yield env
        return
    here = pathlib.Path(__file__).resolve().parent
    yield str(here / "lib" / LIBRARY_NAME)  # installed by pip install .
    yield str(here.parent.parent / "build" / "capi" / LIBRARY_NAME)  # a source checkout
    yield LIBRARY_NAME  # the loader's search path (LD_LIBRARY_PATH)


def _load():
    tried = []
    for path in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append(f"{path} (missing)")
            continue
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"{path} ({e})")
    raise ImportError(
        "attnjit: cannot load the C library; tried " + "; ".join(tried) +
        ". Build it (scripts/setup.sh && cmake --build build), install the package "
        "(pip install .), or set ATTNJIT_LIBRARY to the path of libattnjit_c.so")


lib = _load()
# Before the prototypes: an older library lacks some of the functions below.
if lib.attnjit_c_api_version() < C_API_VERSION:
    raise ImportError("attnjit: libattnjit_c.so reports C API version "
                      f"{lib.attnjit_c_api_version()}, this package needs {C_API_VERSION}")
for _name, _res, _args in _PROTOTYPES:
    _fn = getattr(lib, _name)
    _fn.restype = _res
    _fn.argtypes = _args


def check(status: int) -> None:
    """Raises the AttnjitError for a failed status, with the thread's message."""
    if status != OK:
        raise_status(status, lib.attnjit_status_name(status).decode(),
                     lib.attnjit_last_error_message().decode(errors="replace"))


def init_struct(cls, init_fn):
    """A ctypes struct initialised by the library; its struct_size must equal
    ctypes' size of the mirror, else the mirror is out of date."""
    s = cls()
    init_fn(ctypes.addressof(s))
    if s.struct_size != ctypes.sizeof(cls):
        raise ImportError(
            f"attnjit: {cls.__name__} has {ctypes.sizeof(cls)} bytes in the Python "
            f"binding but {s.struct_size} in the library; the package and "
            f"libattnjit_c.so do not match")
    return s


def check_layouts() -> None:
    if ctypes.sizeof(DLTensor) != 48:
        raise ImportError("attnjit: unexpected DLTensor size")
    for cls, fn in ((FlashOptions, lib.attnjit_flash_options_init),
                    (SdpaOptions, lib.attnjit_sdpa_options_init),
                    (SageOptions, lib.attnjit_sage_options_init),
                    (DeviceInfo, lib.attnjit_device_info_init),
                    (BackendInfo, lib.attnjit_backend_info_init),
                    (SelectorOptions, lib.attnjit_selector_options_init),
                    (Selection, lib.attnjit_selection_init)):
        init_struct(cls, fn)


check_layouts()

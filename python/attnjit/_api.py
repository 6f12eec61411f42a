"""The torch-free part of attnjit: version, devices, backends, the selector,
bundles, and the attention entries over plain tensor descriptions.

Tensors cross into C as DLTensors written into per-thread slots that are
allocated once (``_Slots``), so a call builds no ctypes objects. The torch
functions (``_torch.py``) fill the same slots from torch tensors; their common
case (rank-4 GPU tensors) writes a whole fast call with one struct.pack_into
and passes the C API one pointer.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from . import _capi
from ._capi import lib, check
from ._errors import invalid

#===----------------------------------------------------------------------===#
# Version and devices
#===----------------------------------------------------------------------===#

version: str = lib.attnjit_version().decode()
git_hash: str = lib.attnjit_git_hash().decode()
build_id: str = lib.attnjit_build_id().decode()
c_api_version: int = lib.attnjit_c_api_version()
has_jit: bool = bool(lib.attnjit_has_jit())


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    arch: str
    compute_capability: tuple
    sm_count: int


def device_count() -> int:
    """Number of CUDA devices; 0 without a driver or device."""
    n = ctypes.c_int(0)
    status = lib.attnjit_device_count(ctypes.addressof(n))
    if status == 3:  # ATTNJIT_ERROR_NO_DEVICE: none is a valid answer here
        return 0
    check(status)
    return n.value


def devices() -> list:
    """The CUDA devices attnjit sees ([] without a driver or GPU)."""
    result = []
    for i in range(device_count()):
        info = _capi.init_struct(_capi.DeviceInfo, lib.attnjit_device_info_init)
        check(lib.attnjit_device_get_info(i, ctypes.addressof(info)))
        result.append(Device(i, info.name.decode(), info.arch.decode(),
                             (info.cc_major, info.cc_minor), info.sm_count))
    return result


#===----------------------------------------------------------------------===#
# Backends and the selector
#===----------------------------------------------------------------------===#

@dataclass(frozen=True)
class BackendInfo:
    name: str
    accepts_output_buffer: bool
    causal_bottom_right: bool
    auto_priority: int
    head_sizes: tuple
    dtypes: tuple


@dataclass(frozen=True)
class Selection:
    backend: str
    requested: Optional[str]
    source: str  # explicit, env, caller_default, automatic
    fallback_reason: str

    @property
    def is_fallback(self) -> bool:
        return bool(self.fallback_reason)


def backends() -> list:
    """Canonical names of the registered backends, in registration order."""
    n = ctypes.c_int(0)
    check(lib.attnjit_backend_count(ctypes.addressof(n)))
    names = []
    name = ctypes.c_char_p()
    for i in range(n.value):
        check(lib.attnjit_backend_name(i, ctypes.addressof(name)))
        names.append(name.value.decode())
    return names


def backend_info(name: str) -> BackendInfo:
    """What backend `name` serves (case-insensitive; TORCH_SDPA is SDPA)."""
    if not isinstance(name, str):
        invalid(f"backend name: expected a str, got {type(name).__name__}")
    info = _capi.init_struct(_capi.BackendInfo, lib.attnjit_backend_info_init)
    check(lib.attnjit_backend_get_info(name.encode(), ctypes.addressof(info)))
    dtypes = tuple(n for n, v in _capi.DTYPES.items() if info.dtype_mask & (1 << v))
    canonical = name.upper()
    for b in backends():
        if b == canonical or (canonical == "TORCH_SDPA" and b == "SDPA"):
            canonical = b
    return BackendInfo(canonical, bool(info.accepts_output_buffer),
                       bool(info.causal_bottom_right), info.auto_priority,
                       tuple(info.head_sizes[:info.num_head_sizes]), dtypes)


def _dtype_code(dtype) -> int:
    name = dtype if isinstance(dtype, str) else str(dtype).replace("torch.", "")
    code = _capi.DTYPES.get(name)
    if code is None:
        invalid(f"dtype: expected one of {', '.join(_capi.DTYPES)}, got {name}")
    return code


def select_backend(head_size: int, dtype="bfloat16", requested: Optional[str] = None,
                   caller_default: Optional[str] = None, strict: bool = False,
                   dropout_p: float = 0.0) -> Selection:
    """attnjit's selector: explicit request > $ATTNJIT_ATTENTION_BACKEND >
    caller default > automatic. A named backend that cannot serve falls back
    (with the reason) or, when strict, raises UnsupportedError."""
    opts = _capi.init_struct(_capi.SelectorOptions, lib.attnjit_selector_options_init)
    opts.requested = requested.encode() if requested else None
    opts.caller_default = caller_default.encode() if caller_default else None
    opts.strict = 1 if strict else 0
    opts.dropout_p = float(dropout_p)
    sel = _capi.init_struct(_capi.Selection, lib.attnjit_selection_init)
    check(lib.attnjit_select_backend(int(head_size), _dtype_code(dtype), ctypes.addressof(opts),
                                     ctypes.addressof(sel)))
    return Selection(sel.backend.decode(), sel.requested.decode() or None,
                     _capi.SELECTION_SOURCES[sel.source], sel.fallback_reason.decode())


def load_bundle(path_or_bytes: Union[str, bytes], name: Optional[str] = None) -> int:
    """Loads a precompiled bundle (attnjit-aot) from a path or from bytes;
    returns its kernel count. Its kernels are served before the cache and JIT."""
    n = ctypes.c_int(0)
    if isinstance(path_or_bytes, (bytes, bytearray)):
        buf = bytes(path_or_bytes)
        check(lib.attnjit_load_bundle_memory(buf, len(buf), name.encode() if name else None,
                                             ctypes.addressof(n)))
    else:
        check(lib.attnjit_load_bundle(str(path_or_bytes).encode(), ctypes.addressof(n)))
    return n.value


#===----------------------------------------------------------------------===#
# Tensor descriptions
#===----------------------------------------------------------------------===#

# DLPack (code, bits) of dtype names; names attnjit cannot use are still
# described faithfully, so that the C API names them in its error.
DLPACK_DTYPES = {
    "float16": (_capi.DL_FLOAT, 16), "bfloat16": (_capi.DL_BFLOAT, 16),
    "float32": (_capi.DL_FLOAT, 32), "float64": (_capi.DL_FLOAT, 64),
    "bool": (_capi.DL_BOOL, 8), "uint8": (_capi.DL_UINT, 8), "int8": (_capi.DL_INT, 8),
    "int16": (_capi.DL_INT, 16), "int32": (_capi.DL_INT, 32), "int64": (_capi.DL_INT, 64),
}


class TensorDesc:
    """A tensor described by hand (no torch needed): a data pointer (int),
    shape and strides in elements (None: row-major), a dtype name and a device
    ("cuda:N" or "cpu"). attnjit never copies or owns the memory."""

    __slots__ = ("data_ptr", "shape", "strides", "dtype", "device")

    def __init__(self, data_ptr: int, shape: Sequence[int], strides: Optional[Sequence[int]] = None,
                 dtype: str = "float16", device: str = "cuda:0"):
        if dtype not in DLPACK_DTYPES:
            invalid(f"TensorDesc dtype: expected one of {', '.join(DLPACK_DTYPES)}, got {dtype!r}")
        if device == "cpu":
            dev = (_capi.DL_CPU, 0)
        elif device.startswith("cuda"):
            dev = (_capi.DL_CUDA, int(device[5:] or 0) if ":" in device else 0)
        else:
            invalid(f"TensorDesc device: expected 'cuda[:N]' or 'cpu', got {device!r}")
        if len(shape) > _capi.MAX_RANK or (strides is not None and len(strides) != len(shape)):
            invalid(f"TensorDesc: rank {len(shape)} with {len(strides or ())} strides "
                    f"(rank at most {_capi.MAX_RANK}, strides as many as sizes)")
        self.data_ptr = int(data_ptr)
        self.shape = tuple(int(s) for s in shape)
        self.strides = None if strides is None else tuple(int(s) for s in strides)
        self.dtype = dtype
        self.device = dev


# One per-thread block of memory holds everything the calls pass:
#   [0, 192)      q, k, v, out (DLTensors 0..3; the general path)
#   [192, 240)    mask (DLTensor 4)
#   [240, 880)    rank <= 8 shapes and strides of the five (the general path)
#   [880, 1456)   the flash fast call (FastCall below)
#   [1456, 2056)  the SDPA fast call
# A fast call is an attnjit_*_call struct followed by what it points at, in
# the order one struct.pack_into (_torch.py) rewrites them: the call's stream,
# the DLTensors of q, k, v and out, their rank-4 shapes and strides, then the
# options struct up to its kernel config (never written: zeros, the compiler
# chooses).
_DLTENSOR_BYTES = 48
_MASK_AT = 4 * _DLTENSOR_BYTES
_GENERAL_SHAPES = _MASK_AT + _DLTENSOR_BYTES
_CALL_BYTES = ctypes.sizeof(_capi.FlashCall)
assert _CALL_BYTES == ctypes.sizeof(_capi.SdpaCall) == 56
assert _capi.FlashCall.stream.offset == _CALL_BYTES - 8


class FastCall:
    """Offsets (from the block's start) of one fast call's parts."""

    def __init__(self, at: int, options_cls):
        self.at = at                                     # the attnjit_*_call struct
        self.pack_at = at + _CALL_BYTES - 8              # its stream: the packed range starts here
        self.tensors = at + _CALL_BYTES                  # DLTensors q, k, v, out
        self.shapes = self.tensors + 4 * _DLTENSOR_BYTES  # shape[4], strides[4] of each
        self.options = self.shapes + 4 * 64
        self.end = self.options + ctypes.sizeof(options_cls)


FLASH_FAST = FastCall(_GENERAL_SHAPES + 5 * 2 * 8 * _capi.MAX_RANK, _capi.FlashOptions)
SDPA_FAST = FastCall(FLASH_FAST.end, _capi.SdpaOptions)
_SLOT_BYTES = SDPA_FAST.end


class _Slots(threading.local):
    """This thread's DLTensors (q, k, v, out, mask), their shape and stride
    arrays, one options struct per entry and the two fast calls, made once
    per thread."""

    def __init__(self):
        self.raw = ctypes.create_string_buffer(_SLOT_BYTES)
        self.base = base = ctypes.addressof(self.raw)
        at = [0, 48, 96, 144, _MASK_AT]
        self.tensors = [_capi.DLTensor.from_buffer(self.raw, a) for a in at]
        rank8 = ctypes.c_int64 * _capi.MAX_RANK
        self.shapes = [rank8.from_buffer(self.raw, _GENERAL_SHAPES + i * 128) for i in range(5)]
        self.strides = [rank8.from_buffer(self.raw, _GENERAL_SHAPES + i * 128 + 64)
                        for i in range(5)]
        self.addrs = [base + a for a in at]
        self.qkvo = tuple(self.addrs[:4])
        self.flash = _capi.init_struct(_capi.FlashOptions, lib.attnjit_flash_options_init)
        self.sdpa = _capi.init_struct(_capi.SdpaOptions, lib.attnjit_sdpa_options_init)
        self.sage = _capi.init_struct(_capi.SageOptions, lib.attnjit_sage_options_init)
        self.flash_addr = ctypes.addressof(self.flash)
        self.sdpa_addr = ctypes.addressof(self.sdpa)
        self.sage_addr = ctypes.addressof(self.sage)
        # The fast calls: the call structs point at their DLTensors and
        # options once; per call only their contents change.
        self.flash_call, self.flash_ptrs = self._fast_call(
            FLASH_FAST, _capi.FlashCall, _capi.FlashOptions, lib.attnjit_flash_options_init)
        self.sdpa_call, self.sdpa_ptrs = self._fast_call(
            SDPA_FAST, _capi.SdpaCall, _capi.SdpaOptions, lib.attnjit_sdpa_options_init)

    def _fast_call(self, f: FastCall, call_cls, options_cls, init_fn):
        base = self.base
        options = options_cls.from_buffer(self.raw, f.options)
        init_fn(base + f.options)
        call = call_cls.from_buffer(self.raw, f.at)
        call.struct_size = ctypes.sizeof(call_cls)
        call.q, call.k, call.v, call.out = (base + f.tensors + i * _DLTENSOR_BYTES
                                            for i in range(4))
        call.opts = base + f.options
        assert options.struct_size == ctypes.sizeof(options_cls)
        # Each DLTensor's shape and strides pointers, as the pack writes them.
        ptrs = tuple(base + f.shapes + i * 32 for i in range(8))
        return base + f.at, ptrs

    def general(self, i):
        """DLTensor i pointing at its rank <= 8 shape and stride arrays."""
        t = self.tensors[i]
        t.shape = ctypes.addressof(self.shapes[i])
        t.strides = ctypes.addressof(self.strides[i])
        t.byte_offset = 0
        t.dtype_lanes = 1
        return t


slots = _Slots()

Q, K, V, OUT, MASK = range(5)


def fill_desc(s: _Slots, i: int, x: TensorDesc) -> None:
    t, sh, st = s.general(i), s.shapes[i], s.strides[i]
    t.data = x.data_ptr
    t.device_type, t.device_id = x.device
    t.dtype_code, t.dtype_bits = DLPACK_DTYPES[x.dtype]
    n = len(x.shape)
    t.ndim = n
    sh[:n] = x.shape
    st[:n] = x.strides if x.strides is not None else contiguous_strides(x.shape)


def contiguous_strides(shape: Sequence[int]) -> tuple:
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(int(size), 1)
    return tuple(reversed(strides))


_LAYOUTS = {"BSHD": _capi.LAYOUT_BSHD, "BHSD": _capi.LAYOUT_BHSD}


def _layout(layout: str) -> int:
    code = _LAYOUTS.get(layout)
    if code is None:
        invalid(f"layout: expected 'BSHD' or 'BHSD', got {layout!r}")
    return code


#===----------------------------------------------------------------------===#
# Launches (shared with the torch functions)
#===----------------------------------------------------------------------===#

# The options after struct_size, padding included (see _capi's structs).
_FLASH_OPTS = struct.Struct("<iiif4xQ")
_SDPA_OPTS = struct.Struct("<iiif4xQf4xQQ")
_SAGE_OPTS = struct.Struct("<iiif")
assert _capi.FlashOptions.lse.offset == 4 + _FLASH_OPTS.size - 8
assert _capi.SdpaOptions.offset.offset == 4 + _SDPA_OPTS.size - 8
assert _capi.SageOptions.softmax_scale.offset == 4 + _SAGE_OPTS.size - 4


def _pack(fmt, opts, *values):
    try:
        fmt.pack_into(opts, 4, *values)
    except struct.error as e:
        invalid(f"softmax scale / dropout_p / seed: expected Python numbers ({e})")


def launch_flash(s, tensors, stream, layout, causal, scale, lse_ptr):
    """attnjit_flash_attention on the DLTensor addresses `tensors` (q, k, v, out)."""
    _pack(_FLASH_OPTS, s.flash, layout, 1 if causal else 0, scale is not None,
          0.0 if scale is None else scale, lse_ptr)
    check(lib.attnjit_flash_attention(*tensors, s.flash_addr, stream))


def launch_sdpa(s, tensors, stream, layout, causal, scale, mask_addr, dropout_p, seed, offset):
    _pack(_SDPA_OPTS, s.sdpa, layout, 1 if causal else 0, scale is not None,
          0.0 if scale is None else scale, mask_addr, dropout_p, seed, offset)
    check(lib.attnjit_sdpa_attention(*tensors, s.sdpa_addr, stream))


def launch_sage(s, tensors, stream, layout, causal, scale):
    _pack(_SAGE_OPTS, s.sage, layout, 1 if causal else 0, scale is not None,
          0.0 if scale is None else scale)
    check(lib.attnjit_sage_attention(*tensors, s.sage_addr, stream))


def _describe(s, q, k, v, out):
    """Writes the TensorDescs into the slots; None stays a NULL pointer, which
    the C API names."""
    for i, x in ((Q, q), (K, k), (V, v), (OUT, out)):
        if x is not None:
            fill_desc(s, i, x)
    return [None if x is None else s.addrs[i] for i, x in ((Q, q), (K, k), (V, v), (OUT, out))]


def flash_attention(q: TensorDesc, k: TensorDesc, v: TensorDesc, out: TensorDesc, *,
                    layout: str = "BSHD", causal: bool = False,
                    softmax_scale: Optional[float] = None, lse_ptr: int = 0,
                    stream: int = 0) -> None:
    """attnjit_flash_attention over TensorDescs (memory the caller owns)."""
    s = slots
    launch_flash(s, _describe(s, q, k, v, out), stream or None, _layout(layout), causal,
                 softmax_scale, lse_ptr)


def sdpa_attention(q: TensorDesc, k: TensorDesc, v: TensorDesc, out: TensorDesc, *,
                   layout: str = "BSHD", causal: bool = False,
                   softmax_scale: Optional[float] = None, mask: Optional[TensorDesc] = None,
                   dropout_p: float = 0.0, seed: int = 0, offset: int = 0,
                   stream: int = 0) -> None:
    """attnjit_sdpa_attention over TensorDescs."""
    s = slots
    tensors = _describe(s, q, k, v, out)
    mask_addr = 0
    if mask is not None:
        fill_desc(s, MASK, mask)
        mask_addr = s.addrs[MASK]
    launch_sdpa(s, tensors, stream or None, _layout(layout), causal, softmax_scale, mask_addr,
                dropout_p, seed, offset)


def sage_attention(q: TensorDesc, k: TensorDesc, v: TensorDesc, out: TensorDesc, *,
                   layout: str = "BSHD", causal: bool = False,
                   softmax_scale: Optional[float] = None, stream: int = 0) -> None:
    """attnjit_sage_attention over TensorDescs (UnsupportedError until Sage lands)."""
    s = slots
    launch_sage(s, _describe(s, q, k, v, out), stream or None, _layout(layout), causal,
                softmax_scale)

"""CPU tests of the attnjit package: import without torch, version, devices,
argument checking through the C API with host buffers (ctypes arrays), the
backend registry and selector, bundles, errors. Run in CI (no GPU, no torch)."""

import ctypes
import os
import pathlib
import re
import subprocess
import sys
import threading

import pytest

import attnjit
from attnjit import TensorDesc

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _has_gpu() -> bool:
    return os.path.exists("/dev/nvidiactl")


def _buf(nbytes=1 << 16):
    """Host memory standing in for device memory: every call below is refused
    before anything would read it."""
    b = (ctypes.c_uint8 * nbytes)()
    return b, ctypes.addressof(b)


_KEEP = []


def desc(shape, dtype="bfloat16", device="cuda:0", strides=None, ptr=None):
    if ptr is None:
        b, ptr = _buf()
        _KEEP.append(b)
    return TensorDesc(ptr, shape, strides, dtype, device)


def qkvo(b=1, sq=4, sk=4, h=2, hkv=2, d=64, dtype="bfloat16"):
    return (desc((b, sq, h, d), dtype), desc((b, sk, hkv, d), dtype),
            desc((b, sk, hkv, d), dtype), desc((b, sq, h, d), dtype))


#===----------------------------------------------------------------------===#
# Import, version, devices
#===----------------------------------------------------------------------===#

def test_import_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import attnjit\n"
            "print(attnjit.__version__, attnjit.devices() if not %r else 'gpu')\n"
            "try:\n"
            "    attnjit.flash_attn_func\n"
            "except ImportError as e:\n"
            "    print('lazy torch:', type(e).__name__)\n") % _has_gpu()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "python")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(attnjit.__version__)
    assert "lazy torch: ModuleNotFoundError" in r.stdout or "lazy torch: ImportError" in r.stdout


def test_version():
    cmake = (ROOT / "CMakeLists.txt").read_text()
    project = re.search(r"project\(attnjit VERSION ([0-9.]+)", cmake).group(1)
    assert attnjit.__version__ == project == attnjit.version
    assert attnjit.build_id == f"{attnjit.version}+{attnjit.git_hash}"
    assert attnjit.c_api_version == 2
    assert isinstance(attnjit.has_jit, bool)


@pytest.mark.skipif(_has_gpu(), reason="this machine has a GPU")
def test_devices_empty_without_gpu():
    assert attnjit.devices() == []
    assert attnjit.device_count() == 0


#===----------------------------------------------------------------------===#
# Argument checking through the C API
#===----------------------------------------------------------------------===#

def expect(exc, fragment, fn, *args, **kwargs):
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    assert fragment in str(info.value), str(info.value)
    assert isinstance(info.value, attnjit.AttnjitError)
    return info.value


def test_flash_cpu_tensor():
    q, k, v, o = qkvo()
    k = desc((1, 4, 2, 64), device="cpu")
    e = expect(attnjit.InvalidArgumentError, "k.device: expected a CUDA tensor",
               attnjit.flash_attention, q, k, v, o)
    assert e.status == "ATTNJIT_ERROR_INVALID_ARGUMENT" and e.code == 1
    assert isinstance(e, ValueError)


def test_flash_wrong_dtype():
    q, k, v, o = qkvo()
    expect(attnjit.InvalidArgumentError, "v.dtype: expected bf16 (q's dtype), got f16",
           attnjit.flash_attention, q, k, desc((1, 4, 2, 64), "float16"), o)
    expect(attnjit.InvalidArgumentError, "q: DLPack dtype: unsupported",
           attnjit.flash_attention, desc((1, 4, 2, 64), "int64"), k, v, o)
    q32, k32, v32, o32 = qkvo(dtype="float32")
    expect(attnjit.InvalidArgumentError, "q.dtype: expected", attnjit.flash_attention,
           q32, k32, v32, o32)


def test_flash_non_contiguous_head_dim():
    q, k, v, o = qkvo()
    strided = desc((1, 4, 2, 64), strides=(1024, 256, 128, 2))
    expect(attnjit.InvalidArgumentError, "head_dim must be contiguous", attnjit.flash_attention,
           strided, k, v, o)


def test_flash_mismatched_shapes():
    q, k, v, o = qkvo()
    expect(attnjit.InvalidArgumentError, "k.shape[3] (head_dim): expected 64",
           attnjit.flash_attention, q, desc((1, 4, 2, 32)), v, o)
    expect(attnjit.InvalidArgumentError, "out.shape: expected", attnjit.flash_attention,
           q, k, v, desc((1, 5, 2, 64)))
    expect(attnjit.InvalidArgumentError, "q.rank: expected 4", attnjit.flash_attention,
           desc((4, 2, 64)), k, v, o)
    q, k, v, o = qkvo(h=4, hkv=3)
    expect(attnjit.InvalidArgumentError, "expected a divisor of q's num_heads 4",
           attnjit.flash_attention, q, k, v, o)


def test_flash_null_and_options():
    q, k, v, o = qkvo()
    expect(attnjit.InvalidArgumentError, "q: NULL DLTensor pointer", attnjit.flash_attention,
           None, k, v, o)
    expect(attnjit.InvalidArgumentError, "q.data: expected a non-null device pointer",
           attnjit.flash_attention, desc((1, 4, 2, 64), ptr=0), k, v, o)
    expect(attnjit.InvalidArgumentError, "layout", attnjit.flash_attention, q, k, v, o,
           layout="SBHD")
    expect(attnjit.InvalidArgumentError, "softmaxScale: expected a finite value",
           attnjit.flash_attention, q, k, v, o, softmax_scale=float("inf"))


def test_flash_unsupported_head_size():
    q, k, v, o = qkvo(d=80)
    e = expect(attnjit.UnsupportedError, "80", attnjit.flash_attention, q, k, v, o)
    assert e.status == "ATTNJIT_ERROR_UNSUPPORTED"


def test_sdpa_bad_input():
    q, k, v, o = qkvo(d=80, dtype="float16")
    expect(attnjit.InvalidArgumentError, "out.device: expected a CUDA tensor",
           attnjit.sdpa_attention, q, k, v, desc((1, 4, 2, 80), "float16", "cpu"))
    expect(attnjit.InvalidArgumentError, "opts.dropoutP: expected a drop probability",
           attnjit.sdpa_attention, q, k, v, o, dropout_p=1.0)
    expect(attnjit.InvalidArgumentError, "mask.dtype: expected bool or f16",
           attnjit.sdpa_attention, q, k, v, o, mask=desc((1, 4), "float32"))
    expect(attnjit.InvalidArgumentError, "mask: DLPack dtype: unsupported",
           attnjit.sdpa_attention, q, k, v, o, mask=desc((1, 4), "int32"))
    expect(attnjit.InvalidArgumentError, "(seqlen_k): expected 4",
           attnjit.sdpa_attention, q, k, v, o, mask=desc((1, 5), "bool"))
    expect(attnjit.InvalidArgumentError, "mask.device: expected a CUDA tensor",
           attnjit.sdpa_attention, q, k, v, o, mask=desc((1, 4), "bool", "cpu"))
    # BHSD reads the same descriptions as [B, H, S, D]: 4 heads over 4 kv heads
    # is fine, but a head dim of 300 is not.
    big = [desc((1, 2, 4, 300), "float16") for _ in range(4)]
    expect(attnjit.AttnjitError, "300", attnjit.sdpa_attention, *big, layout="BHSD")


def test_sage_refuses_what_it_cannot_serve():
    q, k, v, o = qkvo(d=80)
    e = expect(attnjit.UnsupportedError, "head size 80 is not one of 32, 64", attnjit.sage_attention,
               q, k, v, o)
    assert isinstance(e, NotImplementedError)
    q, k, v, o = qkvo()
    expect(attnjit.InvalidArgumentError, "k: expected rank 4", attnjit.sage_attention,
           q, desc((4, 64)), v, o)


def test_tensor_desc_checks():
    expect(attnjit.InvalidArgumentError, "TensorDesc dtype", TensorDesc, 1, (1,), None, "half")
    expect(attnjit.InvalidArgumentError, "TensorDesc device", TensorDesc, 1, (1,), None,
           "float16", "tpu")
    expect(attnjit.InvalidArgumentError, "rank 9", TensorDesc, 1, (1,) * 9)


def test_errors_are_per_thread():
    q, k, v, o = qkvo()
    seen = {}

    def other():
        try:
            attnjit.flash_attention(q, desc((1, 4, 2, 32)), v, o)
        except attnjit.AttnjitError as e:
            seen["other"] = str(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    with pytest.raises(attnjit.AttnjitError) as info:
        attnjit.flash_attention(None, k, v, o)
    assert "head_dim" in seen["other"]
    assert "NULL DLTensor" in str(info.value)


#===----------------------------------------------------------------------===#
# Backends, selector, bundles
#===----------------------------------------------------------------------===#

def test_backends():
    names = attnjit.backends()
    assert names[:3] == ["FLASH_ATTN", "SDPA", "SAGE_ATTN"]
    flash = attnjit.backend_info("flash_attn")
    assert flash.name == "FLASH_ATTN" and flash.causal_bottom_right
    assert flash.head_sizes[0] == 32 and all(d % 32 == 0 for d in flash.head_sizes)
    assert set(flash.dtypes) == {"float16", "bfloat16"}
    sdpa = attnjit.backend_info("TORCH_SDPA")
    assert sdpa.name == "SDPA" and sdpa.head_sizes == tuple(range(1, 257))
    assert "float32" in sdpa.dtypes and not sdpa.causal_bottom_right
    sage = attnjit.backend_info("SAGE_ATTN")
    assert sage.head_sizes == tuple(range(32, 257, 32)) and sage.auto_priority < 0
    e = expect(attnjit.InvalidArgumentError, "FLASH_ATTN", attnjit.backend_info, "XFORMERS")
    assert "XFORMERS" in str(e)


def test_selector(monkeypatch):
    monkeypatch.delenv("ATTNJIT_ATTENTION_BACKEND", raising=False)
    s = attnjit.select_backend(64, "bfloat16")
    assert (s.backend, s.source, s.requested, s.is_fallback) == \
        ("FLASH_ATTN", "automatic", None, False)
    assert attnjit.select_backend(80, "float16").backend == "SDPA"
    assert attnjit.select_backend(64, "float32").backend == "SDPA"
    assert attnjit.select_backend(64, "float16", requested="SAGE_ATTN").backend == "SAGE_ATTN"
    s = attnjit.select_backend(80, "float16", requested="SAGE_ATTN")
    assert s.backend == "SDPA" and s.is_fallback and "head size 80" in s.fallback_reason
    expect(attnjit.UnsupportedError, "head size 80", attnjit.select_backend, 80, "float16",
           requested="SAGE_ATTN", strict=True)
    expect(attnjit.UnsupportedError, "dropout", attnjit.select_backend, 64, "float16",
           requested="FLASH_ATTN", strict=True, dropout_p=0.1)
    expect(attnjit.InvalidArgumentError, "NOPE", attnjit.select_backend, 64, "float16",
           requested="NOPE")
    expect(attnjit.InvalidArgumentError, "dtype", attnjit.select_backend, 64, "complex64")
    monkeypatch.setenv("ATTNJIT_ATTENTION_BACKEND", "TORCH_SDPA")
    s = attnjit.select_backend(64, "float16", caller_default="FLASH_ATTN")
    assert s.backend == "SDPA" and s.source == "env"


def test_bundles(tmp_path):
    missing = tmp_path / "missing.attnpack"
    e = expect(attnjit.AttnjitError, str(missing), attnjit.load_bundle, str(missing))
    assert e.status == "ATTNJIT_ERROR_IO"
    bad = tmp_path / "bad.attnpack"
    bad.write_bytes(b"ATTNPACK" + b"\0" * 100)
    expect(attnjit.AttnjitError, str(bad), attnjit.load_bundle, str(bad))
    expect(attnjit.AttnjitError, "junk.attnpack", attnjit.load_bundle, b"junk" * 20,
           "junk.attnpack")

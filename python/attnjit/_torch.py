"""The PyTorch functions: flash_attn_func, scaled_dot_product_attention and
sageattn, each also a torch custom op (torch.ops.attnjit.*) with a fake
implementation so that torch.compile(fullgraph=True) traces through it.

Eager calls take the direct path: the output is allocated by torch, the
tensors' pointers, shapes and strides are written into this thread's DLTensor
slots and one ctypes call launches on torch's current stream. Nothing else is
allocated and nothing synchronizes, so the calls can be captured in a CUDA
graph once their kernel has been loaded (run once before capturing). Under
torch.compile the same functions call the custom ops instead.

No `from __future__ import annotations` here: torch.library infers the op
schemas from the annotations, which must be real types.
"""

import ctypes
import struct
from typing import Optional

import torch

from . import _api, _capi
from ._api import MASK, OUT, Q, K, V, backend_info, launch_flash, launch_sage, launch_sdpa, slots
from ._capi import check
from ._errors import UnsupportedError, invalid

try:
    _is_compiling = torch.compiler.is_compiling
except AttributeError:  # torch < 2.3
    from torch._dynamo import is_compiling as _is_compiling

_raw_stream = getattr(torch._C, "_cuda_getCurrentRawStream", None)

# torch dtype -> DLPack (code, bits); others are described as an opaque code so
# that the C API names the dtype it refuses.
_DLPACK = {
    torch.float16: (_capi.DL_FLOAT, 16), torch.bfloat16: (_capi.DL_BFLOAT, 16),
    torch.float32: (_capi.DL_FLOAT, 32), torch.float64: (_capi.DL_FLOAT, 64),
    torch.bool: (_capi.DL_BOOL, 8), torch.uint8: (_capi.DL_UINT, 8),
    torch.int8: (_capi.DL_INT, 8), torch.int16: (_capi.DL_INT, 16),
    torch.int32: (_capi.DL_INT, 32), torch.int64: (_capi.DL_INT, 64),
}
if hasattr(torch, "float8_e4m3fn"):
    _DLPACK[torch.float8_e4m3fn] = (10, 8)  # kDLFloat8_e4m3fn (DLPack 1.1)
_DLPACK_OTHER = (3, 0)  # kDLOpaqueHandle: "unsupported" in the C API's words
_DEVICE_TYPES = {"cpu": _capi.DL_CPU, "cuda": _capi.DL_CUDA}
_DL_EXT_DEV = 12

_FLASH_HEADS = frozenset(backend_info("FLASH_ATTN").head_sizes)
_FLASH_DTYPES = frozenset((torch.float16, torch.bfloat16))

_NAMES = ("q", "k", "v", "out", "mask")

#===----------------------------------------------------------------------===#
# The fast calls: rank-4 GPU tensors in one pack and one C call
#===----------------------------------------------------------------------===#

# What one struct.pack_into writes over a fast call (see _api.FastCall): the
# call's stream; per DLTensor of q, k, v and out its data pointer, device
# (type | id << 32), ndim | code << 32 | bits << 40 | lanes << 48, shape and
# strides pointers, byte_offset; the four shapes and strides; the options up
# to their kernel config. Each piece is an ordinary Python int or float, and
# the C API checks every field as it does for any caller.
_FAST_TENSORS = "<Q" + "QQQQQQ" * 4 + "q" * 32
_FLASH_PACK = struct.Struct(_FAST_TENSORS + "Iiiif4xQ")
_SDPA_PACK = struct.Struct(_FAST_TENSORS + "Iiiif4xQf4xQQ")
assert _FLASH_PACK.size == (_api.FLASH_FAST.options + _capi.FlashOptions.config.offset
                            - _api.FLASH_FAST.pack_at)
assert _SDPA_PACK.size == (_api.SDPA_FAST.options + _capi.SdpaOptions.config.offset
                           - _api.SDPA_FAST.pack_at)
_FLASH_PACK_AT = _api.FLASH_FAST.pack_at
_SDPA_PACK_AT = _api.SDPA_FAST.pack_at
_FLASH_OPTS_SIZE = ctypes.sizeof(_capi.FlashOptions)
_SDPA_OPTS_SIZE = ctypes.sizeof(_capi.SdpaOptions)
_flash_call = _capi.lib.attnjit_flash_attention_call
_sdpa_call = _capi.lib.attnjit_sdpa_attention_call

_NDIM4_DTYPE = {dt: 4 | code << 32 | bits << 40 | 1 << 48 for dt, (code, bits) in _DLPACK.items()}
_FLASH_NDIM4 = {dt: w for dt, w in _NDIM4_DTYPE.items() if dt in _FLASH_DTYPES}
_ROW_MAJOR = (0, 0, 0, 0)  # an output made for the call: NULL strides (row-major)
_LAYOUT_BSHD = _capi.LAYOUT_BSHD


def _out_desc(out, qs, ptrs):
    """A caller's out as (shape, strides, device, dtype word, strides pointer)
    for a fast call; None when it is not a rank-4 GPU tensor. (An output made
    for the call, own_out, is _empty_like(q): row-major with q's shape, dtype
    and device, so none of that is asked of torch.)"""
    os_ = out.shape
    od = out.get_device()
    if len(os_) != 4 or od < 0:
        return None
    return os_, out.stride(), od, _NDIM4_DTYPE[out.dtype], ptrs[7]


def _flash_fast(q, k, v, out, own_out, scale, causal, lse_ptr):
    """Flash attention in one pack and one C call when q, k, v and out are
    rank-4 GPU tensors and q is f16/bf16 with a flash head size; False, with
    nothing done, for anything else (the general path then describes the
    call and the C API names what is wrong, or routes it to SDPA)."""
    try:
        qs, ks, vs = q.shape, k.shape, v.shape
        if len(qs) != 4 or len(ks) != 4 or len(vs) != 4 or qs[3] not in _FLASH_HEADS:
            return False
        word = _FLASH_NDIM4[q.dtype]
        qd, kd, vd = q.get_device(), k.get_device(), v.get_device()
        if qd < 0 or kd < 0 or vd < 0:
            return False
        s = slots
        ptrs = s.flash_ptrs
        if own_out:
            os_, ostr, od, oword, ost = qs, _ROW_MAJOR, qd, word, 0
        else:
            o = _out_desc(out, qs, ptrs)
            if o is None:
                return False
            os_, ostr, od, oword, ost = o
        p0, p1, p2, p3, p4, p5, p6, _ = ptrs
        # causal goes as is: 'i' takes a bool or an int (C reads nonzero as
        # True); anything else fails the pack and the general path decides.
        _FLASH_PACK.pack_into(
            s.raw, _FLASH_PACK_AT, _stream(qd),
            q.data_ptr(), 2 | qd << 32, word, p0, p1, 0,
            k.data_ptr(), 2 | kd << 32, _NDIM4_DTYPE[k.dtype], p2, p3, 0,
            v.data_ptr(), 2 | vd << 32, _NDIM4_DTYPE[v.dtype], p4, p5, 0,
            out.data_ptr(), 2 | od << 32, oword, p6, ost, 0,
            *qs, *q.stride(), *ks, *k.stride(), *vs, *v.stride(), *os_, *ostr,
            _FLASH_OPTS_SIZE, _LAYOUT_BSHD, causal, scale is not None,
            0.0 if scale is None else scale, lse_ptr)
    except (AttributeError, KeyError, TypeError, struct.error):
        return False
    status = _flash_call(s.flash_call)
    if status:
        check(status)
    return True


def _sdpa_checks(qs, ks, attn_mask, is_causal, enable_gqa):
    """scaled_dot_product_attention's own rules (PyTorch's), before attnjit's."""
    if not enable_gqa and len(qs) == 4 and len(ks) == 4 and ks[1] != qs[1]:
        invalid(f"key.shape[1] (num_kv_heads): expected {qs[1]} (query's num_heads), "
                f"got {ks[1]}; pass enable_gqa=True for grouped query attention")
    if is_causal and attn_mask is not None:
        invalid("attn_mask: must be None when is_causal=True (as in PyTorch)")


def _sdpa_fast(q, k, v, out, own_out, layout, mask, dropout_p, causal, scale, torch_rules,
               enable_gqa=False):
    """The SDPA kernels in one pack and one C call when q, k, v and out are
    rank-4 GPU tensors of DLPack dtypes (the mask, if any, goes in its own
    DLTensor); False, with nothing done, for anything else. torch_rules:
    apply _sdpa_checks first (scaled_dot_product_attention)."""
    try:
        qs, ks, vs = q.shape, k.shape, v.shape
        if len(qs) != 4 or len(ks) != 4 or len(vs) != 4:
            return False
        word = _NDIM4_DTYPE[q.dtype]
        kword, vword = _NDIM4_DTYPE[k.dtype], _NDIM4_DTYPE[v.dtype]
        qd, kd, vd = q.get_device(), k.get_device(), v.get_device()
        if qd < 0 or kd < 0 or vd < 0:
            return False
        s = slots
        ptrs = s.sdpa_ptrs
        if own_out:
            os_, ostr, od, oword, ost = qs, _ROW_MAJOR, qd, word, 0
        else:
            o = _out_desc(out, qs, ptrs)
            if o is None:
                return False
            os_, ostr, od, oword, ost = o
    except (AttributeError, KeyError, TypeError):
        return False
    if torch_rules:
        _sdpa_checks(qs, ks, mask, causal, enable_gqa)
    mask_addr = 0 if mask is None else _fill_mask(s, mask)
    seed = _dropout_seed() if dropout_p else 0
    try:
        _SDPA_PACK.pack_into(
            s.raw, _SDPA_PACK_AT, _stream(qd),
            q.data_ptr(), 2 | qd << 32, word, ptrs[0], ptrs[1], 0,
            k.data_ptr(), 2 | kd << 32, kword, ptrs[2], ptrs[3], 0,
            v.data_ptr(), 2 | vd << 32, vword, ptrs[4], ptrs[5], 0,
            out.data_ptr(), 2 | od << 32, oword, ptrs[6], ost, 0,
            *qs, *q.stride(), *ks, *k.stride(), *vs, *v.stride(), *os_, *ostr,
            _SDPA_OPTS_SIZE, layout, 1 if causal else 0, scale is not None,
            0.0 if scale is None else scale, mask_addr, dropout_p, seed, 0)
    except struct.error as e:
        invalid(f"softmax scale / dropout_p / seed: expected Python numbers ({e})")
    status = _sdpa_call(s.sdpa_call)
    if status:
        check(status)
    return True


#===----------------------------------------------------------------------===#
# The general path: any tensors, described one by one
#===----------------------------------------------------------------------===#

def _fill(s, i, x):
    """Writes torch tensor x into DLTensor slot i, whatever it is (no copy)."""
    t = s.general(i)
    try:
        t.data = x.data_ptr()
        t.dtype_code, t.dtype_bits = _DLPACK.get(x.dtype, _DLPACK_OTHER)
        if x.is_cuda:
            t.device_type = _capi.DL_CUDA
            t.device_id = x.get_device()
        else:
            t.device_type = _DEVICE_TYPES.get(x.device.type, _DL_EXT_DEV)
            t.device_id = 0
        n = x.dim()
        if n > _capi.MAX_RANK:
            invalid(f"{_NAMES[i]}.rank: expected at most {_capi.MAX_RANK}, got {n}")
        t.ndim = n
        s.shapes[i][:n] = x.shape
        s.strides[i][:n] = x.stride()
    except AttributeError:
        invalid(f"{_NAMES[i]}: expected a torch.Tensor, got {type(x).__name__}")


def _fill_qkvo(s, q, k, v, out):
    """Describes q, k, v and out in this thread's general slots; returns the
    CUDA stream to launch on (torch's current stream of q's device; None when
    q is not on a GPU, which the C API refuses before it needs a stream)."""
    _fill(s, Q, q)
    _fill(s, K, k)
    _fill(s, V, v)
    _fill(s, OUT, out)
    return _stream(q.get_device()) if q.is_cuda else None


def _fill_mask(s, m):
    """The mask as attnjit's rank-4 [B, H, Sq, Sk] view: PyTorch broadcasts a
    lower-rank mask from the right, which size-1 leading dimensions express
    without a copy (a rank-2 mask is [Sq, Sk] in PyTorch, not attnjit's
    [B, Sk] key padding)."""
    _fill(s, MASK, m)
    n = m.dim()
    if 1 <= n < 4:
        t = s.tensors[MASK]
        t.ndim = 4
        s.shapes[MASK][:4] = (1,) * (4 - n) + tuple(m.shape)
        s.strides[MASK][:4] = (0,) * (4 - n) + tuple(m.stride())
    return s.addrs[MASK]


if _raw_stream is not None:
    _stream = _raw_stream
else:
    def _stream(device_index):
        return torch.cuda.current_stream(device_index).cuda_stream


def _dropout_seed() -> int:
    # Drawn from torch's CPU generator, so torch.manual_seed makes it repeat.
    return int(torch.randint(0, 2**62, (1,)).item())


#===----------------------------------------------------------------------===#
# Launchers: everything after the output exists
#===----------------------------------------------------------------------===#

def _sdpa_launch(s, stream, layout, mask, dropout_p, causal, scale):
    mask_addr = 0 if mask is None else _fill_mask(s, mask)
    launch_sdpa(s, s.qkvo, stream, layout, causal, scale, mask_addr, dropout_p,
                _dropout_seed() if dropout_p else 0, 0)


def flash_into(q, k, v, out, scale, causal, lse_ptr, own_out=False):
    """Flash attention of [B, S, H, D] tensors into `out` (and lse). own_out:
    out is _empty_like(q), made for this call."""
    if not _flash_fast(q, k, v, out, own_out, scale, causal, lse_ptr):
        _flash_general(q, k, v, out, scale, causal, lse_ptr, own_out)


def _flash_general(q, k, v, out, scale, causal, lse_ptr, own_out):
    s = slots
    stream = _fill_qkvo(s, q, k, v, out)
    if not lse_ptr and q.dim() == 4 and (q.dtype not in _FLASH_DTYPES
                                         or q.shape[3] not in _FLASH_HEADS):
        # No flash kernel for this head size or dtype: the SDPA kernels serve
        # the same [B, S, H, D] call. Their causal mask is top-left aligned,
        # flash's bottom-right; the two agree only when seqlen_q == seqlen_k.
        if causal and q.shape[1] != k.shape[1]:
            invalid(f"flash_attn_func: head size {q.shape[-1]} ({q.dtype}) has no flash kernel "
                    f"and the SDPA kernels that serve it align causal masks top-left, so "
                    f"causal=True needs seqlen_q == seqlen_k (got {q.shape[1]} and {k.shape[1]})")
        if not _sdpa_fast(q, k, v, out, own_out, _capi.LAYOUT_BSHD, None, 0.0, causal, scale,
                          False):
            _sdpa_launch(s, stream, _capi.LAYOUT_BSHD, None, 0.0, causal, scale)
        return
    launch_flash(s, s.qkvo, stream, _capi.LAYOUT_BSHD, causal, scale, lse_ptr)


def sdpa_into(q, k, v, out, layout, mask, dropout_p, causal, scale):
    """attnjit's SDPA kernels into `out` (the FastVideo backends' entry)."""
    if _sdpa_fast(q, k, v, out, False, layout, mask, dropout_p, causal, scale, False):
        return
    s = slots
    _sdpa_launch(s, _fill_qkvo(s, q, k, v, out), layout, mask, dropout_p, causal, scale)


def _sdpa_checked(query, key, value, out, attn_mask, dropout_p, is_causal, scale, enable_gqa,
                  own_out=False):
    if _sdpa_fast(query, key, value, out, own_out, _capi.LAYOUT_BHSD, attn_mask, dropout_p,
                  is_causal, scale, True, enable_gqa):
        return
    s = slots
    stream = _fill_qkvo(s, query, key, value, out)
    _sdpa_checks(query.shape, key.shape, attn_mask, is_causal, enable_gqa)
    _sdpa_launch(s, stream, _capi.LAYOUT_BHSD, attn_mask, dropout_p, is_causal, scale)


def forward_only(q, k, v):
    """attnjit has no backward: refuse inputs that autograd would differentiate
    rather than return an output without a gradient."""
    try:
        grad = q.requires_grad or k.requires_grad or v.requires_grad
    except AttributeError:
        return  # not tensors: the launch names which
    if grad and torch.is_grad_enabled():
        raise UnsupportedError(
            "attnjit computes attention forward only (no backward): call it under "
            "torch.no_grad() / torch.inference_mode(), or detach q, k and v",
            "ATTNJIT_ERROR_UNSUPPORTED", 2)


_ROW_MAJOR_FORMAT = torch.contiguous_format


def _empty_like(x, name):
    """The output: a new row-major tensor shaped like x (torch allocates it).
    empty_like with an explicit format costs about half of x.new_empty(x.shape),
    whose size argument torch parses element by element."""
    try:
        return _torch_empty_like(x, memory_format=_ROW_MAJOR_FORMAT)
    except TypeError:
        invalid(f"{name}: expected a torch.Tensor, got {type(x).__name__}")


_torch_empty_like = torch.empty_like


def _lse_like(q):
    if q.dim() != 4:
        invalid(f"q.rank: expected 4 ([batch, seqlen, heads, head_dim]), got {q.dim()}")
    return q.new_empty((q.shape[0], q.shape[2], q.shape[1]), dtype=torch.float32)


_SAGE_LAYOUTS = {"HND": _capi.LAYOUT_BHSD, "NHD": _capi.LAYOUT_BSHD}


def sage_into(q, k, v, out, tensor_layout, is_causal, sm_scale):
    layout = _SAGE_LAYOUTS.get(tensor_layout)
    if layout is None:
        invalid(f"tensor_layout: expected 'HND' or 'NHD', got {tensor_layout!r}")
    s = slots
    launch_sage(s, s.qkvo, _fill_qkvo(s, q, k, v, out), layout, is_causal, sm_scale)


#===----------------------------------------------------------------------===#
# Custom ops (the torch.compile path)
#===----------------------------------------------------------------------===#

@torch.library.custom_op("attnjit::flash_attn", mutates_args=())
def _flash_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, softmax_scale: Optional[float],
              causal: bool) -> torch.Tensor:
    out = _empty_like(q, "q")
    flash_into(q, k, v, out, softmax_scale, causal, 0, True)
    return out


@_flash_op.register_fake
def _(q, k, v, softmax_scale, causal):
    return q.new_empty(q.shape)


@torch.library.custom_op("attnjit::flash_attn_lse", mutates_args=())
def _flash_lse_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  softmax_scale: Optional[float], causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    out = _empty_like(q, "q")
    lse = _lse_like(q)
    flash_into(q, k, v, out, softmax_scale, causal, lse.data_ptr(), True)
    return out, lse


@_flash_lse_op.register_fake
def _(q, k, v, softmax_scale, causal):
    return q.new_empty(q.shape), _lse_like(q)


@torch.library.custom_op("attnjit::sdpa", mutates_args=())
def _sdpa_op(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
             attn_mask: Optional[torch.Tensor], dropout_p: float, is_causal: bool,
             scale: Optional[float], enable_gqa: bool) -> torch.Tensor:
    out = _empty_like(query, "query")
    _sdpa_checked(query, key, value, out, attn_mask, dropout_p, is_causal, scale, enable_gqa, True)
    return out


@_sdpa_op.register_fake
def _(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa):
    return query.new_empty(query.shape)


@torch.library.custom_op("attnjit::sageattn", mutates_args=())
def _sage_op(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, tensor_layout: str,
             is_causal: bool, sm_scale: Optional[float]) -> torch.Tensor:
    out = _empty_like(q, "q")
    sage_into(q, k, v, out, tensor_layout, is_causal, sm_scale)
    return out


@_sage_op.register_fake
def _(q, k, v, tensor_layout, is_causal, sm_scale):
    return q.new_empty(q.shape)


#===----------------------------------------------------------------------===#
# Public functions
#===----------------------------------------------------------------------===#

# What torch.compile traces: the registered ops (the functions below call them
# only while compiling; eager calls take the direct path).
_OPS = torch.ops.attnjit


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    return_attn_probs=False):
    """flash-attn's flash_attn_func: q [B, Sq, H, D], k and v [B, Sk, Hkv, D]
    (GQA when Hkv divides H), f16/bf16; causal aligned bottom-right; the scale
    defaults to 1/sqrt(D). Returns out, or (out, softmax_lse, None) when
    return_attn_probs (softmax_lse: fp32 [B, H, Sq]; attention probabilities
    are never materialized, hence None). dropout_p must be 0 (inference).
    Head sizes without a flash kernel (not a multiple of 32, or f32) run on the
    SDPA kernels in the same layout, except with return_attn_probs."""
    if dropout_p:
        invalid(f"dropout_p: flash_attn_func serves inference only (dropout_p 0), got "
                f"{dropout_p}; scaled_dot_product_attention takes dropout")
    if _is_compiling():
        if return_attn_probs:
            out, lse = _OPS.flash_attn_lse(q, k, v, softmax_scale, causal)
            return out, lse, None
        return _OPS.flash_attn(q, k, v, softmax_scale, causal)
    try:
        out = _torch_empty_like(q, memory_format=_ROW_MAJOR_FORMAT)  # _empty_like, inlined
    except TypeError:
        _empty_like(q, "q")  # raises naming q
    forward_only(q, k, v)
    if return_attn_probs:
        lse = _lse_like(q)
        flash_into(q, k, v, out, softmax_scale, causal, lse.data_ptr(), True)
        return out, lse, None
    if not _flash_fast(q, k, v, out, True, softmax_scale, causal, 0):
        _flash_general(q, k, v, out, softmax_scale, causal, 0, True)
    return out


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """torch.nn.functional.scaled_dot_product_attention on attnjit's SDPA
    kernels: [B, H, S, D] (any strides with a contiguous head dim), f16/bf16/
    f32, head sizes 1..256, a bool (True = attend) or additive mask broadcast
    as PyTorch does, is_causal top-left aligned, GQA with enable_gqa=True.
    Dropout draws its Philox seed from torch's CPU generator on every call."""
    if _is_compiling():
        return _OPS.sdpa(query, key, value, attn_mask, dropout_p, is_causal, scale, enable_gqa)
    out = _empty_like(query, "query")
    forward_only(query, key, value)
    _sdpa_checked(query, key, value, out, attn_mask, dropout_p, is_causal, scale, enable_gqa, True)
    return out


def sageattn(q, k, v, tensor_layout="HND", is_causal=False, sm_scale=None):
    """SageAttention's sageattn (tensor_layout 'HND' = [B, H, S, D], 'NHD' =
    [B, S, H, D]): INT8 Q K^T and FP8 P V through the C API's SAGE_ATTN
    backend (docs/SAGE.md); needs an sm_89+ GPU."""
    if _is_compiling():
        return _OPS.sageattn(q, k, v, tensor_layout, is_causal, sm_scale)
    out = _empty_like(q, "q")
    sage_into(q, k, v, out, tensor_layout, is_causal, sm_scale)
    return out

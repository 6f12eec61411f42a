"""float64 attention reference for the GPU tests (torch only, no attnjit)."""

import math

import torch

# Relative L2 error bounds, as tests/gpu/SdpaAttentionTest.cpp uses for the
# same kernels against a float64 reference.
TOLERANCE = {torch.bfloat16: 1e-2, torch.float16: 2e-3, torch.float32: 1e-4}


def attention(q, k, v, *, scale=None, causal=None, mask=None):
    """q [B, H, Sq, D], k and v [B, Hkv, Sk, D] (any dtype), in float64.
    causal: None, "top_left" (PyTorch) or "bottom_right" (flash-attn). mask:
    bool (True = attend) or additive, broadcastable to [B, H, Sq, Sk]. Rows
    with every key masked give 0 (attnjit's convention) and lse -inf.
    Returns (out [B, H, Sq, D], lse [B, H, Sq])."""
    q, k, v = q.double(), k.double(), v.double()
    h, hkv = q.shape[1], k.shape[1]
    if hkv != h:
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
    sq, sk = q.shape[2], k.shape[2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    s = (q @ k.transpose(-1, -2)) * scale
    if causal:
        shift = sk - sq if causal == "bottom_right" else 0
        keep = torch.ones(sq, sk, dtype=torch.bool, device=q.device).tril(diagonal=shift)
        s = s.masked_fill(~keep, float("-inf"))
    if mask is not None:
        if mask.dtype == torch.bool:
            s = s.masked_fill(~mask, float("-inf"))
        else:
            s = s + mask.double()
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    out = (p @ v) / torch.where(l > 0, l, torch.ones_like(l))  # fully masked rows: 0
    lse = (torch.log(l) + m).squeeze(-1)
    return out, lse


def rel_l2(got, ref):
    got, ref = got.double(), ref.double()
    assert torch.isfinite(got).all(), "non-finite values in the output"
    den = ref.norm()
    return ((got - ref).norm() / den).item() if den > 0 else got.norm().item()


def bshd(t):
    """[B, S, H, D] <-> [B, H, S, D] (a view)."""
    return t.transpose(1, 2)

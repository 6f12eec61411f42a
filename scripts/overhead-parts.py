#!/usr/bin/env python3
"""Where a flash_attn_func call's host time goes (GPU host; needs torch): each piece
of the eager path timed alone, per call in us, best of 5 x 20000 (timeit, so the
garbage collector is off). Complements scripts/overhead.py, whose rows are whole
calls with the collector on.

  python3 scripts/overhead-parts.py
"""
import pathlib
import sys
import timeit

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

import torch  # noqa: E402

import attnjit  # noqa: E402
from attnjit import _torch as at  # noqa: E402


@torch.library.custom_op("attnjitparts::alloc_only", mutates_args=())
def _alloc_only(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


def t(name, fn, n=20000):
    for _ in range(200):
        fn()
    torch.cuda.synchronize()
    r = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
    torch.cuda.synchronize()
    print(f"{name:52s} {r:7.3f}")


def main():
    if not torch.cuda.is_available():
        print("overhead-parts: no CUDA device; nothing measured")
        return
    q = torch.randn(1, 64, 1, 64, device="cuda", dtype=torch.bfloat16)
    k, v = torch.randn_like(q), torch.randn_like(q)
    out = torch.empty_like(q)
    qh, kh, vh = (x.transpose(1, 2) for x in (q, k, v))
    cf = torch.contiguous_format
    E, F = at._empty_like, at._flash_fast
    t("lambda", lambda: None)
    t("torch.empty_like(q, contiguous_format)", lambda: torch.empty_like(q, memory_format=cf))
    t("torch.empty_like(q) (no format argument)", lambda: torch.empty_like(q))
    t("q.new_empty(q.shape) (before)", lambda: q.new_empty(q.shape))
    t("_is_compiling()", lambda: at._is_compiling())
    t("forward_only(q, k, v)", lambda: at.forward_only(q, k, v))
    t("3 x shape + 3 x stride()",
      lambda: (q.shape, k.shape, v.shape, q.stride(), k.stride(), v.stride()))
    t("4 x data_ptr() + 3 x get_device()",
      lambda: (q.data_ptr(), k.data_ptr(), v.data_ptr(), out.data_ptr(), q.get_device(),
               k.get_device(), v.get_device()))
    t("_cuda_getCurrentRawStream", lambda: at._stream(0))
    t("_flash_fast, fixed out (incl. C call + launch)",
      lambda: F(q, k, v, out, True, None, False, 0))
    t("empty_like + _flash_fast on a fixed out",
      lambda: (E(q, "q"), F(q, k, v, out, True, None, False, 0)))
    t("_flash_fast on a new out each call", lambda: F(q, k, v, E(q, "q"), True, None, False, 0))
    t("flash_into, caller's out (overhead.py's C API row)",
      lambda: at.flash_into(q, k, v, out, None, False, 0))
    t("flash_attn_func", lambda: attnjit.flash_attn_func(q, k, v))
    with torch.inference_mode():
        t("flash_attn_func under inference_mode", lambda: attnjit.flash_attn_func(q, k, v))
    t("scaled_dot_product_attention", lambda: attnjit.scaled_dot_product_attention(qh, kh, vh))
    t("a custom op that only allocates (torch's floor)",
      lambda: torch.ops.attnjitparts.alloc_only(q))
    t("torch.ops.attnjit.flash_attn", lambda: torch.ops.attnjit.flash_attn(q, k, v, None, False))


if __name__ == "__main__":
    main()

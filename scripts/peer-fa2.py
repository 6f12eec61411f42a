"""torch's FlashAttention-2 (SDPA FLASH backend) on the PEERS.md shapes, for a
same-run comparison with attnjit-bench on a GPU host with PyTorch.
  python3 scripts/peer-fa2.py [B,H,S,D,causal ...]
Prints TFLOP/s (4*B*H*S*S*D, halved when causal; median of CUDA-event timings)."""
import sys
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

ROWS = [(16, 32, 1024, 64), (4, 32, 4096, 64), (1, 32, 16384, 64), (16, 16, 1024, 128),
        (4, 16, 4096, 128), (1, 16, 16384, 128), (1, 12, 32760, 128)]


def median_ms(fn, iters=30, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); b.record(); b.synchronize()
        times.append(a.elapsed_time(b))
    return sorted(times)[len(times) // 2]


def main():
    rows = [tuple(int(x) for x in a.split(",")) for a in sys.argv[1:]]
    if not rows:
        rows = [r + (c,) for r in ROWS for c in (0, 1)]
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    for b, h, s, d, causal in rows:
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
            ms = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal)))
        flops = 4 * b * h * s * s * d / (2 if causal else 1)
        print(f"{b},{h},{s},{d},{causal} torch-fa2 {ms:.3f} ms {flops / ms / 1e9:.1f} TFLOP/s")


if __name__ == "__main__":
    main()

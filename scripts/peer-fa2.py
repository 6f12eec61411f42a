"""torch's FlashAttention-2 and cuDNN (SDPA FLASH and CUDNN backends) on the
PEERS.md shapes or the ones given, for a same-run comparison with attnjit-bench
on a GPU host with PyTorch (peers.py covers the PEERS.md shapes only).
  python3 scripts/peer-fa2.py [--dtype bf16|f16] [--json FILE] [B,H,S,D,causal ...]
Prints TFLOP/s (4*B*H*S*S*D, halved when causal; median of CUDA-event timings);
a backend that cannot serve a shape prints its error instead."""
import json
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
    args = sys.argv[1:]
    dtype = torch.bfloat16
    json_path = None
    while args[:1] in (["--dtype"], ["--json"]):
        if args[0] == "--dtype":
            dtype = {"bf16": torch.bfloat16, "f16": torch.float16}[args[1]]
        else:
            json_path = args[1]
        args = args[2:]
    rows = [tuple(int(x) for x in a.split(",")) for a in args]
    if not rows:
        rows = [r + (c,) for r in ROWS for c in (0, 1)]
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    # One record per shape: {"shape": "B,H,S,D,c", "torch-fa2": TFLOP/s, "cudnn": ...}
    # (the form scripts/plot-perf.py reads beside attnjit-bench --json).
    results = []
    for b, h, s, d, causal in rows:
        q, k, v = (torch.randn(b, h, s, d, device="cuda", dtype=dtype) for _ in range(3))
        flops = 4 * b * h * s * s * d / (2 if causal else 1)
        rec = {"shape": f"{b},{h},{s},{d},{causal}"}
        for name, backend in (("torch-fa2", SDPBackend.FLASH_ATTENTION),
                              ("cudnn", SDPBackend.CUDNN_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    ms = median_ms(
                        lambda: F.scaled_dot_product_attention(q, k, v, is_causal=bool(causal)))
                rec[name] = flops / ms / 1e9
                print(f"{b},{h},{s},{d},{causal} {name} {ms:.3f} ms {flops / ms / 1e9:.1f} TFLOP/s",
                      flush=True)
            except RuntimeError as e:
                rec[name] = None
                print(f"{b},{h},{s},{d},{causal} {name} - ({str(e).splitlines()[0][:80]})",
                      flush=True)
        results.append(rec)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                       "dtype": "f16" if dtype == torch.float16 else "bf16",
                       "results": results}, f, indent=1)


if __name__ == "__main__":
    main()

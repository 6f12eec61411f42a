#!/usr/bin/env python3
"""Host overhead per call of attnjit's Python entries (GPU host; needs torch).

For each path: N back-to-back calls on a tiny shape, then one synchronize,
repeated --reps times. Printed per call (median of the runs): wall (to the
stream's completion), host (until the last call returned), the kernel time
(CUDA events over the same calls replayed from a CUDA graph, which has no host
cost), and wall - kernel, the overhead the issue bounds (plain Python
function: at most --limit-us); `best` is wall - kernel of the fastest run.
torch's own scaled_dot_product_attention is timed the same way for
comparison.

  python3 scripts/overhead.py [--calls 10000] [--reps 5] [--limit-us 15] [--json FILE]
"""

import argparse
import json
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "python"))

import torch  # noqa: E402

import attnjit  # noqa: E402
from attnjit import _torch as at  # noqa: E402


def kernel_us(fn, reps=200):
    """Per-call GPU time of fn, from a CUDA graph of `reps` calls."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(reps):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * 1e3 / reps


def wall_us(fn, calls, reps):
    """Median over `reps` runs of (wall, host) per call of `calls` calls, and
    the best run's wall: one run alone swings by a third on a shared host."""
    for _ in range(100):
        fn()
    torch.cuda.synchronize()
    walls, hosts = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        t2 = time.perf_counter()
        walls.append((t2 - t0) * 1e6 / calls)
        hosts.append((t1 - t0) * 1e6 / calls)
    return statistics.median(walls), statistics.median(hosts), min(walls)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10000)
    ap.add_argument("--reps", type=int, default=5, help="runs of --calls calls per path")
    ap.add_argument("--limit-us", type=float, default=15.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("overhead: no CUDA device; nothing measured")
        return 0

    torch.manual_seed(0)
    q = torch.randn(1, 64, 1, 64, device="cuda", dtype=torch.bfloat16)  # [B, S, H, D]
    k, v = torch.randn_like(q), torch.randn_like(q)
    qh, kh, vh = (t.transpose(1, 2) for t in (q, k, v))  # [B, H, S, D] views
    out = torch.empty_like(q)
    paths = {
        "C API via ctypes (no allocation)": lambda: at.flash_into(q, k, v, out, None, False, 0),
        "flash_attn_func (plain Python)": lambda: attnjit.flash_attn_func(q, k, v),
        "torch.ops.attnjit.flash_attn (custom op)": lambda: torch.ops.attnjit.flash_attn(
            q, k, v, None, False),
        "scaled_dot_product_attention (plain Python)":
            lambda: attnjit.scaled_dot_product_attention(qh, kh, vh),
        "torch.ops.attnjit.sdpa (custom op)": lambda: torch.ops.attnjit.sdpa(
            qh, kh, vh, None, 0.0, False, None, False),
        "torch F.scaled_dot_product_attention (reference)":
            lambda: torch.nn.functional.scaled_dot_product_attention(qh, kh, vh),
        # What the plain function pays that the C API row does not: its output.
        "torch.empty_like (the output alone, no kernel)":
            lambda: torch.empty_like(q, memory_format=torch.contiguous_format),
    }
    print(f"device: {torch.cuda.get_device_name()}; shape [1, 64, 1, 64] bf16; "
          f"{args.calls} calls per run, median of {args.reps} runs (best: the fastest run); "
          f"times in us per call")
    print(f"{'path':50s} {'wall':>8s} {'host':>8s} {'kernel':>8s} {'wall-kernel':>12s} "
          f"{'best':>6s}")
    rows, rc = [], 0
    for name, fn in paths.items():
        kern = kernel_us(fn)
        wall, host, best = wall_us(fn, args.calls, args.reps)
        over = wall - kern
        verdict = ""
        if name == "flash_attn_func (plain Python)":
            verdict = "PASS" if over <= args.limit_us else f"FAIL (limit {args.limit_us} us)"
            rc = 0 if over <= args.limit_us else 1
        print(f"{name:50s} {wall:8.2f} {host:8.2f} {kern:8.2f} {over:12.2f} {best - kern:6.2f}"
              f"  {verdict}")
        rows.append({"path": name, "wall_us": wall, "host_us": host, "kernel_us": kern,
                     "wall_minus_kernel_us": over, "best_wall_minus_kernel_us": best - kern})
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(
            {"device": torch.cuda.get_device_name(), "calls": args.calls, "reps": args.reps,
             "rows": rows}, indent=2))
    return rc


if __name__ == "__main__":
    sys.exit(main())

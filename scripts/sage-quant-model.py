#!/usr/bin/env python3
"""A float64 model of the Sage recipe's INT8 quantization (docs/SAGE.md).

  python3 scripts/sage-quant-model.py outliers [--seeds N]   # the default test's worst shape
  python3 scripts/sage-quant-model.py lse [--seeds N]        # the LSE cases of the mode test

Inputs as tests/gpu/SageAttentionTest.cpp makes them (bf16 normal Q, K, V; K
with a common offset of 8 and channels 3 and 17 times `outlier`). Q and K go to
INT8 with the kernels' groups (per_thread: rows i and i + 8 of each 16-row
tile for Q, the keys of a 64-key block with equal (key % 8) / 2 for K;
per_warp: a warp's rows, a key block), optionally after the channel factors
f_c = max |K'_c| ** alpha (alpha 0.5 is what quant_kv uses; 0 is none). The
softmax and P V are exact here: the recipe's compensated FP8 P V adds about
1e-3 (docs/SAGE.md), the bf16 output is rounded. Prints the relative L2 of
the output and the worst LSE error relative to max(1, |LSE|), as the GPU test
measures them. Needs numpy (PyPI); nothing else.
"""
import argparse

import numpy as np


def bf16(x):
    """Rounds to bf16 (nearest even) and back to float64."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16
    return b.astype(np.uint32).view(np.float32).astype(np.float64)


def int8(x, groups):
    """x [rows, D] to INT8 with one scale max|x| / 127 per group of rows."""
    q, scale = np.empty_like(x), np.empty(x.shape[0])
    for g in np.unique(groups):
        m = groups == g
        a = np.abs(x[m]).max()
        s = a / 127 if a > 0 else 1.0
        q[m], scale[m] = np.rint(x[m] / s), s
    return q, scale


def q_groups(sq, d, granularity):
    r = np.arange(sq)
    bm, warps = (128, 4) if d <= 64 else ((128, 8) if d <= 128 else (64, 4))
    if granularity == "thread":
        return (r // 16) * 8 + r % 8
    return r // (bm // warps)


def k_groups(sk, granularity):
    n = np.arange(sk)
    return (n // 64) * 4 + (n % 8) // 2 if granularity == "thread" else n // 64


def run(seed, d, sq, sk, batch, heads, kv_heads, causal, smooth, granularity, outlier,
        alpha, offset=8.0):
    rng = np.random.default_rng(seed)
    q = bf16(rng.standard_normal((batch, heads, sq, d)))
    k = rng.standard_normal((batch, kv_heads, sk, d))
    if outlier:
        ch = [3, 17 % d]
        k[..., ch] *= outlier
        k += offset
    k = bf16(k)
    v = bf16(rng.standard_normal((batch, kv_heads, sk, d)))
    scale = 1 / np.sqrt(d)
    num = den = 0.0
    lse_worst = 0.0
    for b in range(batch):
        for h in range(heads):
            K, V, Q = k[b, h // (heads // kv_heads)], v[b, h // (heads // kv_heads)], q[b, h]
            true_mean = K.mean(0)
            mean = true_mean if smooth else np.zeros(d)
            Ks = K - mean
            amax = np.abs(Ks).max(0)
            f = np.where(amax > 0, amax, 1.0) ** alpha
            Ki, ks = int8(Ks / f, k_groups(sk, granularity))
            Qi, qs = int8(Q * f, q_groups(sq, d, granularity))
            S = (Qi @ Ki.T) * qs[:, None] * ks[None, :] * scale
            ref = Q @ K.T * scale
            if causal:
                hidden = np.arange(sk)[None, :] > np.arange(sq)[:, None] + (sk - sq)
                S, ref = np.where(hidden, -np.inf, S), np.where(hidden, -np.inf, ref)

            def softmax(s):
                m = s.max(1, keepdims=True)
                p = np.exp(s - m)
                return p / p.sum(1, keepdims=True), np.log(p.sum(1)) + m[:, 0]

            P, lse = softmax(S)
            Pr, lse_ref = softmax(ref)
            # The LSE's correction (quant_q): q . mean with smooth_k, else Q's
            # rounding error against the mean.
            if smooth:
                lse += Q @ true_mean * scale
            else:
                lse += ((Q * f - Qi * qs[:, None]) @ (true_mean / f)) * scale
            out, out_ref = bf16(P @ V), Pr @ V
            num += ((out - out_ref) ** 2).sum()
            den += (out_ref ** 2).sum()
            lse_worst = max(lse_worst,
                            (np.abs(lse - lse_ref) / np.maximum(1, np.abs(lse_ref))).max())
    return np.sqrt(num / den), lse_worst


def summary(name, values):
    v = np.asarray(values)
    return (f"{name}: mean {v.mean():.4f}  p99 {np.quantile(v, 0.99):.4f}  max {v.max():.4f}  "
            f"over 2.5e-2 {100 * (v > 0.025).mean():.1f}%")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["outliers", "lse"])
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    seeds = range(args.seeds)
    if args.what == "outliers":
        # One query row over 130 keys, B 2, H 2: 4 rows of output.
        for outlier in (3.0, 4.0):
            for d in (32, 64, 128, 256):
                for alpha in (0.0, 0.5):
                    l2 = [run(s, d, 1, 130, 2, 2, 2, True, True, "thread", outlier, alpha)[0]
                          for s in seeds]
                    print(summary(f"x{outlier:g} d{d} alpha {alpha} rel_l2", l2), flush=True)
    else:
        for name, causal, smooth, gran in (("per_thread smooth_k causal", True, True, "thread"),
                                           ("per_warp no smooth_k", False, False, "warp")):
            for d in (64, 128):
                r = np.array([run(s, d, 257, 300, 2, 4, 2, causal, smooth, gran, 3.0, 0.5)
                              for s in seeds])
                print(f"{name} d{d} x3:", summary("rel_l2", r[:, 0]), "|",
                      summary("lse rel", r[:, 1]).split(": ", 1)[1], flush=True)


if __name__ == "__main__":
    main()

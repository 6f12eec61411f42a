#!/usr/bin/env bash
# The main job: sets up and builds attnjit, compiles the default kernels (every
# stage for one, stats for all), and on a machine with a GPU runs the
# correctness tests against a float64 reference and the PEERS.md benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake --build build -j "$(nproc)"
bin=build/bin
echo "== the pipeline for one spec: flash, head_dim 128, causal, bf16, sm_90a"
for stage in attn kernel llvm llvm-ir ptx; do
  $bin/attnjit-compile --head-dim 128 --causal --dtype bf16 --arch sm_90a --emit $stage -o /tmp/attnjit-d128.$stage
  printf '  %-8s %7d lines  /tmp/attnjit-d128.%s\n' "$stage" "$(wc -l < /tmp/attnjit-d128.$stage)" "$stage"
done
sed -n 1,8p /tmp/attnjit-d128.attn
grep -m3 -E "mma.sync|ldmatrix|cp.async.cg" /tmp/attnjit-d128.ptx
echo "== default kernels (cold compile, ptxas registers/spills when ptxas is present)"
for arch in sm_80 sm_90a; do
  for d in 64 128; do
    for causal in "" --causal; do
      $bin/attnjit-compile --head-dim $d $causal --dtype bf16 --arch $arch --stats -o /dev/null
    done
  done
done
echo "== the Python package over the C API (build/capi/libattnjit_c.so)"
PYTHONPATH=python ATTNJIT_LIBRARY=build/capi/libattnjit_c.so python3 -c '
import attnjit
print("  attnjit", attnjit.__version__, "C API", attnjit.c_api_version, "devices", attnjit.devices())
for d in (64, 80):
    s = attnjit.select_backend(d, "bfloat16")
    print(f"  head_dim {d}: {s.backend} ({s.source})")
try:
    import torch
    if torch.cuda.is_available():
        q, k, v = (torch.randn(2, 256, 8, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
        out = attnjit.flash_attn_func(q, k, v, causal=True)
        ref = torch.nn.functional.scaled_dot_product_attention(
            *(t.transpose(1, 2) for t in (q, k, v)), is_causal=True).transpose(1, 2)
        print("  flash_attn_func vs torch SDPA: max abs diff", (out - ref).abs().max().item())
except ImportError:
    print("  (no torch: the torch functions are not shown)")
'
if build/tests/attnjit-gpu-tests "[no-such-tag]" >/dev/null 2>&1; then
  echo "== GPU: correctness against float64, then the PEERS.md shapes"
  build/tests/attnjit-gpu-tests "[flash]"
  $bin/attnjit-bench
else
  echo "== no GPU here: $(build/tests/attnjit-gpu-tests '[no-such-tag]' 2>&1 | grep -m1 SKIPPED || echo 'no driver')"
  echo "   (kernels were compiled above; run this again on a GPU machine to launch them)"
fi

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
if build/tests/attnjit-gpu-tests "[no-such-tag]" >/dev/null 2>&1; then
  echo "== GPU: correctness against float64, then the PEERS.md shapes"
  build/tests/attnjit-gpu-tests "[flash]"
  $bin/attnjit-bench
else
  echo "== no GPU here: $(build/tests/attnjit-gpu-tests '[no-such-tag]' 2>&1 | grep -m1 SKIPPED || echo 'no driver')"
  echo "   (kernels were compiled above; run this again on a GPU machine to launch them)"
fi

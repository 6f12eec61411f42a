#!/usr/bin/env bash
# Runs attnjit's GPU checks on a GPU host that has no LLVM/MLIR: unpacks the
# LLVM runtime (../shared/gpu-host/pack-llvm-runtime.sh) and a stripped build
# (.carry/attnjit.tar.xz: lib/ and bin/), then runs what is asked:
#   scripts/gpu-host-run.sh tests [Catch2 test filter...]
#   scripts/gpu-host-run.sh bench [attnjit-bench args...]
#   scripts/gpu-host-run.sh all [attnjit-bench args...]
#   scripts/gpu-host-run.sh pytest [pytest args...]   (the Python package's
#     tests with the carried libattnjit_c.so, then scripts/overhead.py and
#     attnjit-bench --overhead on a tiny shape)
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}; shift || true
rt=/tmp/attnjit-rt
mkdir -p $rt
[ -f $rt/.llvm ] || { tar -xJf "$root/.carry/llvmrt.tar.xz" -C $rt && touch $rt/.llvm; }
tar -xJf "$root/.carry/attnjit.tar.xz" -C $rt
export LD_LIBRARY_PATH=$rt/lib:${LD_LIBRARY_PATH:-}
export PATH=$rt/bin:/usr/local/cuda/bin:$PATH
export ATTNJIT_CACHE_DIR=/tmp/attnjit-cache ATTNJIT_REQUIRE_GPU=1
out=${OUT:-/tmp/out}; mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader
rc=0
if [ "$what" = tests ] || [ "$what" = all ]; then
  filter=()
  [ "$what" = tests ] && filter=("$@")
  attnjit-gpu-tests --durations yes "${filter[@]}" 2>&1 | tee "$out/gpu-tests.log" | tail -60 || rc=1
fi
if [ "$what" = bench ] || [ "$what" = all ]; then
  attnjit-bench --json "$out/bench.json" "$@" 2>&1 | tee "$out/bench.log" || rc=1
fi
if [ "$what" = pytest ]; then
  export PYTHONPATH=$root/python${PYTHONPATH:+:$PYTHONPATH} ATTNJIT_LIBRARY=$rt/lib/libattnjit_c.so
  python3 -m pytest -q -rs -p no:cacheprovider "$root/python/tests" "$@" 2>&1 \
    | tee "$out/pytest.log" | tail -80 || rc=1
  python3 "$root/scripts/overhead.py" --json "$out/overhead.json" 2>&1 | tee "$out/overhead.log" || rc=1
  attnjit-bench --overhead 10000 --shape 1,1,64,64,0 --backend all --no-check --iters 200 2>&1 \
    | tee -a "$out/overhead.log" || rc=1
fi
exit $rc

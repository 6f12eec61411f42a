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
#   scripts/gpu-host-run.sh mha   (the layer against PyTorch's module on one state dict,
#                                  then the layer, its parts and its GEMMs (GEMM_CONFIGS:
#                                  the sm_90a tilings to sweep): attnjit-layer-bench, and
#                                  PyTorch on the same shapes with scripts/peer-mha.py)
#   scripts/gpu-host-run.sh sanitize [compute-sanitizer tool...]
# sanitize: compute-sanitizer's memcheck, racecheck, synccheck and initcheck
# (or the tools named) over [sanitize-sample] (flash, flash+lse, SDPA with a
# mask and with dropout, merge, Sage, the GEMM on both store paths;
# tests/gpu/SanitizerSampleTest.cpp) and the
# [runtime] tests, minus by name the ones that provoke CUDA API errors on
# purpose (invalid PTX, over-limit shared memory and threads) and the timing
# test; any report fails the mode (--error-exitcode).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
what=${1:-all}; shift || true
rt=/tmp/attnjit-rt
# ATTNJIT_CARRY: another packed build (a branch's), relative to the root or absolute.
carry=${ATTNJIT_CARRY:-.carry}; [[ $carry = /* ]] || carry=$root/$carry
mkdir -p $rt
[ -f $rt/.llvm ] || { tar -xJf "$carry/llvmrt.tar.xz" -C $rt && touch $rt/.llvm; }
tar -xJf "$carry/attnjit.tar.xz" -C $rt
export LD_LIBRARY_PATH=$rt/lib:${LD_LIBRARY_PATH:-}
export PATH=$rt/bin:/usr/local/cuda/bin:$PATH
export ATTNJIT_CACHE_DIR=/tmp/attnjit-cache ATTNJIT_REQUIRE_GPU=1
out=${OUT:-/tmp/out}; mkdir -p "$out"
# NCCL for the [nccl] tests: PyTorch's nvidia-nccl wheel carries libnccl.so.2.
if [ -z "${ATTNJIT_NCCL_PATH:-}" ]; then
  ATTNJIT_NCCL_PATH=$(python3 -c 'import glob, nvidia.nccl as n; print(glob.glob(n.__path__[0] + "/lib/libnccl.so.2")[0])' 2>/dev/null) || true
fi
[ -n "${ATTNJIT_NCCL_PATH:-}" ] && export ATTNJIT_NCCL_PATH ATTNJIT_REQUIRE_NCCL=1
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
if [ "$what" = mha ]; then
  # PyTorch's module and ours on one state dict (key names, layout, mask convention).
  { python3 "$root/scripts/peer-mha.py" export "$out/mha-export" &&
    attnjit-layer-bench check "$out/mha-export"; } 2>&1 | tee "$out/mha-check.log" || rc=1
  # The layer (with its parts timed alone) and the GEMM with the device's
  # recipe and its default tiles, then other tilings for the config table:
  # on sm_90a the wgmma recipe's, and the sm_80 recipe's (ATTNJIT_ARCH=sm_90)
  # for comparison.
  { attnjit-layer-bench mha --parts && attnjit-layer-bench gemm &&
    if [ "$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)" = 9.0 ]; then
      for c in ${GEMM_CONFIGS:-128,64,12,6 128,192,12,3 128,256,12,3 64,128,8,6 64,256,8,4}; do
        echo "--gemm-config $c"; attnjit-layer-bench gemm --gemm-config $c
      done
      echo "ATTNJIT_ARCH=sm_90 (the sm_80 recipe)"; ATTNJIT_ARCH=sm_90 attnjit-layer-bench gemm
    else
      for c in 128,64,4,3 64,128,4,4 128,128,8,3 256,128,8,3; do
        echo "--gemm-config $c"; attnjit-layer-bench gemm --gemm-config $c
      done
    fi; } 2>&1 | tee "$out/layer-bench.log" || rc=1
  python3 "$root/scripts/peer-mha.py" all 2>&1 | tee "$out/peer-mha.log" || rc=1
fi
if [ "$what" = sanitize ]; then
  tools=("$@")
  [ ${#tools[@]} -eq 0 ] && tools=(memcheck racecheck synccheck initcheck)
  sample=('[sanitize-sample],[runtime]'
          '~"invalid PTX reports the JIT error log"'
          '~"shared memory beyond the opt-in limit is Unsupported"'
          '~"threads beyond the function'"'"'s limit are Unsupported"'
          '~"cache hits from many threads; hit cost"')
  for tool in "${tools[@]}"; do
    echo "== compute-sanitizer --tool $tool"
    if compute-sanitizer --tool "$tool" --error-exitcode 86 --print-limit 20 \
         attnjit-gpu-tests "${sample[@]}" >"$out/sanitize-$tool.log" 2>&1; then
      grep -E "ERROR SUMMARY|RACECHECK SUMMARY|test cases" "$out/sanitize-$tool.log" | tail -3
    else
      rc=1
      echo "compute-sanitizer $tool FAILED (log: $out/sanitize-$tool.log):"
      grep -E "=========|FAILED|test cases" "$out/sanitize-$tool.log" | head -40
    fi
  done
fi
exit $rc

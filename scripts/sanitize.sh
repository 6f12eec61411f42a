#!/usr/bin/env bash
# The sanitizer build: attnjit's own sources (libraries, tools, tests) built
# with AddressSanitizer + UndefinedBehaviorSanitizer in ./build-asan, then the
# unit and lit suites run there (ctest).
# MLIR/LLVM stay Debian's uninstrumented libraries (cmake/Sanitizers.cmake says
# what that needs). With clang-22 and libclang-rt-22-dev installed the build
# uses clang and also builds the libFuzzer targets (scripts/fuzz.sh); else g++.
#
#   scripts/sanitize.sh               build, then run the suites
#   scripts/sanitize.sh --build-only  build only (scripts/fuzz.sh uses this)
#   JOBS=N                            parallel jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=0
[ "${1:-}" = "--build-only" ] && build_only=1
jobs=${JOBS:-$(nproc)}
fuzz=OFF
cc=gcc cxx=g++
if command -v clang++-22 >/dev/null &&
   [ -n "$(ls /usr/lib/llvm-22/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null)" ]; then
  fuzz=ON cc=clang-22 cxx=clang++-22
fi
cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=$cc \
  -DCMAKE_CXX_COMPILER=$cxx -DATTNJIT_SANITIZE=ON -DATTNJIT_FUZZ=$fuzz >/dev/null
start=$(date +%s)
cmake --build build-asan -j "$jobs"
echo "sanitize: build-asan ($cxx, fuzz targets $fuzz): $(( $(date +%s) - start )) s"
[ $build_only = 1 ] && exit 0
# ODR: see cmake/Sanitizers.cmake. Leaks are checked (LeakSanitizer) in every
# process, the tools run by lit included.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:allow_user_poisoning=0:detect_leaks=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
start=$(date +%s)
# The unit and lit suites. install-example builds a separate, uninstrumented
# project against the instrumented library, which cannot link, and the GPU
# tests belong to compute-sanitizer (gpu-host-run.sh sanitize; ASan's shadow
# memory and the CUDA driver do not mix): the main build runs both. So does
# python-cpu: an uninstrumented Python cannot load the instrumented
# libattnjit_c.so (no sanitizer runtime); capi-c covers the C API here.
(cd build-asan && ctest --output-on-failure -j "$jobs" -E '^(install-example|gpu|python-cpu)$')
echo "sanitize: unit and lit suites clean under ASan/UBSan ($(( $(date +%s) - start )) s)"

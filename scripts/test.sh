#!/usr/bin/env bash
# The test command: sets up, builds, and runs every test (Catch2 unit tests,
# lit/FileCheck tests, GPU tests) through ctest. Without a GPU the GPU tests are
# reported as skipped, with the reason printed below. Then the sanitizer build
# and the fuzz targets (see below).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
start=$(date +%s)
cmake --build build -j "$(nproc)"
echo "build: $(( $(date +%s) - start )) s"
# Say whether the GPU tests will run, or why they skip (the tag matches no test).
if probe=$(build/tests/attnjit-gpu-tests "[no-such-tag]" 2>&1); then
  echo "gpu: a CUDA device is present; the GPU tests will run"
else
  echo "gpu: GPU tests will be skipped: $(echo "$probe" | grep -m1 SKIPPED || echo "$probe" | head -1)"
fi
# The Python package installs from this tree: pip builds in ./build (built just
# above, so it only reconfigures and installs) into a scratch folder, and the
# installed copy must import and load its own libattnjit_c.so.
pipdir=$(mktemp -d)
trap 'rm -rf "$pipdir"' EXIT
start=$(date +%s)
CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" python3 -m pip install -q --no-build-isolation --no-deps \
  --target "$pipdir" .
(cd "$pipdir" && env -u ATTNJIT_LIBRARY PYTHONPATH="$pipdir" python3 -c "
import attnjit, attnjit._capi as c
assert c.lib._name.startswith('$pipdir'), c.lib._name
print('pip install .: attnjit', attnjit.__version__, 'from', c.lib._name, 'devices', attnjit.devices())")
echo "pip install check: $(( $(date +%s) - start )) s"
(cd build && ctest --output-on-failure -j "$(nproc)")
# Issue 15: the ASan/UBSan build runs the unit and lit suites again, then each
# libFuzzer target runs for a bounded time from its seed corpus (both need
# clang-22 and libclang-rt-22-dev, which setup.sh installs). ATTNJIT_TEST_HARDENING=0
# skips both; ATTNJIT_TEST_FUZZ_SECONDS sets the time per fuzz target.
if [ "${ATTNJIT_TEST_HARDENING:-1}" != 0 ]; then
  scripts/sanitize.sh
  scripts/fuzz.sh "${ATTNJIT_TEST_FUZZ_SECONDS:-30}"
fi

#!/usr/bin/env bash
# Installs attnjit's build dependencies (Debian packages; apt-get update runs once,
# only when something is missing) and configures the build in ./build.
# Idempotent: a second run installs nothing and reconfigures quickly.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(cmake ninja-build g++ llvm-22-dev libmlir-22-dev mlir-22-tools llvm-22-tools
      libzstd-dev catch2 libspdlog-dev libfmt-dev nlohmann-json3-dev libdlpack-dev
      clang-22 libclang-rt-22-dev) # clang: the sanitizer and fuzz build (scripts/sanitize.sh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -f /usr/local/cuda/include/cuda.h ]; then
  echo "setup: /usr/local/cuda/include/cuda.h is missing (the CUDA toolkit provides it)" >&2
  exit 1
fi
# The Python package's tests and `pip install .` need pytest and scikit-build-core (PyPI).
py_missing=()
python3 -c "import pytest" 2>/dev/null || py_missing+=(pytest)
python3 -c "import scikit_build_core" 2>/dev/null || py_missing+=("scikit-build-core>=0.10")
if [ ${#py_missing[@]} -gt 0 ]; then
  echo "setup: pip installing ${py_missing[*]}"
  python3 -m pip install -q "${py_missing[@]}" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "${py_missing[@]}"
fi
cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
echo "setup: configured ./build"

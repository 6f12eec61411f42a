#!/usr/bin/env bash
# Packs what a GPU host without LLVM/MLIR needs to run attnjit's GPU tests and
# bench (see scripts/gpu-host-run.sh): the stripped attnjit libraries, tools
# and test binaries of a build folder, plus libfmt and libspdlog, into
# .carry/attnjit.tar.xz; and the LLVM runtime into .carry/llvmrt.tar.xz when
# it is not there yet (../shared/gpu-host/pack-llvm-runtime.sh).
#   scripts/pack-gpu-carry.sh [build-dir]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$stage/bin" "$root/.carry"
cp "$build"/runtime/libattnjit_runtime.so "$build"/compiler/libattnjit_compiler.so "$stage/lib/"
# The C API for the Python package (python/ itself travels with the tree).
cp "$build"/capi/libattnjit_c.so "$stage/lib/"
cp -L /lib/x86_64-linux-gnu/libfmt.so.9 /lib/x86_64-linux-gnu/libspdlog.so.1.10 "$stage/lib/"
cp "$build"/bin/attnjit-* "$build"/tests/attnjit-gpu-tests "$stage/bin/"
strip --strip-unneeded "$stage"/lib/*.so* "$stage"/bin/*
tar -C "$stage" -cf - lib bin | xz -T0 -6 > "$root/.carry/attnjit.tar.xz"
if [ ! -f "$root/.carry/llvmrt.tar.xz" ]; then
  bash "$root/../shared/gpu-host/pack-llvm-runtime.sh" "$root/.carry/llvmrt.tar.xz"
fi
ls -la "$root/.carry"

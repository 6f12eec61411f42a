//===- jit.cpp - Linking attnjit::compiler makes the runtime a JIT --------===//
//
// Part of attnjit's examples. Calls no compiler function: the compiler
// library's static initializer adds the caching JIT to the runtime's provider
// chain. Prints the chain; exits 1 if the disk cache (with the JIT) is missing.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/KernelRuntime.h"

#include <algorithm>
#include <cstdio>

int main() {
  auto names = attnjit::KernelRuntime::instance().providerNames();
  std::printf("providers:");
  for (const auto &n : names)
    std::printf(" %s", n.c_str());
  std::printf("\n");
  bool jit = std::find(names.begin(), names.end(), "disk-cache") != names.end();
  std::printf(jit ? "caching JIT installed\n" : "no JIT provider\n");
  return jit ? 0 : 1;
}

//===- JitRegistration.cpp - Linking the compiler makes the runtime a JIT -===//
//
// Part of attnjit. A static initializer of attnjit_compiler registers a
// ProviderInstaller with the runtime: when KernelRuntime is created (or right
// away if it already exists) it adds a DiskCache wrapping the JIT at priority
// 10, after bundles (0). An application that links only attnjit_runtime gets
// no such provider, and a kernel missing from its bundles is NotFound.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/KernelRuntime.h"

/// Referenced from a one-line source that attnjit::compiler adds to each
/// consumer (INTERFACE_SOURCES), so that linkers defaulting to --as-needed keep
/// libattnjit_compiler.so (and this initializer) in programs that call no
/// compiler function directly.
extern "C" __attribute__((visibility("default"), used)) const int attnjit_compiler_jit_anchor = 1;

namespace attnjit {
namespace {

void installCachingJit(KernelRuntime &runtime) {
  runtime.addProvider(std::make_shared<DiskCache>(makeJitProvider(), compilerBuildId()),
                      /*priority=*/10);
}

struct JitRegistration {
  JitRegistration() { setDefaultProviderInstaller(&installCachingJit); }
};
const JitRegistration registration;

} // namespace
} // namespace attnjit

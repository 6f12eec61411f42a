//===- CompiledKernel.h - A compiled attention kernel ------------*- C++ -*-===//
//
// Part of attnjit. What the compiler hands the runtime: code (PTX, optionally a
// cubin) plus its launch plan (LaunchPlan.h): the kernels of that one module,
// in launch order, with grids, clusters, shared memory, parameter kinds and
// workspace. It holds no LLVM or CUDA types so that it can be stored on disk,
// bundled, and loaded by a runtime without LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_COMPILEDKERNEL_H
#define ATTNJIT_RUNTIME_COMPILEDKERNEL_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/LaunchPlan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attnjit {

struct CompiledKernel {
  AttentionSpec spec;         ///< the spec with its config filled in
  LaunchPlan plan;            ///< kernels of the module, in launch order; workspace
  std::string ptx;            ///< PTX text: one module holding every kernel of the plan
  std::vector<uint8_t> cubin; ///< optional, for spec.arch; empty when not produced
  int abiVersion = 0;         ///< FlashKernelABI version the kernel was built against
  double compileMs = 0;       ///< time spent producing it (informational)
  int registers = -1;         ///< per thread, from ptxas (-1: unknown)
  int spillBytes = -1;        ///< spill stores + loads, from ptxas (-1: unknown)

  /// The plan's first kernel (the only one of flash and SDPA plans); an empty
  /// one when the plan has none, so that messages about a bad kernel can still
  /// be written (LaunchPlan::validate rejects such a plan).
  const KernelLaunchInfo &firstKernel() const;
  /// Entry name, threads and dynamic shared memory of firstKernel(): what the
  /// CompiledKernel fields of the same names held before plans.
  const std::string &entryName() const { return firstKernel().entryName; }
  int threadsPerBlock() const { return firstKernel().threadsPerBlock; }
  int sharedMemBytes() const { return firstKernel().sharedMemBytes; }

  /// Metadata as JSON text (everything but the code, the plan included), for
  /// cache headers and tools.
  std::string metadataJson() const;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_COMPILEDKERNEL_H

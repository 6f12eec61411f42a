//===- CompiledKernel.h - A compiled attention kernel ------------*- C++ -*-===//
//
// Part of attnjit. What the compiler hands the runtime: code (PTX, optionally a
// cubin) plus everything needed to launch it. It holds no LLVM or CUDA types so
// that it can be stored on disk, bundled, and loaded by a runtime without LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_COMPILEDKERNEL_H
#define ATTNJIT_RUNTIME_COMPILEDKERNEL_H

#include "attnjit/Runtime/AttentionSpec.h"

#include <cstdint>
#include <string>
#include <vector>

namespace attnjit {

struct CompiledKernel {
  AttentionSpec spec;         ///< the spec with its config filled in
  std::string entryName;      ///< kernel symbol in the PTX
  std::string ptx;            ///< PTX text
  std::vector<uint8_t> cubin; ///< optional, for spec.arch; empty when not produced
  int threadsPerBlock = 0;
  int sharedMemBytes = 0;     ///< dynamic shared memory per CTA
  int abiVersion = 0;         ///< FlashKernelABI version the kernel was built against
  double compileMs = 0;       ///< time spent producing it (informational)
  int registers = -1;         ///< per thread, from ptxas (-1: unknown)
  int spillBytes = -1;        ///< spill stores + loads, from ptxas (-1: unknown)

  /// Metadata as JSON text (everything but the code), for cache headers and tools.
  std::string metadataJson() const;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_COMPILEDKERNEL_H

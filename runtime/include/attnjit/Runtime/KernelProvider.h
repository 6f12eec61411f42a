//===- KernelProvider.h - Where kernels come from ----------------*- C++ -*-===//
//
// Part of attnjit. The runtime asks a chain of providers for a kernel (bundle,
// disk cache, compiler). The runtime defines this interface and never includes a
// compiler header; the compiler library implements it to make the runtime a JIT.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_KERNELPROVIDER_H
#define ATTNJIT_RUNTIME_KERNELPROVIDER_H

#include "attnjit/Runtime/CompiledKernel.h"

#include <memory>
#include <string>

namespace attnjit {

class KernelProvider {
public:
  virtual ~KernelProvider() = default;
  /// Short name for logs ("bundle", "disk-cache", "jit").
  virtual std::string name() const = 0;
  /// The kernel for `spec` (arch included), or nullptr when this provider has none.
  /// Throws attnjit::Error when it should have one but producing it failed.
  virtual std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) = 0;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_KERNELPROVIDER_H

//===- KernelParams.h - Typed kernel arguments for a launch ------*- C++ -*-===//
//
// Part of attnjit. cuLaunchKernelEx takes an array of pointers, one per
// parameter, and copies as many bytes from each as the kernel's signature
// says; nothing checks that the caller's values have those sizes. A
// KernelParamPack holds the values of one kernel of a launch plan in a buffer
// laid out like the kernel's parameter space (each value at its ABI alignment,
// tensor maps 128 bytes at 64-byte alignment), checks every value's kind
// against the plan when it is set, and hands the driver pointers into that
// buffer. Entry points with a fixed ABI (flash, SDPA) keep filling their
// argument structs directly; plans with tensor maps or several kernels use this.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_KERNELPARAMS_H
#define ATTNJIT_RUNTIME_KERNELPARAMS_H

#include "attnjit/Runtime/LaunchPlan.h"

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace attnjit {

class KernelParamPack {
public:
  /// An unset pack for `kernel`'s parameters (kinds copied; `kernel` need not
  /// outlive the pack).
  explicit KernelParamPack(const KernelLaunchInfo &kernel);
  /// The same for a bare signature; `name` is used in messages.
  KernelParamPack(std::vector<ParamKind> kinds, std::string name);

  KernelParamPack(KernelParamPack &&) noexcept = default;
  KernelParamPack &operator=(KernelParamPack &&) noexcept = default;
  KernelParamPack(const KernelParamPack &) = delete;
  KernelParamPack &operator=(const KernelParamPack &) = delete;

  /// Each setter throws Error(InvalidArgument) naming the kernel, the index and
  /// both kinds when parameter `i` is not of its kind, or is out of range.
  void setPtr(size_t i, const void *value);
  void setI32(size_t i, int32_t value);
  void setI64(size_t i, int64_t value);
  void setF32(size_t i, float value);
  /// Copies the 128 bytes of `map` into the pack.
  void setTensorMap(size_t i, const CUtensorMap &map);

  /// Throws Error(InvalidArgument) naming the first parameter never set.
  void requireComplete() const;
  /// One pointer per parameter, into bytes(), as cuLaunchKernelEx's
  /// kernelParams wants them. Valid while the pack lives (moves keep them).
  void **pointers() { return pointers_.data(); }

  const std::vector<ParamKind> &kinds() const { return kinds_; }
  const ParamLayout &layout() const { return layout_; }
  /// The parameter space image: layout().totalBytes bytes, 64-byte aligned.
  const uint8_t *bytes() const { return storage_.get(); }
  const std::string &name() const { return name_; }

private:
  void *slot(size_t i, ParamKind kind);

  struct AlignedFree {
    void operator()(uint8_t *p) const;
  };
  std::string name_;
  std::vector<ParamKind> kinds_;
  ParamLayout layout_;
  std::unique_ptr<uint8_t[], AlignedFree> storage_;
  std::vector<void *> pointers_;
  std::vector<bool> set_;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_KERNELPARAMS_H

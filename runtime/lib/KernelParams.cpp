//===- KernelParams.cpp - Typed kernel arguments for a launch -------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/KernelParams.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace attnjit {

void KernelParamPack::AlignedFree::operator()(uint8_t *p) const {
  ::operator delete(p, std::align_val_t(kTensorMapAlign));
}

KernelParamPack::KernelParamPack(const KernelLaunchInfo &kernel)
    : KernelParamPack(kernel.params, kernel.entryName) {}

KernelParamPack::KernelParamPack(std::vector<ParamKind> kinds, std::string name)
    : name_(std::move(name)), kinds_(std::move(kinds)), layout_(layoutParams(kinds_)),
      set_(kinds_.size(), false) {
  // The image is aligned like the largest parameter (a tensor map), so offsets
  // aligned within it are aligned in memory too. Zeroed: padding is defined.
  size_t bytes = std::max<size_t>(layout_.totalBytes, 1);
  storage_.reset(static_cast<uint8_t *>(::operator new(bytes, std::align_val_t(kTensorMapAlign))));
  std::memset(storage_.get(), 0, bytes);
  pointers_.reserve(kinds_.size());
  for (size_t off : layout_.offsets)
    pointers_.push_back(storage_.get() + off);
}

void *KernelParamPack::slot(size_t i, ParamKind kind) {
  if (i >= kinds_.size())
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("kernel '{}': parameter {} set, but it has {} parameters", name_, i,
                            kinds_.size()));
  if (kinds_[i] != kind)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("kernel '{}': parameter {} is {}, set as {}", name_, i,
                            toString(kinds_[i]), toString(kind)));
  set_[i] = true;
  return pointers_[i];
}

void KernelParamPack::setPtr(size_t i, const void *value) {
  std::memcpy(slot(i, ParamKind::Ptr), &value, sizeof(value));
}
void KernelParamPack::setI32(size_t i, int32_t value) {
  std::memcpy(slot(i, ParamKind::I32), &value, sizeof(value));
}
void KernelParamPack::setI64(size_t i, int64_t value) {
  std::memcpy(slot(i, ParamKind::I64), &value, sizeof(value));
}
void KernelParamPack::setF32(size_t i, float value) {
  std::memcpy(slot(i, ParamKind::F32), &value, sizeof(value));
}
void KernelParamPack::setTensorMap(size_t i, const CUtensorMap &map) {
  static_assert(sizeof(map) == kTensorMapBytes, "CUtensorMap is 128 bytes");
  std::memcpy(slot(i, ParamKind::TensorMap), &map, sizeof(map));
}

void KernelParamPack::requireComplete() const {
  for (size_t i = 0; i < set_.size(); ++i)
    if (!set_[i])
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("kernel '{}': parameter {} ({}) was never set", name_, i,
                              toString(kinds_[i])));
}

} // namespace attnjit

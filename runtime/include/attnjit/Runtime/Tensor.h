//===- Tensor.h - Non-owning tensor views and DLPack --------------*- C++ -*-===//
//
// Part of attnjit. The caller owns memory and streams; attnjit sees tensors as
// views: a pointer, a dtype, a shape and strides in elements, and a device.
// Views convert from and to DLPack's DLTensor so that frameworks can hand their
// tensors over without copies.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_TENSOR_H
#define ATTNJIT_RUNTIME_TENSOR_H

#include "attnjit/Core/AttentionSpec.h"

#include <dlpack/dlpack.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attnjit {

/// Where a view's memory lives.
enum class DeviceKind { Cuda, Cpu };

std::string_view toString(DeviceKind k);

/// A non-owning strided view. Ranks 0..kMaxRank; shape and strides in elements.
class TensorView {
public:
  static constexpr int kMaxRank = 8;

  /// An empty view (null data, rank 0).
  TensorView() = default;
  /// A view of `data` with `shape`; empty `strides` means contiguous
  /// (row-major). Throws InvalidArgument when the rank exceeds kMaxRank or
  /// strides and shape differ in length.
  TensorView(void *data, DType dtype, const std::vector<int64_t> &shape,
             const std::vector<int64_t> &strides = {}, int device = 0,
             DeviceKind kind = DeviceKind::Cuda);
  TensorView(const void *data, DType dtype, const std::vector<int64_t> &shape,
             const std::vector<int64_t> &strides = {}, int device = 0,
             DeviceKind kind = DeviceKind::Cuda)
      : TensorView(const_cast<void *>(data), dtype, shape, strides, device, kind) {}
  /// A null view (rejected by every entry point with a message naming the
  /// tensor), so that TensorView(nullptr, ...) compiles: both overloads above
  /// would take it.
  TensorView(std::nullptr_t, DType dtype, const std::vector<int64_t> &shape,
             const std::vector<int64_t> &strides = {}, int device = 0,
             DeviceKind kind = DeviceKind::Cuda)
      : TensorView(static_cast<void *>(nullptr), dtype, shape, strides, device, kind) {}

  /// A view of a DLTensor (byte_offset folded into the pointer; strides ==
  /// NULL means contiguous). Throws InvalidArgument naming the dtype or device
  /// when attnjit cannot use it (dtypes: float16, bfloat16, float32 with one
  /// lane, and for masks bool (kDLBool, 8 bits) or uint8 as DType::Bool;
  /// devices: kDLCUDA, kDLCUDAManaged, kDLCUDAHost, kDLCPU).
  static TensorView fromDLPack(const DLTensor &t);
  /// A DLTensor describing this view. Its shape and strides point into this
  /// view, which must outlive it; byte_offset is 0. DType::Bool is exported
  /// as kDLBool (code 6), 8 bits.
  DLTensor toDLPack() const;

  void *data() const { return data_; }
  DType dtype() const { return dtype_; }
  int rank() const { return rank_; }
  int64_t size(int dim) const { return shape_[dim]; }
  int64_t stride(int dim) const { return strides_[dim]; }
  std::vector<int64_t> shape() const { return {shape_.begin(), shape_.begin() + rank_}; }
  std::vector<int64_t> strides() const { return {strides_.begin(), strides_.begin() + rank_}; }
  int device() const { return device_; }
  DeviceKind deviceKind() const { return kind_; }
  int elementSize() const { return dtypeSize(dtype_); }
  /// Product of the sizes (1 for rank 0).
  int64_t numel() const;
  /// Row-major contiguous (strides of size-1 dimensions are ignored).
  bool isContiguous() const;
  /// The view with dimensions reordered: result dim i is this view's dim
  /// perm[i]. Throws InvalidArgument when perm is not a permutation.
  TensorView permute(const std::vector<int> &perm) const;
  /// The same for a literal permutation, e.g. permute({0, 2, 1, 3}) (no
  /// allocation: the attention entries call it on every launch).
  TensorView permute(std::initializer_list<int> perm) const;
  /// Half-open byte range [first, last) that the view's elements span; empty
  /// (first == last) when numel() == 0. Assumes non-negative strides.
  std::pair<uintptr_t, uintptr_t> byteExtent() const;
  /// e.g. "bf16[2, 128, 8, 64] strides [65536, 512, 64, 1] cuda:0 @0x7f00..."
  std::string str() const;

private:
  /// Sets rank, shape and strides (contiguous when `strides` is null); the
  /// rank is at most kMaxRank. No allocation: fromDLPack runs on every call.
  void assign(int rank, const int64_t *shape, const int64_t *strides);
  TensorView permuted(const int *perm, size_t n) const;

  void *data_ = nullptr;
  DType dtype_ = DType::F32;
  int rank_ = 0;
  std::array<int64_t, kMaxRank> shape_{};
  std::array<int64_t, kMaxRank> strides_{};
  int device_ = 0;
  DeviceKind kind_ = DeviceKind::Cuda;
};

/// Row-major strides for `shape`.
std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_TENSOR_H

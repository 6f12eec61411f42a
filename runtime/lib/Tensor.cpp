//===- Tensor.cpp - Non-owning tensor views and DLPack --------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Tensor.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace attnjit {

std::string_view toString(DeviceKind k) {
  switch (k) {
  case DeviceKind::Cuda: return "cuda";
  case DeviceKind::Cpu: return "cpu";
  }
  return "?";
}

std::vector<int64_t> contiguousStrides(const std::vector<int64_t> &shape) {
  std::vector<int64_t> strides(shape.size());
  int64_t s = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
  return strides;
}

TensorView::TensorView(void *data, DType dtype, const std::vector<int64_t> &shape,
                       const std::vector<int64_t> &strides, int device, DeviceKind kind)
    : data_(data), dtype_(dtype), device_(device), kind_(kind) {
  if (shape.size() > static_cast<size_t>(kMaxRank))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("tensor rank: at most {} dimensions are supported, got {}", kMaxRank,
                            shape.size()));
  if (!strides.empty() && strides.size() != shape.size())
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("tensor strides: expected {} strides (one per dimension), got {}",
                            shape.size(), strides.size()));
  assign(static_cast<int>(shape.size()), shape.data(), strides.empty() ? nullptr : strides.data());
}

void TensorView::assign(int rank, const int64_t *shape, const int64_t *strides) {
  rank_ = rank;
  std::copy(shape, shape + rank, shape_.begin());
  if (strides) {
    std::copy(strides, strides + rank, strides_.begin());
    return;
  }
  int64_t s = 1; // row-major, as contiguousStrides()
  for (int i = rank; i-- > 0;) {
    strides_[i] = s;
    s *= std::max<int64_t>(shape[i], 1);
  }
}

//===----------------------------------------------------------------------===//
// DLPack
//===----------------------------------------------------------------------===//

static std::string dlDeviceName(int type) {
  switch (type) {
  case kDLCPU: return "kDLCPU";
  case kDLCUDA: return "kDLCUDA";
  case kDLCUDAHost: return "kDLCUDAHost";
  case kDLOpenCL: return "kDLOpenCL";
  case kDLVulkan: return "kDLVulkan";
  case kDLMetal: return "kDLMetal";
  case kDLVPI: return "kDLVPI";
  case kDLROCM: return "kDLROCM";
  case kDLROCMHost: return "kDLROCMHost";
  case kDLExtDev: return "kDLExtDev";
  case kDLCUDAManaged: return "kDLCUDAManaged";
  }
  return "unknown";
}

/// DLPack's type code for booleans (kDLBool, added in DLPack 0.8; spelled out
/// so that older dlpack.h headers, which lack the enumerator, work too).
static constexpr uint8_t kDLBoolCode = 6;
/// DLPack's kDLFloat8_e4m3fn (DLPack 1.1; torch.float8_e4m3fn), spelled out for
/// the same reason.
static constexpr uint8_t kDLFloat8E4M3FnCode = 10;

static std::string dlDTypeName(DLDataType t) {
  const char *code = "unknown";
  switch (t.code) {
  case kDLInt: code = "int"; break;
  case kDLUInt: code = "uint"; break;
  case kDLFloat: code = "float"; break;
  case kDLOpaqueHandle: code = "opaque"; break;
  case kDLBfloat: code = "bfloat"; break;
  case kDLComplex: code = "complex"; break;
  case kDLBoolCode: code = "bool"; break;
  case kDLFloat8E4M3FnCode: code = "float8_e4m3fn"; break;
  }
  std::string name = fmt::format("{}{}", code, t.bits);
  if (t.lanes != 1)
    name += fmt::format("x{}", t.lanes);
  return fmt::format("{} (code {}, bits {}, lanes {})", name, t.code, t.bits, t.lanes);
}

TensorView TensorView::fromDLPack(const DLTensor &t) {
  DType dtype;
  if (t.dtype.lanes == 1 && t.dtype.code == kDLFloat && t.dtype.bits == 16)
    dtype = DType::F16;
  else if (t.dtype.lanes == 1 && t.dtype.code == kDLBfloat && t.dtype.bits == 16)
    dtype = DType::BF16;
  else if (t.dtype.lanes == 1 && t.dtype.code == kDLFloat && t.dtype.bits == 32)
    dtype = DType::F32;
  else if (t.dtype.lanes == 1 && t.dtype.bits == 8 &&
           (t.dtype.code == kDLBoolCode || t.dtype.code == kDLUInt))
    dtype = DType::Bool; // a mask: one byte per element, nonzero = true
  else if (t.dtype.lanes == 1 && t.dtype.code == kDLInt && t.dtype.bits == 8)
    dtype = DType::I8;
  else if (t.dtype.lanes == 1 && t.dtype.code == kDLFloat8E4M3FnCode && t.dtype.bits == 8)
    dtype = DType::F8E4M3;
  else
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("DLPack dtype: unsupported {}; attnjit takes float16, bfloat16, "
                            "float32, int8, float8_e4m3fn, and bool or uint8 (masks)",
                            dlDTypeName(t.dtype)));

  DeviceKind kind;
  switch (t.device.device_type) {
  case kDLCUDA:
  case kDLCUDAManaged: kind = DeviceKind::Cuda; break;
  case kDLCPU:
  case kDLCUDAHost: kind = DeviceKind::Cpu; break;
  default:
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("DLPack device: unsupported {} ({}); attnjit takes kDLCUDA, "
                            "kDLCUDAManaged, kDLCUDAHost and kDLCPU",
                            dlDeviceName(t.device.device_type),
                            static_cast<int>(t.device.device_type)));
  }
  if (t.ndim < 0 || t.ndim > kMaxRank)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("DLPack ndim: expected 0..{}, got {}", kMaxRank, t.ndim));
  if (t.ndim > 0 && !t.shape)
    throw Error(ErrorKind::InvalidArgument, "DLPack shape: null for a tensor of rank > 0");
  TensorView view;
  view.data_ = t.data ? static_cast<char *>(t.data) + t.byte_offset : nullptr;
  view.dtype_ = dtype;
  view.device_ = t.device.device_id;
  view.kind_ = kind;
  view.assign(t.ndim, t.shape, t.strides);
  return view;
}

DLTensor TensorView::toDLPack() const {
  DLTensor t{};
  t.data = data_;
  t.device.device_type = kind_ == DeviceKind::Cuda ? kDLCUDA : kDLCPU;
  t.device.device_id = device_;
  t.ndim = rank_;
  t.dtype.lanes = 1;
  t.dtype.bits = static_cast<uint8_t>(dtypeSize(dtype_) * 8);
  // No default: a new dtype must name its DLPack code here (-Wswitch).
  switch (dtype_) {
  case DType::F16:
  case DType::F32: t.dtype.code = kDLFloat; break;
  case DType::BF16: t.dtype.code = kDLBfloat; break;
  case DType::Bool: t.dtype.code = kDLBoolCode; break;
  case DType::I8: t.dtype.code = kDLInt; break;
  case DType::F8E4M3: t.dtype.code = kDLFloat8E4M3FnCode; break;
  }
  // DLTensor's fields are non-const for historical reasons; consumers only read them.
  t.shape = const_cast<int64_t *>(shape_.data());
  t.strides = const_cast<int64_t *>(strides_.data());
  t.byte_offset = 0;
  return t;
}

//===----------------------------------------------------------------------===//
// Queries
//===----------------------------------------------------------------------===//

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i)
    n *= shape_[i];
  return n;
}

bool TensorView::isContiguous() const {
  int64_t expected = 1;
  for (int i = rank_; i-- > 0;) {
    if (shape_[i] == 1)
      continue;
    if (strides_[i] != expected)
      return false;
    expected *= shape_[i];
  }
  return true;
}

TensorView TensorView::permute(const std::vector<int> &perm) const {
  return permuted(perm.data(), perm.size());
}

TensorView TensorView::permute(std::initializer_list<int> perm) const {
  return permuted(perm.begin(), perm.size());
}

TensorView TensorView::permuted(const int *perm, size_t n) const {
  unsigned seen = 0; // bit d: dimension d already taken (rank <= kMaxRank)
  bool ok = n == static_cast<size_t>(rank_);
  for (size_t i = 0; ok && i < n; ++i) {
    int p = perm[i];
    ok = p >= 0 && p < rank_ && !(seen & (1u << p));
    if (ok)
      seen |= 1u << p;
  }
  if (!ok)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("permute: [{}] is not a permutation of {} dimensions",
                            fmt::join(perm, perm + n, ", "), rank_));
  TensorView r = *this;
  for (int i = 0; i < rank_; ++i) {
    r.shape_[i] = shape_[perm[i]];
    r.strides_[i] = strides_[perm[i]];
  }
  return r;
}

std::pair<uintptr_t, uintptr_t> TensorView::byteExtent() const {
  uintptr_t base = reinterpret_cast<uintptr_t>(data_);
  if (numel() <= 0)
    return {base, base};
  int64_t last = 0;
  for (int i = 0; i < rank_; ++i)
    last += (shape_[i] - 1) * strides_[i];
  return {base, base + static_cast<uintptr_t>((last + 1) * elementSize())};
}

std::string TensorView::str() const {
  return fmt::format("{}[{}] strides [{}] {}:{} @{}", toString(dtype_), fmt::join(shape(), ", "),
                     fmt::join(strides(), ", "), toString(kind_), device_, data_);
}

} // namespace attnjit

//===- AttentionArgs.cpp - Checks shared by the attention entries ---------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace attnjit::detail {

DimNames DimNames::forLayout(Layout l) {
  if (l == Layout::BHSD)
    return {{0, 2, 1, 3}};
  return {{0, 1, 2, 3}};
}

void invalid(const std::string &msg) { throw Error(ErrorKind::InvalidArgument, msg); }

TensorView toBshd(const TensorView &t, Layout layout) {
  if (layout == Layout::BSHD || t.rank() != 4)
    return t;
  return t.permute({0, 2, 1, 3});
}

std::string shapeStr(const TensorView &t, const DimNames &names) {
  int64_t s[4];
  for (int d = 0; d < 4; ++d)
    s[names.physical[d]] = t.size(d);
  return fmt::format("[{}]", fmt::join(s, s + 4, ", "));
}

std::string extentStr(std::pair<uintptr_t, uintptr_t> e) {
  return fmt::format("[{:#x}, {:#x})", e.first, e.second);
}

bool overlaps(std::pair<uintptr_t, uintptr_t> a, std::pair<uintptr_t, uintptr_t> b) {
  return a.first < b.second && b.first < a.second;
}

namespace {

const char *dimName(const char *tensor, int d) {
  bool isQ = tensor[0] == 'q' || tensor[0] == 'o';
  switch (d) {
  case kBatch: return "batch";
  case kSeq: return isQ ? "seqlen_q" : "seqlen_k";
  case kHeads: return isQ ? "num_heads" : "num_kv_heads";
  default: return "head_dim";
  }
}

const char *strideName(int d) {
  switch (d) {
  case kBatch: return "batch stride";
  case kSeq: return "row stride";
  case kHeads: return "head stride";
  default: return "head_dim stride";
  }
}

std::string layoutText(const DimNames &names) {
  return names.physical[1] == 1 ? "[batch, seqlen, heads, head_dim] (BSHD)"
                                : "[batch, heads, seqlen, head_dim] (BHSD)";
}

/// "f16 or bf16", "f16, bf16 or f32" (in DType order).
std::string dtypeList(uint32_t dtypes) {
  std::vector<DType> listed;
  for (int i = 0; i < 32; ++i)
    if (dtypes & (1u << i))
      listed.push_back(static_cast<DType>(i));
  std::string text;
  for (size_t i = 0; i < listed.size(); ++i) {
    if (i > 0)
      text += i + 1 == listed.size() ? " or " : ", ";
    text += toString(listed[i]);
  }
  return text;
}

uintptr_t address(const TensorView &t) { return reinterpret_cast<uintptr_t>(t.data()); }

/// Checks of one tensor on its own.
void checkTensor(const char *name, const TensorView &t, const DimNames &names,
                 const AccessRule &access) {
  if (!t.data())
    invalid(fmt::format("{}.data: expected a non-null device pointer, got null", name));
  if (t.deviceKind() != DeviceKind::Cuda)
    invalid(fmt::format("{}.device: expected a CUDA tensor, got {}:{}", name,
                        toString(t.deviceKind()), t.device()));
  if (t.device() < 0)
    invalid(fmt::format("{}.device: expected a device ordinal >= 0, got {}", name, t.device()));
  if (t.rank() != 4)
    invalid(fmt::format("{}.rank: expected 4 ({}), got {}", name, layoutText(names), t.rank()));
  for (int d = 0; d < 4; ++d) {
    int p = names.physical[d];
    if (t.size(d) <= 0)
      invalid(fmt::format("{}.shape[{}] ({}): expected > 0, got {}", name, p, dimName(name, d),
                          t.size(d)));
    if (t.size(d) > std::numeric_limits<int32_t>::max())
      invalid(fmt::format("{}.shape[{}] ({}): expected at most {} (the kernel takes 32-bit "
                          "sizes), got {}",
                          name, p, dimName(name, d), std::numeric_limits<int32_t>::max(),
                          t.size(d)));
  }
  if (t.size(kHeadDim) > 1 && t.stride(kHeadDim) != 1)
    invalid(fmt::format("{}.strides[{}] ({}): expected 1 (head_dim must be contiguous), got {}",
                        name, names.physical[kHeadDim], strideName(kHeadDim), t.stride(kHeadDim)));
  for (int d = 0; d < 3; ++d) {
    int p = names.physical[d];
    // The stride of a size-1 dimension is never multiplied by a non-zero index.
    if (t.size(d) == 1)
      continue;
    if (t.stride(d) < 0)
      invalid(fmt::format("{}.strides[{}] ({}): expected >= 0, got {}", name, p, strideName(d),
                          t.stride(d)));
    if (t.stride(d) % access.strideElems != 0)
      invalid(fmt::format("{}.strides[{}] ({}): expected a multiple of {} elements ({}), got {}",
                          name, p, strideName(d), access.strideElems, access.reason(), t.stride(d)));
  }
  if (address(t) % static_cast<uintptr_t>(access.alignBytes) != 0)
    invalid(fmt::format("{}.data: expected a {}-byte aligned pointer ({}), got {}", name,
                        access.alignBytes, access.reason(), t.data()));
  checkSpan(name, t, &names);
}

bool sameView(const TensorView &a, const TensorView &b) {
  if (a.data() != b.data() || a.dtype() != b.dtype() || !sameShape(a, b))
    return false;
  for (int d = 0; d < a.rank(); ++d)
    if (a.stride(d) != b.stride(d))
      return false;
  return true;
}

} // namespace

bool sameShape(const TensorView &a, const TensorView &b) {
  if (a.rank() != b.rank())
    return false;
  for (int d = 0; d < a.rank(); ++d)
    if (a.size(d) != b.size(d))
      return false;
  return true;
}

void checkSpan(const char *name, const TensorView &t, const DimNames *names) {
  // The kernel computes element offsets in 64-bit arithmetic; so must the span.
  int64_t last = 0;
  for (int d = 0; d < t.rank(); ++d) {
    int64_t stride = t.size(d) == 1 ? 0 : t.stride(d), term = 0;
    if (__builtin_mul_overflow(t.size(d) - 1, stride, &term) ||
        __builtin_add_overflow(last, term, &last))
      invalid(fmt::format("{}: element offsets overflow 64 bits (shape {}, strides [{}])", name,
                          names ? shapeStr(t, *names) : shapeText(t),
                          fmt::join(t.strides(), ", ")));
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(last + 1, int64_t(t.elementSize()), &bytes) ||
      address(t) + static_cast<uint64_t>(bytes) < address(t))
    invalid(fmt::format("{}: the tensor's byte span overflows the address space", name));
}

std::string shapeText(const TensorView &t) { return fmt::format("[{}]", fmt::join(t.shape(), ", ")); }

void checkView(const char *name, const TensorView &t, int rank, const char *dims,
               const char *contiguousLast) {
  if (!t.data())
    invalid(fmt::format("{}.data: expected a non-null device pointer, got null", name));
  if (t.deviceKind() != DeviceKind::Cuda)
    invalid(fmt::format("{}.device: expected a CUDA tensor, got {}:{}", name,
                        toString(t.deviceKind()), t.device()));
  if (t.rank() != rank)
    invalid(fmt::format("{}.rank: expected {} ({}), got {}", name, rank, dims, t.rank()));
  for (int d = 0; d < rank; ++d) {
    if (t.size(d) <= 0)
      invalid(fmt::format("{}.shape[{}]: expected > 0 ({}), got {}", name, d, dims, t.size(d)));
    if (t.size(d) > std::numeric_limits<int32_t>::max())
      invalid(fmt::format("{}.shape[{}]: expected at most {} (the kernel takes 32-bit sizes), "
                          "got {}",
                          name, d, std::numeric_limits<int32_t>::max(), t.size(d)));
    if (t.size(d) > 1 && t.stride(d) < 0)
      invalid(fmt::format("{}.strides[{}]: expected >= 0, got {}", name, d, t.stride(d)));
  }
  if (contiguousLast && t.size(rank - 1) > 1 && t.stride(rank - 1) != 1)
    invalid(fmt::format("{}.strides[{}]: expected 1 ({} must be contiguous), got {}", name,
                        rank - 1, contiguousLast, t.stride(rank - 1)));
  if (address(t) % static_cast<uintptr_t>(t.elementSize()) != 0)
    invalid(fmt::format("{}.data: expected a {}-byte aligned pointer, got {}", name,
                        t.elementSize(), t.data()));
  checkSpan(name, t);
}

/// True when no two elements of `t` share memory (sufficient check: sorted by
/// stride, every stride exceeds the span of the smaller dimensions).
bool isNonOverlapping(const TensorView &t) {
  // (stride, size) of the dims of size > 1, insertion-sorted (rank <= 8).
  std::pair<int64_t, int64_t> dims[TensorView::kMaxRank];
  int n = 0;
  for (int d = 0; d < t.rank(); ++d) {
    if (t.size(d) <= 1)
      continue;
    std::pair<int64_t, int64_t> e{t.stride(d), t.size(d)};
    int i = n++;
    for (; i > 0 && e < dims[i - 1]; --i)
      dims[i] = dims[i - 1];
    dims[i] = e;
  }
  int64_t span = 1;
  for (int i = 0; i < n; ++i) {
    if (dims[i].first < span)
      return false;
    span = dims[i].first * dims[i].second;
  }
  return true;
}

void validateQkvo(const TensorView &q, const TensorView &k, const TensorView &v,
                  const TensorView &out, const DimNames &names, const QkvoRules &rules) {
  checkTensor("q", q, names, rules.access);
  checkTensor("k", k, names, rules.access);
  checkTensor("v", v, names, rules.access);
  checkTensor("out", out, names, rules.access);

  if (!(rules.dtypes & dtypeBit(q.dtype())))
    invalid(fmt::format("q.dtype: expected {}, got {}", dtypeList(rules.dtypes),
                        toString(q.dtype())));
  const std::pair<const char *, const TensorView *> others[] = {
      {"k", &k}, {"v", &v}, {"out", &out}};
  for (auto [name, t] : others) {
    if (t->dtype() != q.dtype())
      invalid(fmt::format("{}.dtype: expected {} (q's dtype), got {}", name, toString(q.dtype()),
                          toString(t->dtype())));
    if (t->device() != q.device())
      invalid(fmt::format("{}.device: expected cuda:{} (q's device), got cuda:{}", name, q.device(),
                          t->device()));
  }

  int64_t headDim = q.size(kHeadDim);
  for (auto [name, t] : {std::pair<const char *, const TensorView *>{"k", &k}, {"v", &v}})
    if (t->size(kHeadDim) != headDim)
      invalid(fmt::format("{}.shape[{}] (head_dim): expected {} (q's head_dim), got {}", name,
                          names.physical[kHeadDim], headDim, t->size(kHeadDim)));
  if (!sameShape(out, q))
    invalid(fmt::format("out.shape: expected {} (q's shape), got {}", shapeStr(q, names),
                        shapeStr(out, names)));
  if (!sameShape(v, k))
    invalid(fmt::format("v.shape: expected {} (k's shape), got {}", shapeStr(k, names),
                        shapeStr(v, names)));
  if (k.size(kBatch) != q.size(kBatch))
    invalid(fmt::format("k.shape[{}] (batch): expected {} (q's batch), got {}",
                        names.physical[kBatch], q.size(kBatch), k.size(kBatch)));
  int64_t heads = q.size(kHeads), kvHeads = k.size(kHeads);
  if (heads % kvHeads != 0)
    invalid(fmt::format("k.shape[{}] (num_kv_heads): expected a divisor of q's num_heads {}, "
                        "got {}",
                        names.physical[kHeads], heads, kvHeads));
  // Grid: (ceil(Sq / blockM), num_heads, batch); y and z are limited to 65535.
  if (heads > 65535)
    invalid(fmt::format("q.shape[{}] (num_heads): expected at most 65535 (grid y limit), got {}",
                        names.physical[kHeads], heads));
  if (q.size(kBatch) > 65535)
    invalid(fmt::format("q.shape[{}] (batch): expected at most 65535 (grid z limit), got {}",
                        names.physical[kBatch], q.size(kBatch)));

  if (!isNonOverlapping(out))
    invalid(fmt::format("out.strides: [{}] make elements of out (shape {}) share memory; out "
                        "must not overlap itself",
                        fmt::join(out.strides(), ", "), shapeStr(out, names)));
  auto outExtent = out.byteExtent();
  for (auto [name, t] :
       {std::pair<const char *, const TensorView *>{"q", &q}, {"k", &k}, {"v", &v}}) {
    if (!overlaps(outExtent, t->byteExtent()))
      continue;
    if (t == &q && sameView(out, q))
      continue; // in place: each block reads its q tile before writing that tile of out
    invalid(fmt::format("out: overlaps {} in memory (out spans {}, {} spans {}); out may be "
                        "exactly q (same pointer, shape and strides) but must not otherwise "
                        "alias q, k or v",
                        name, extentStr(outExtent), name, extentStr(t->byteExtent())));
  }
}

void validateFlashFamilyArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                             const TensorView &out, const float *lse,
                             const std::optional<float> &softmaxScale,
                             const KernelConfig &config, const DimNames &names,
                             const char *variant) {
  static const QkvoRules rules{dtypeBit(DType::F16) | dtypeBit(DType::BF16),
                               {16, 8, "the kernel uses 16-byte vector loads"}};
  validateQkvo(q, k, v, out, names, rules);
  checkLseOutput(lse, q, k, v, out);
  checkScaleAndConfig(softmaxScale, config);
  int64_t headDim = q.size(kHeadDim);
  if (!isSupportedFlashHeadDim(static_cast<int>(headDim)))
    throw Error(ErrorKind::Unsupported,
                fmt::format("q.shape[{}] (head_dim): {} supports head sizes 32, 64, 96, 128, "
                            "160, 192, 224 and 256, got {}",
                            names.physical[kHeadDim], variant, headDim));
}

void checkLseOutput(const float *lseOut, const TensorView &q, const TensorView &k,
                    const TensorView &v, const TensorView &out) {
  if (!lseOut)
    return;
  uintptr_t lse = reinterpret_cast<uintptr_t>(lseOut);
  if (lse % alignof(float) != 0)
    invalid(fmt::format("opts.lse: expected a 4-byte aligned pointer, got {}",
                        static_cast<const void *>(lseOut)));
  // q's checks bound each factor by 2^31 and heads, batch by 2^16.
  uint64_t bytes = static_cast<uint64_t>(q.size(kBatch)) * static_cast<uint64_t>(q.size(kHeads)) *
                   static_cast<uint64_t>(q.size(kSeq)) * sizeof(float);
  std::pair<uintptr_t, uintptr_t> lseExtent{lse, lse + bytes};
  for (auto [name, t] : {std::pair<const char *, const TensorView *>{"out", &out},
                         {"q", &q},
                         {"k", &k},
                         {"v", &v}})
    if (overlaps(lseExtent, t->byteExtent()))
      invalid(fmt::format("opts.lse: overlaps {} in memory (lse [batch, num_heads, seqlen_q] "
                          "fp32 spans {}, {} spans {})",
                          name, extentStr(lseExtent), name, extentStr(t->byteExtent())));
}

void checkScaleAndConfig(const std::optional<float> &softmaxScale, const KernelConfig &c) {
  if (softmaxScale && !std::isfinite(*softmaxScale))
    invalid(fmt::format("opts.softmaxScale: expected a finite value, got {}", *softmaxScale));
  if (c.blockM < 0 || c.blockN < 0 || c.numWarps < 0 || c.stages < 0)
    invalid(fmt::format("opts.config: fields must be >= 0 (0: chosen by the compiler), got {}",
                        c.str()));
}

const LoadedKernel &loadKernelFor(const AttentionSpec &spec, const TensorView &q,
                                  CUstream stream) {
  const LoadedKernel &lk = KernelRuntime::instance().getKernel(spec, stream, q.device());
  if (lk.device != q.device())
    invalid(fmt::format("q.device: the tensors are on cuda:{}, but the stream's context (or, for "
                        "the null stream, the current context) is on device {}",
                        q.device(), lk.device));
  return lk;
}

} // namespace attnjit::detail

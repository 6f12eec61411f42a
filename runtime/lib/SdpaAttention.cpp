//===- SdpaAttention.cpp - PyTorch-style scaled_dot_product_attention -----===//
//
// Part of attnjit. q, k, v and out are checked by the checks shared with
// flashAttention() (AttentionArgs.h) under SDPA's access rule; this file adds
// the SDPA-only parts: f32, head sizes 1..256, the mask and dropout.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/SdpaAttention.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"
#include "attnjit/Runtime/Logging.h"
#include "attnjit/Core/Philox.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <array>
#include <cmath>
#include <cstdint>

namespace attnjit {

using namespace detail;

namespace {

/// Logical dimensions of a mask, whatever its rank.
enum MaskDim { kMaskBatch = 0, kMaskHeads = 1, kMaskRows = 2, kMaskCols = 3 };

/// The logical dimension of each of a mask's dimensions, for ranks 2, 3 and 4.
const MaskDim *maskDims(int rank) {
  static const MaskDim rank2[] = {kMaskBatch, kMaskCols};
  static const MaskDim rank3[] = {kMaskBatch, kMaskRows, kMaskCols};
  static const MaskDim rank4[] = {kMaskBatch, kMaskHeads, kMaskRows, kMaskCols};
  switch (rank) {
  case 2: return rank2;
  case 3: return rank3;
  case 4: return rank4;
  default: return nullptr;
  }
}

const char *maskDimName(MaskDim d) {
  switch (d) {
  case kMaskBatch: return "batch";
  case kMaskHeads: return "num_heads";
  case kMaskRows: return "seqlen_q";
  default: return "seqlen_k";
  }
}

/// The mask's element strides in (batch, head, row, col) order, 0 where the
/// mask broadcasts (a dimension it lacks, or one of size 1). The mask must
/// have rank 2, 3 or 4.
std::array<int64_t, 4> maskStrides(const TensorView &mask) {
  std::array<int64_t, 4> s{0, 0, 0, 0};
  const MaskDim *dims = maskDims(mask.rank());
  for (int d = 0; d < mask.rank(); ++d)
    s[dims[d]] = mask.size(d) == 1 ? 0 : mask.stride(d);
  return s;
}

/// SDPA's access granule for q's head size and dtype. Computed before q is
/// checked, so any head size must do: the granule depends only on
/// head_dim * element size mod 16, hence on head_dim mod 16.
AccessRule sdpaAccessRule(const TensorView &q) {
  int64_t d = q.rank() == 4 ? q.size(kHeadDim) : 16;
  int residue = static_cast<int>(((d % 16) + 16) % 16);
  int elt = q.elementSize();
  int bytes = sdpaAccessBytes(residue == 0 ? 16 : residue, elt);
  AccessRule rule{bytes, bytes / elt};
  rule.headDim = d;
  rule.elementBytes = elt;
  rule.describe = [](const AccessRule &r) {
    return fmt::format("the kernel accesses rows of head_dim {} x {} bytes in {}-byte pieces",
                       r.headDim, r.elementBytes, r.alignBytes);
  };
  return rule;
}

void checkMask(const TensorView &mask, const TensorView &q, const TensorView &k,
               const TensorView &out) {
  const char *name = "opts.mask";
  if (!mask.data())
    invalid(fmt::format("{}.data: expected a non-null device pointer, got null", name));
  if (mask.deviceKind() != DeviceKind::Cuda)
    invalid(fmt::format("{}.device: expected a CUDA tensor on cuda:{} (q's device), got {}:{}",
                        name, q.device(), toString(mask.deviceKind()), mask.device()));
  if (mask.device() != q.device())
    invalid(fmt::format("{}.device: expected cuda:{} (q's device), got cuda:{}", name, q.device(),
                        mask.device()));
  if (mask.dtype() != DType::Bool && mask.dtype() != q.dtype())
    invalid(fmt::format("{}.dtype: expected bool or {} (an additive mask has q's dtype), got {}",
                        name, toString(q.dtype()), toString(mask.dtype())));
  const MaskDim *dims = maskDims(mask.rank());
  if (!dims)
    invalid(fmt::format("{}.rank: expected 2 ([batch, seqlen_k]), 3 ([batch, seqlen_q, "
                        "seqlen_k]) or 4 ([batch, num_heads, seqlen_q, seqlen_k]), got {}",
                        name, mask.rank()));
  const int64_t expected[] = {q.size(kBatch), q.size(kHeads), q.size(kSeq), k.size(kSeq)};
  for (int d = 0; d < mask.rank(); ++d) {
    MaskDim m = dims[d];
    int64_t want = expected[m], got = mask.size(d);
    if (m == kMaskCols && got != want)
      invalid(fmt::format("{}.shape[{}] (seqlen_k): expected {} (k's seqlen_k; the key "
                          "dimension does not broadcast), got {}",
                          name, d, want, got));
    if (got != want && got != 1)
      invalid(fmt::format("{}.shape[{}] ({}): expected {} or 1 (to broadcast), got {}", name, d,
                          maskDimName(m), want, got));
    if (got == 1)
      continue;
    if (m == kMaskCols && mask.stride(d) != 1)
      invalid(fmt::format("{}.strides[{}] (seqlen_k stride): expected 1 (the key dimension must "
                          "be contiguous), got {}",
                          name, d, mask.stride(d)));
    if (mask.stride(d) < 0)
      invalid(fmt::format("{}.strides[{}] ({} stride): expected >= 0, got {}", name, d,
                          maskDimName(m), mask.stride(d)));
  }
  uintptr_t addr = reinterpret_cast<uintptr_t>(mask.data());
  if (addr % static_cast<uintptr_t>(mask.elementSize()) != 0)
    invalid(fmt::format("{}.data: expected a {}-byte aligned pointer (one {} per element), got {}",
                        name, mask.elementSize(), toString(mask.dtype()), mask.data()));
  checkSpan(name, mask);
  auto maskExtent = mask.byteExtent(), outExtent = out.byteExtent();
  if (overlaps(maskExtent, outExtent))
    invalid(fmt::format("{}: overlaps out in memory (mask spans {}, out spans {}); the kernel "
                        "writes out while it reads the mask",
                        name, extentStr(maskExtent), extentStr(outExtent)));
}

void checkDropout(float p) {
  // Written so that NaN fails too.
  if (!(p >= 0.0f && p < 1.0f))
    invalid(fmt::format("opts.dropoutP: expected a drop probability in [0, 1), got {}", p));
}

void validateBshd(const TensorView &q, const TensorView &k, const TensorView &v,
                  const TensorView &out, const SdpaOptions &opts, const DimNames &names) {
  validateQkvo(q, k, v, out, names,
               {dtypeBit(DType::F16) | dtypeBit(DType::BF16) | dtypeBit(DType::F32),
                sdpaAccessRule(q)});
  if (opts.mask)
    checkMask(*opts.mask, q, k, out);
  if (opts.maskTrueHides && (!opts.mask || opts.mask->dtype() != DType::Bool))
    invalid(fmt::format("opts.maskTrueHides: needs a bool mask, got {}",
                        opts.mask ? fmt::format("a {} mask", toString(opts.mask->dtype()))
                                  : std::string("no mask")));
  checkDropout(opts.dropoutP);
  checkScaleAndConfig(opts.softmaxScale, opts.config);
  int64_t headDim = q.size(kHeadDim);
  if (headDim > 256)
    throw Error(ErrorKind::Unsupported,
                fmt::format("q.shape[{}] (head_dim): sdpa supports head sizes 1 to 256, got {}",
                            names.physical[kHeadDim], headDim));
}

/// Loads and launches; the arguments are valid BSHD views.
void launchValidated(const TensorView &q, const TensorView &k, const TensorView &v,
                     const TensorView &out, const SdpaOptions &opts, CUstream stream) {
  AttentionSpec spec = makeSdpaSpec(q, opts);
  const LoadedKernel &lk = loadKernelFor(spec, q, stream);
  SdpaLaunchArgs args = makeSdpaLaunchArgs(q, k, v, out, opts);
  if (logger().should_log(spdlog::level::trace))
    logger().trace("sdpaAttention: {} q {} k {} mask {} dropout {}", spec.kernelName(), q.str(),
                   k.str(), opts.mask ? opts.mask->str() : std::string("none"), opts.dropoutP);
  KernelRuntime::instance().launchSdpa(lk, args, static_cast<int>(q.size(kBatch)), stream);
}

} // namespace

//===----------------------------------------------------------------------===//
// Public entry points
//===----------------------------------------------------------------------===//

void validateSdpaArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, const SdpaOptions &opts) {
  validateBshd(q, k, v, out, opts, DimNames::forLayout(Layout::BSHD));
}

void validateSdpaArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, Layout layout, const SdpaOptions &opts) {
  // The mask is always [B, (H,) (Sq,) Sk]: the layout does not apply to it.
  validateBshd(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout), opts,
               DimNames::forLayout(layout));
}

AttentionSpec makeSdpaSpec(const TensorView &q, const SdpaOptions &opts) {
  AttentionSpec spec;
  spec.variant = Variant::Sdpa;
  spec.headDim = static_cast<int>(q.size(kHeadDim));
  spec.causal = opts.causal;
  spec.dtype = q.dtype();
  spec.config = opts.config;
  if (opts.mask) {
    spec.maskKind = opts.mask->dtype() != DType::Bool ? MaskKind::Additive
                    : opts.maskTrueHides                ? MaskKind::BoolHides
                                                        : MaskKind::Bool;
    spec.maskPerKey = maskStrides(*opts.mask)[kMaskRows] == 0;
  }
  spec.dropout = opts.dropoutP > 0.0f;
  return spec;
}

SdpaLaunchArgs makeSdpaLaunchArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                                  const TensorView &out, const SdpaOptions &opts) {
  SdpaLaunchArgs a;
  FlashOptions flash;
  flash.softmaxScale = opts.softmaxScale;
  a.flash = makeFlashLaunchArgs(q, k, v, out, flash);
  if (opts.mask) {
    std::array<int64_t, 4> s = maskStrides(*opts.mask);
    a.mask = opts.mask->data();
    a.maskBatchStride = s[kMaskBatch];
    a.maskHeadStride = s[kMaskHeads];
    a.maskRowStride = s[kMaskRows];
    a.maskColStride = s[kMaskCols];
  }
  if (opts.dropoutP > 0.0f) {
    a.dropoutThreshold = sdpaDropoutThreshold(opts.dropoutP);
    a.dropoutScale = static_cast<float>(1.0 / (1.0 - static_cast<double>(opts.dropoutP)));
  }
  a.seed = opts.seed;
  a.offset = opts.offset;
  return a;
}

void sdpaAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, const SdpaOptions &opts, CUstream stream) {
  validateSdpaArgs(q, k, v, out, opts);
  launchValidated(q, k, v, out, opts, stream);
}

void sdpaAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, Layout layout, const SdpaOptions &opts,
                   CUstream stream) {
  validateSdpaArgs(q, k, v, out, layout, opts);
  launchValidated(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout),
                  opts, stream);
}

} // namespace attnjit

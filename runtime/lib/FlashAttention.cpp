//===- FlashAttention.cpp - The application-facing flash entry ------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/FlashAttention.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>

namespace attnjit {

using namespace detail;

namespace {

void validateBshd(const TensorView &q, const TensorView &k, const TensorView &v,
                  const TensorView &out, const FlashOptions &opts, const DimNames &names) {
  validateFlashFamilyArgs(q, k, v, out, opts.lse, opts.softmaxScale, opts.config, names,
                          "flash");
}

} // namespace

//===----------------------------------------------------------------------===//
// Public entry points
//===----------------------------------------------------------------------===//

void validateFlashArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                       const TensorView &out, const FlashOptions &opts) {
  validateBshd(q, k, v, out, opts, DimNames::forLayout(Layout::BSHD));
}

void validateFlashArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                       const TensorView &out, Layout layout, const FlashOptions &opts) {
  validateBshd(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout), opts,
               DimNames::forLayout(layout));
}

float flashSoftmaxScale(int headDim, const FlashOptions &opts) {
  if (opts.softmaxScale)
    return *opts.softmaxScale;
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
}

AttentionSpec makeFlashSpec(const TensorView &q, const FlashOptions &opts) {
  AttentionSpec spec;
  spec.variant = Variant::Flash;
  spec.headDim = static_cast<int>(q.size(kHeadDim));
  spec.causal = opts.causal;
  spec.dtype = q.dtype();
  spec.returnLse = opts.lse != nullptr;
  spec.config = opts.config;
  return spec;
}

FlashLaunchArgs makeFlashLaunchArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                                    const TensorView &out, const FlashOptions &opts) {
  FlashLaunchArgs a;
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.o = out.data();
  a.lse = opts.lse;
  a.seqlenQ = static_cast<int32_t>(q.size(kSeq));
  a.seqlenK = static_cast<int32_t>(k.size(kSeq));
  a.numHeads = static_cast<int32_t>(q.size(kHeads));
  a.headRatio = static_cast<int32_t>(q.size(kHeads) / k.size(kHeads));
  a.qBatchStride = q.stride(kBatch);
  a.qRowStride = q.stride(kSeq);
  a.qHeadStride = q.stride(kHeads);
  a.kBatchStride = k.stride(kBatch);
  a.kRowStride = k.stride(kSeq);
  a.kHeadStride = k.stride(kHeads);
  a.vBatchStride = v.stride(kBatch);
  a.vRowStride = v.stride(kSeq);
  a.vHeadStride = v.stride(kHeads);
  a.oBatchStride = out.stride(kBatch);
  a.oRowStride = out.stride(kSeq);
  a.oHeadStride = out.stride(kHeads);
  // The kernel computes exp2(s * scale_log2 - m): log2(e) is folded in here.
  a.scaleLog2 = static_cast<float>(
      static_cast<double>(flashSoftmaxScale(static_cast<int>(q.size(kHeadDim)), opts)) *
      1.4426950408889634);
  return a;
}

namespace {
/// Loads and launches; the arguments are valid BSHD views.
void launchValidated(const TensorView &q, const TensorView &k, const TensorView &v,
                     const TensorView &out, const FlashOptions &opts, CUstream stream) {
  const LoadedKernel &lk = loadKernelFor(makeFlashSpec(q, opts), q, stream);
  FlashLaunchArgs args = makeFlashLaunchArgs(q, k, v, out, opts);
  KernelRuntime::instance().launchFlash(lk, args, static_cast<int>(q.size(kBatch)), stream);
}
} // namespace

void flashAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                    const TensorView &out, const FlashOptions &opts, CUstream stream) {
  validateFlashArgs(q, k, v, out, opts);
  launchValidated(q, k, v, out, opts, stream);
}

void flashAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                    const TensorView &out, Layout layout, const FlashOptions &opts,
                    CUstream stream) {
  validateFlashArgs(q, k, v, out, layout, opts);
  launchValidated(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout),
                  opts, stream);
}

} // namespace attnjit

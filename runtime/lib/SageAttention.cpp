//===- SageAttention.cpp - The application-facing Sage entry --------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/SageAttention.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <limits>

namespace attnjit {

using namespace detail;

namespace {

void validateBshd(const TensorView &q, const TensorView &k, const TensorView &v,
                  const TensorView &out, const SageOptions &opts, const DimNames &names) {
  // The quantize kernels read q, k and v in 16-byte vectors, as flash does.
  validateFlashFamilyArgs(q, k, v, out, opts.lse, opts.softmaxScale, opts.config, names, "sage");
  if (opts.workspace) {
    if (reinterpret_cast<uintptr_t>(opts.workspace) % 256 != 0)
      invalid(fmt::format("opts.workspace: expected a 256-byte aligned device pointer, got {}",
                          opts.workspace));
  } else if (opts.workspaceBytes != 0) {
    invalid(fmt::format("opts.workspaceBytes: {} given without opts.workspace (null: the "
                        "runtime's workspace is used)",
                        opts.workspaceBytes));
  }
  // The kernels index the padded quantized tensors (rows padded to at most
  // 128) with 32-bit row numbers: B * H * Sq_pad and B * Hkv * Sk_pad rows.
  auto rows = [](const TensorView &t) {
    return t.size(kBatch) * t.size(kHeads) * ((t.size(kSeq) + 127) / 128 * 128);
  };
  constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max() / 256;
  if (rows(q) > kMaxRows || rows(k) > kMaxRows)
    invalid(fmt::format("q, k: batch * heads * seqlen (q: {}, k: {} rows, padded to 128) must be "
                        "at most {} for the sage kernels' 32-bit indices",
                        rows(q), rows(k), kMaxRows));
}

/// The softmax scale: opts.softmaxScale or 1/sqrt(D).
float sageSoftmaxScale(int headDim, const SageOptions &opts) {
  if (opts.softmaxScale)
    return *opts.softmaxScale;
  return static_cast<float>(1.0 / std::sqrt(static_cast<double>(headDim)));
}

SageWorkspaceLayout layoutFor(const LoadedKernel &lk, const TensorView &q, const TensorView &k) {
  return sageWorkspaceLayout(lk.kernel->spec, q.size(kBatch), q.size(kHeads), k.size(kHeads),
                             q.size(kSeq), k.size(kSeq));
}

/// Loads and launches; the arguments are valid BSHD views.
void launchValidated(const TensorView &q, const TensorView &k, const TensorView &v,
                     const TensorView &out, const SageOptions &opts, CUstream stream) {
  KernelRuntime &rt = KernelRuntime::instance();
  const LoadedKernel &lk = loadKernelFor(makeSageSpec(q, opts), q, stream);
  SageWorkspaceLayout w = layoutFor(lk, q, k);
  CUdeviceptr base;
  if (opts.workspace) {
    if (opts.workspaceBytes < w.totalBytes)
      invalid(fmt::format("opts.workspaceBytes: this launch needs {} bytes of workspace, got {}",
                          w.totalBytes, opts.workspaceBytes));
    base = reinterpret_cast<CUdeviceptr>(opts.workspace);
  } else {
    base = rt.workspace(lk, w.totalBytes, stream);
  }
  auto at = [&](uint64_t off) { return reinterpret_cast<void *>(base + off); };

  SageLaunchArgs a;
  a.q = q.data();
  a.k = k.data();
  a.v = v.data();
  a.o = out.data();
  a.lse = opts.lse;
  a.qI8 = at(w.qI8);
  a.qScale = at(w.qScale);
  a.qKmean = at(w.qKmean);
  a.kI8 = at(w.kI8);
  a.kScale = at(w.kScale);
  a.vF8 = at(w.vF8);
  a.vScale = at(w.vScale);
  a.kSumPart = at(w.kSumPart);
  a.vMaxPart = at(w.vMaxPart);
  a.kRangePart = at(w.kRangePart);
  a.kChan = at(w.kChan);
  a.seqlenQ = static_cast<int32_t>(q.size(kSeq));
  a.seqlenK = static_cast<int32_t>(k.size(kSeq));
  a.numHeads = static_cast<int32_t>(q.size(kHeads));
  a.numKvHeads = static_cast<int32_t>(k.size(kHeads));
  a.headRatio = a.numHeads / a.numKvHeads;
  a.seqlenQPad = static_cast<int32_t>(w.seqQPad);
  a.seqlenKPad = static_cast<int32_t>(w.seqKPad);
  a.reduceChunks = w.reduceChunks;
  a.reduceRows = w.reduceRows;
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
  a.scaleLog2 = static_cast<float>(
      static_cast<double>(sageSoftmaxScale(static_cast<int>(q.size(kHeadDim)), opts)) *
      1.4426950408889634);

  void *params[kNumSageParams];
  a.fillParamPointers(params);
  int batch = static_cast<int>(q.size(kBatch));
  // reduce: one CTA per key chunk (its block rows are 1); quant_kv: per key
  // block of K and V; quant_q and attend: per query block of Q.
  rt.launch(lk, 0, params, LaunchDims{w.reduceChunks, a.numKvHeads, batch}, stream);
  rt.launch(lk, 1, params, LaunchDims{a.seqlenK, a.numKvHeads, batch}, stream);
  rt.launch(lk, 2, params, LaunchDims{a.seqlenQ, a.numHeads, batch}, stream);
  rt.launch(lk, 3, params, LaunchDims{a.seqlenQ, a.numHeads, batch}, stream);
}

} // namespace

void validateSageArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, const SageOptions &opts) {
  validateBshd(q, k, v, out, opts, DimNames::forLayout(Layout::BSHD));
}

void validateSageArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, Layout layout, const SageOptions &opts) {
  validateBshd(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout), opts,
               DimNames::forLayout(layout));
}

AttentionSpec makeSageSpec(const TensorView &q, const SageOptions &opts) {
  AttentionSpec spec;
  spec.variant = Variant::Sage;
  spec.headDim = static_cast<int>(q.size(kHeadDim));
  spec.causal = opts.causal;
  spec.dtype = q.dtype();
  spec.returnLse = opts.lse != nullptr;
  spec.granularity = opts.granularity;
  spec.smoothK = opts.smoothK;
  spec.pvAccum = opts.pvAccum;
  spec.config = opts.config;
  return spec;
}

uint64_t sageWorkspaceBytes(const TensorView &q, const TensorView &k, const TensorView &v,
                            const TensorView &out, Layout layout, const SageOptions &opts,
                            CUstream stream) {
  validateSageArgs(q, k, v, out, layout, opts);
  TensorView qb = toBshd(q, layout), kb = toBshd(k, layout);
  return layoutFor(loadKernelFor(makeSageSpec(qb, opts), qb, stream), qb, kb).totalBytes;
}

void sageAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, const SageOptions &opts, CUstream stream) {
  validateSageArgs(q, k, v, out, opts);
  launchValidated(q, k, v, out, opts, stream);
}

void sageAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, Layout layout, const SageOptions &opts,
                   CUstream stream) {
  validateSageArgs(q, k, v, out, layout, opts);
  launchValidated(toBshd(q, layout), toBshd(k, layout), toBshd(v, layout), toBshd(out, layout),
                  opts, stream);
}

} // namespace attnjit

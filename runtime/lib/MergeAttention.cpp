//===- MergeAttention.cpp - Merge partial attention outputs by LSE --------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/MergeAttention.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>
#include <limits>

namespace attnjit {

using namespace detail;

void validateMergeArgs(const TensorView &parts, const TensorView &partsLse, const TensorView &out,
                       const MergeOptions &opts) {
  checkView("parts", parts, 5, "[parts, batch, seqlen, heads, head_dim]", "head_dim");
  checkView("parts_lse", partsLse, 4, "[parts, batch, heads, seqlen]", nullptr);
  checkView("out", out, 4, "[batch, seqlen, heads, head_dim]", "head_dim");
  if (parts.dtype() != DType::F16 && parts.dtype() != DType::BF16 && parts.dtype() != DType::F32)
    invalid(fmt::format("parts.dtype: expected f16, bf16 or f32, got {}", toString(parts.dtype())));
  if (partsLse.dtype() != DType::F32)
    invalid(fmt::format("parts_lse.dtype: expected f32, got {}", toString(partsLse.dtype())));
  if (out.dtype() != parts.dtype())
    invalid(fmt::format("out.dtype: expected parts' dtype {}, got {}", toString(parts.dtype()),
                        toString(out.dtype())));
  for (auto [name, t] : {std::pair<const char *, const TensorView *>{"parts_lse", &partsLse},
                         {"out", &out}})
    if (t->device() != parts.device())
      invalid(fmt::format("{}.device: expected cuda:{} (parts'), got cuda:{}", name,
                          parts.device(), t->device()));
  // parts [P, B, S, H, D]; parts_lse [P, B, H, S]; out [B, S, H, D].
  const int64_t P = parts.size(0), B = parts.size(1), S = parts.size(2), H = parts.size(3),
                D = parts.size(4);
  if (D > 256)
    throw Error(ErrorKind::Unsupported,
                fmt::format("parts.shape[4] (head_dim): merge supports 1..256, got {}", D));
  auto requireShape = [&](const char *name, const TensorView &t, std::vector<int64_t> want,
                          const char *dims) {
    if (t.shape() != want)
      invalid(fmt::format("{}.shape: expected [{}] ({} of parts {}), got {}", name,
                          fmt::join(want, ", "), dims, shapeText(parts), shapeText(t)));
  };
  requireShape("parts_lse", partsLse, {P, B, H, S}, "[parts, batch, heads, seqlen]");
  requireShape("out", out, {B, S, H, D}, "[batch, seqlen, heads, head_dim]");
  if (H > 65535 || B > 65535)
    invalid(fmt::format("parts.shape: heads and batch must be at most 65535 (grid y and z), "
                        "got heads {} and batch {}",
                        H, B));
  if (!isNonOverlapping(out))
    invalid(fmt::format("out: its elements overlap each other (shape {}, strides [{}])",
                        shapeText(out), fmt::join(out.strides(), ", ")));
  for (auto [name, t] : {std::pair<const char *, const TensorView *>{"parts", &parts},
                         {"parts_lse", &partsLse}})
    if (overlaps(out.byteExtent(), t->byteExtent()))
      invalid(fmt::format("out: overlaps {} in memory (out spans {}, {} spans {})", name,
                          extentStr(out.byteExtent()), name, extentStr(t->byteExtent())));
  if (opts.lse) {
    uintptr_t lse = reinterpret_cast<uintptr_t>(opts.lse);
    if (lse % alignof(float) != 0)
      invalid(fmt::format("opts.lse: expected a 4-byte aligned pointer, got {}",
                          static_cast<void *>(opts.lse)));
    std::pair<uintptr_t, uintptr_t> extent{lse, lse + uint64_t(B) * H * S * sizeof(float)};
    for (auto [name, t] : {std::pair<const char *, const TensorView *>{"out", &out},
                           {"parts", &parts},
                           {"parts_lse", &partsLse}})
      if (overlaps(extent, t->byteExtent()))
        invalid(fmt::format("opts.lse: overlaps {} in memory (lse [batch, heads, seqlen] fp32 "
                            "spans {}, {} spans {})",
                            name, extentStr(extent), name, extentStr(t->byteExtent())));
  }
  checkScaleAndConfig(std::nullopt, opts.config);
}

AttentionSpec makeMergeSpec(const TensorView &parts, const MergeOptions &opts) {
  AttentionSpec spec;
  spec.variant = Variant::Merge;
  spec.headDim = static_cast<int>(parts.size(4));
  spec.dtype = parts.dtype();
  spec.returnLse = opts.lse != nullptr;
  spec.config = opts.config;
  return spec;
}

MergeLaunchArgs makeMergeLaunchArgs(const TensorView &parts, const TensorView &partsLse,
                                    const TensorView &out, const MergeOptions &opts) {
  MergeLaunchArgs a;
  a.parts = parts.data();
  a.partsLse = partsLse.data();
  a.o = out.data();
  a.lse = opts.lse;
  a.numParts = static_cast<int32_t>(parts.size(0));
  a.seqlen = static_cast<int32_t>(parts.size(2));
  a.numHeads = static_cast<int32_t>(parts.size(3));
  a.partStride = parts.stride(0);
  a.partBatchStride = parts.stride(1);
  a.partRowStride = parts.stride(2);
  a.partHeadStride = parts.stride(3);
  a.lsePartStride = partsLse.stride(0);
  a.lseBatchStride = partsLse.stride(1);
  a.lseHeadStride = partsLse.stride(2);
  a.lseRowStride = partsLse.stride(3);
  a.oBatchStride = out.stride(0);
  a.oRowStride = out.stride(1);
  a.oHeadStride = out.stride(2);
  return a;
}

void mergeAttentionStates(const TensorView &parts, const TensorView &partsLse,
                          const TensorView &out, const MergeOptions &opts, CUstream stream) {
  validateMergeArgs(parts, partsLse, out, opts);
  const LoadedKernel &lk = loadKernelFor(makeMergeSpec(parts, opts), parts, stream);
  MergeLaunchArgs args = makeMergeLaunchArgs(parts, partsLse, out, opts);
  void *params[kNumMergeParams];
  args.fillParamPointers(params);
  KernelRuntime::instance().launch(
      lk, 0, params, LaunchDims{args.seqlen, args.numHeads, static_cast<int>(parts.size(1))},
      stream);
}

} // namespace attnjit

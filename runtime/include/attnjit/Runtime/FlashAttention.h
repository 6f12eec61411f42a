//===- FlashAttention.h - The application-facing flash entry -----*- C++ -*-===//
//
// Part of attnjit. flashAttention() checks its arguments completely, before
// anything is loaded or launched, then fetches the kernel for the spec the
// arguments imply (compiling it on first use when the JIT is linked) and
// launches it on the caller's stream. It allocates nothing and synchronizes
// nothing, so it may be captured into a CUDA graph once the kernel is loaded.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_FLASHATTENTION_H
#define ATTNJIT_RUNTIME_FLASHATTENTION_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/FlashKernelABI.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <optional>

namespace attnjit {

/// Order of the dimensions of q, k, v and out.
enum class Layout {
  BSHD, ///< [batch, seqlen, heads, head_dim]
  BHSD, ///< [batch, heads, seqlen, head_dim]
};

struct FlashOptions {
  /// Causal mask aligned bottom-right (FlashAttention-2): key j is visible to
  /// query i iff j <= i + seqlen_k - seqlen_q; fully masked rows output 0.
  bool causal = false;
  /// Defaults to 1/sqrt(head_dim).
  std::optional<float> softmaxScale;
  /// Optional fp32 [batch, num_heads, seqlen_q] contiguous output: the
  /// natural-log log-sum-exp of each row's scaled scores. 4-byte aligned.
  float *lse = nullptr;
  /// Zero fields are chosen by the compiler.
  KernelConfig config;
};

/// Checks everything flashAttention() checks, without a driver or a device.
/// q [B, Sq, H, D], k and v [B, Sk, Hkv, D], out like q (BSHD order; a BHSD
/// tensor can be passed as a view with permuted strides, or use the Layout
/// overload). Throws InvalidArgument naming the tensor and field, with the
/// expected and the actual value; Unsupported for a head size no kernel
/// serves. `out` may be exactly `q` (same pointer, shape and strides): each
/// block reads its query tile before writing the same tile of the output; any
/// other overlap of out with q, k, v or lse is rejected.
void validateFlashArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                       const TensorView &out, const FlashOptions &opts);
void validateFlashArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                       const TensorView &out, Layout layout, const FlashOptions &opts);

/// The softmax scale flashAttention() uses: opts.softmaxScale or 1/sqrt(D).
float flashSoftmaxScale(int headDim, const FlashOptions &opts);
/// The spec flashAttention() asks the runtime for (arch left to the runtime).
/// Arguments must be valid BSHD views.
AttentionSpec makeFlashSpec(const TensorView &q, const FlashOptions &opts);
/// The kernel arguments flashAttention() passes (scale_log2 = scale * log2(e)).
/// Arguments must be valid BSHD views.
FlashLaunchArgs makeFlashLaunchArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                                    const TensorView &out, const FlashOptions &opts);

/// out = softmax(q k^T * scale [+ causal mask]) v for BSHD views, with grouped
/// query attention when Hkv < H (head h reads K/V head h / (H / Hkv)).
/// Validates everything before launching anything; runs in the context of
/// `stream` (for the null stream: the current context, else the primary
/// context of q's device, made current), which must be on q's device.
void flashAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                    const TensorView &out, const FlashOptions &opts, CUstream stream);
/// The same for tensors in `layout` order.
void flashAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                    const TensorView &out, Layout layout, const FlashOptions &opts,
                    CUstream stream);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_FLASHATTENTION_H

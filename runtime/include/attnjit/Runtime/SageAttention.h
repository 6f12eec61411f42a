//===- SageAttention.h - The application-facing Sage entry -------*- C++ -*-===//
//
// Part of attnjit. sageAttention() computes attention as flashAttention() does
// (same tensors, layouts, GQA, bottom-right causal alignment, softmax_scale,
// optional LSE) with SageAttention2's quantization: Q and K in INT8 (K
// smoothed by its mean over the keys), P and V in FP8 e4m3 (docs/SAGE.md).
// It checks its arguments completely before anything is loaded or launched,
// then launches the spec's four-kernel plan (reduce, quantize K/V, quantize Q,
// attend; SageKernelABI.h) on the caller's stream. The quantized tensors live
// in a workspace: the runtime's per-stream buffer (KernelRuntime::workspace),
// or the caller's. Nothing is allocated once the workspace is large enough and
// nothing synchronizes, so a launch may be captured into a CUDA graph after
// reserveWorkspace (or with the caller's workspace).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_SAGEATTENTION_H
#define ATTNJIT_RUNTIME_SAGEATTENTION_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/SageKernelABI.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <cstdint>
#include <optional>

namespace attnjit {

struct SageOptions {
  /// As FlashOptions::causal: key j is visible to query i iff
  /// j <= i + seqlen_k - seqlen_q; fully masked rows output 0.
  bool causal = false;
  /// Defaults to 1/sqrt(head_dim). Folded into Q's INT8 scales.
  std::optional<float> softmaxScale;
  /// Optional fp32 [batch, num_heads, seqlen_q] contiguous output, 4-byte
  /// aligned: the natural-log log-sum-exp of each row's scaled scores (of the
  /// unsmoothed K: smooth_k's shift is added back).
  float *lse = nullptr;
  Granularity granularity = Granularity::PerThread;
  bool smoothK = true;
  PvAccum pvAccum = PvAccum::Fp32Fp32;
  /// Zero fields are chosen by the compiler.
  KernelConfig config;
  /// The caller's workspace (device memory of q's device, 256-byte aligned,
  /// at least sageWorkspaceBytes()); null: the runtime's per-stream one.
  void *workspace = nullptr;
  uint64_t workspaceBytes = 0;
};

/// Checks everything sageAttention() checks, without a driver or a device:
/// flashAttention's checks of q, k, v, out and lse, the Sage options, the
/// caller's workspace pointer, and the 32-bit limits of the quantized tensors'
/// indices. Throws InvalidArgument naming the field; Unsupported for a head
/// size the kernels do not serve.
void validateSageArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, const SageOptions &opts);
void validateSageArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, Layout layout, const SageOptions &opts);

/// The spec sageAttention() asks the runtime for (arch left to the runtime).
AttentionSpec makeSageSpec(const TensorView &q, const SageOptions &opts);

/// Workspace bytes of a launch with these (valid) arguments: loads the kernel
/// (its config fixes the padding and the scale groups) in the context of
/// `stream`. Use it to size SageOptions::workspace or reserveWorkspace().
uint64_t sageWorkspaceBytes(const TensorView &q, const TensorView &k, const TensorView &v,
                            const TensorView &out, Layout layout, const SageOptions &opts,
                            CUstream stream);

/// out = softmax(q k^T * scale [+ causal mask]) v, quantized as above, for
/// tensors in `layout` order (BSHD by default). Validates everything before
/// launching anything; runs in the context of `stream` (for the null stream:
/// the current context, else the primary context of q's device).
void sageAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, const SageOptions &opts, CUstream stream);
void sageAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, Layout layout, const SageOptions &opts,
                   CUstream stream);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_SAGEATTENTION_H

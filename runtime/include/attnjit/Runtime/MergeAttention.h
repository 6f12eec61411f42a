//===- MergeAttention.h - Merge partial attention outputs by LSE -*- C++ -*-===//
//
// Part of attnjit. Split-KV decoding and ring attention compute attention over
// disjoint key sets of the same queries and keep each part's log-sum-exp; this
// entry combines them (MergeKernelABI.h) into the attention over all keys.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_MERGEATTENTION_H
#define ATTNJIT_RUNTIME_MERGEATTENTION_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/MergeKernelABI.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

namespace attnjit {

struct MergeOptions {
  /// Optional fp32 [batch, num_heads, seqlen] contiguous output: the merged
  /// natural-log log-sum-exp (-inf for rows no part saw a key of). 4-byte aligned.
  float *lse = nullptr;
  /// Zero fields are chosen by the compiler (block_m = warps = rows per CTA).
  KernelConfig config;
};

/// Checks everything mergeAttentionStates() checks, without a driver:
/// parts [P, B, S, H, D] (f16, bf16 or f32; D contiguous, 1..256), partsLse
/// fp32 [P, B, H, S] (any strides, the lse the attention kernels write, one per
/// part), out [B, S, H, D] with parts' dtype (D contiguous; must not overlap
/// the inputs). Throws InvalidArgument naming the tensor and field.
void validateMergeArgs(const TensorView &parts, const TensorView &partsLse, const TensorView &out,
                       const MergeOptions &opts);
/// The spec and kernel arguments mergeAttentionStates() uses (valid arguments).
AttentionSpec makeMergeSpec(const TensorView &parts, const MergeOptions &opts);
MergeLaunchArgs makeMergeLaunchArgs(const TensorView &parts, const TensorView &partsLse,
                                    const TensorView &out, const MergeOptions &opts);

/// out = sum_p exp(lse_p - lse) parts[p], lse = log sum_p exp(lse_p), per row
/// (b, s, h). A part with lse_p = -inf saw no key and contributes nothing
/// (whatever parts[p] holds there); a row with no part that saw a key gets
/// zeros and lse = -inf. Validates before launching; runs on `stream`.
void mergeAttentionStates(const TensorView &parts, const TensorView &partsLse,
                          const TensorView &out, const MergeOptions &opts, CUstream stream);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_MERGEATTENTION_H

//===- MergeKernelABI.h - Parameters of the LSE-merge kernels ----*- C++ -*-===//
//
// Part of attnjit. The merge kernel combines P partial attention outputs of the
// same queries over disjoint key sets (split-KV decode, ring attention), each
// with its log-sum-exp, into the output over all keys:
//   lse = log(sum_p exp(lse_p)),  o = sum_p exp(lse_p - lse) * o_p.
// A part whose lse_p is -inf saw no key and contributes nothing (its o_p is
// not read into the result, whatever it holds); a row whose parts all saw no
// key outputs zeros and lse -inf, as the attention kernels do.
//
// The emitter builds its signature from kMergeParams and the launcher fills a
// MergeLaunchArgs in the same order. Bump kMergeAbiVersion on any change.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_MERGEKERNELABI_H
#define ATTNJIT_CORE_MERGEKERNELABI_H

#include "attnjit/Core/FlashKernelABI.h"

namespace attnjit {

inline constexpr int kMergeAbiVersion = 1;

/// Parameters in order. Strides are in elements. parts[p] of row (b, s, h) is
/// at parts + p*part_stride + b*part_batch_stride + s*part_row_stride +
/// h*part_head_stride (q's dtype); its lse at parts_lse + p*lse_part_stride +
/// b*lse_batch_stride + h*lse_head_stride + s*lse_row_stride (fp32). lse is
/// fp32 [B, H, S] contiguous (null unless the kernel writes it). Grid: x =
/// ceil(seqlen / rows per CTA), y = num_heads, z = batch.
inline constexpr AbiParam kMergeParams[] = {
    {"parts", AbiType::Ptr},          {"parts_lse", AbiType::Ptr},
    {"o", AbiType::Ptr},              {"lse", AbiType::Ptr},
    {"num_parts", AbiType::I32},      {"seqlen", AbiType::I32},
    {"num_heads", AbiType::I32},
    {"part_stride", AbiType::I64},    {"part_batch_stride", AbiType::I64},
    {"part_row_stride", AbiType::I64}, {"part_head_stride", AbiType::I64},
    {"lse_part_stride", AbiType::I64}, {"lse_batch_stride", AbiType::I64},
    {"lse_head_stride", AbiType::I64}, {"lse_row_stride", AbiType::I64},
    {"o_batch_stride", AbiType::I64}, {"o_row_stride", AbiType::I64},
    {"o_head_stride", AbiType::I64},
};
inline constexpr size_t kNumMergeParams = sizeof(kMergeParams) / sizeof(kMergeParams[0]);

/// Host-side argument block, field order identical to kMergeParams.
struct MergeLaunchArgs {
  const void *parts = nullptr, *partsLse = nullptr;
  void *o = nullptr, *lse = nullptr;
  int32_t numParts = 0, seqlen = 0, numHeads = 0;
  int64_t partStride = 0, partBatchStride = 0, partRowStride = 0, partHeadStride = 0;
  int64_t lsePartStride = 0, lseBatchStride = 0, lseHeadStride = 0, lseRowStride = 0;
  int64_t oBatchStride = 0, oRowStride = 0, oHeadStride = 0;

  void fillParamPointers(void *out[kNumMergeParams]) {
    void *ptrs[] = {&parts, &partsLse, &o, &lse, &numParts, &seqlen, &numHeads,
                    &partStride, &partBatchStride, &partRowStride, &partHeadStride,
                    &lsePartStride, &lseBatchStride, &lseHeadStride, &lseRowStride,
                    &oBatchStride, &oRowStride, &oHeadStride};
    static_assert(sizeof(ptrs) / sizeof(ptrs[0]) == kNumMergeParams, "ABI table mismatch");
    for (size_t i = 0; i < kNumMergeParams; ++i)
      out[i] = ptrs[i];
  }
};

} // namespace attnjit

#endif // ATTNJIT_CORE_MERGEKERNELABI_H

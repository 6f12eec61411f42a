//===- FlashKernelABI.h - Parameters of the generated flash kernel -*- C++ -*-===//
//
// Part of attnjit. The one place that fixes the parameter list of every
// generated flash-attention kernel. The kernel emitter (kernels/) builds its
// function signature from kFlashParams and the launcher (runtime/) fills a
// FlashLaunchArgs in the same order; a unit test checks the PTX signature against
// this table. Bump kFlashAbiVersion on any change: it is part of the cache key.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_FLASHKERNELABI_H
#define ATTNJIT_CORE_FLASHKERNELABI_H

#include <cstddef>
#include <cstdint>

namespace attnjit {

inline constexpr int kFlashAbiVersion = 2;

/// Types of kernel parameters. TensorMap is a CUtensorMap passed by value
/// (`.param .align 64 .b8 name[128]`), for TMA kernels; no table uses it yet,
/// so adding it changed no signature and kFlashAbiVersion stays.
enum class AbiType { Ptr, I32, I64, F32, TensorMap };

struct AbiParam {
  const char *name;
  AbiType type;
};

/// Kernel parameters in order. Strides are in elements. Grid: x = ceil(Sq/blockM),
/// y = num_heads, z = batch. Head h reads K/V head h / head_ratio.
inline constexpr AbiParam kFlashParams[] = {
    {"q", AbiType::Ptr},          {"k", AbiType::Ptr},
    {"v", AbiType::Ptr},          {"o", AbiType::Ptr},
    {"lse", AbiType::Ptr},        // fp32 [B, H, Sq] contiguous; may be null if unused
    {"seqlen_q", AbiType::I32},   {"seqlen_k", AbiType::I32},
    {"num_heads", AbiType::I32},  {"head_ratio", AbiType::I32},
    {"q_batch_stride", AbiType::I64}, {"q_row_stride", AbiType::I64}, {"q_head_stride", AbiType::I64},
    {"k_batch_stride", AbiType::I64}, {"k_row_stride", AbiType::I64}, {"k_head_stride", AbiType::I64},
    {"v_batch_stride", AbiType::I64}, {"v_row_stride", AbiType::I64}, {"v_head_stride", AbiType::I64},
    {"o_batch_stride", AbiType::I64}, {"o_row_stride", AbiType::I64}, {"o_head_stride", AbiType::I64},
    {"scale_log2", AbiType::F32}, // softmax_scale * log2(e)
};
inline constexpr size_t kNumFlashParams = sizeof(kFlashParams) / sizeof(kFlashParams[0]);

/// Parameters the sm_90a flash recipe appends to kFlashParams: TMA tensor maps
/// of q, k and v (CUtensorMap by value), then the batch size. Each map
/// describes its tensor as rank 4, dimensions (head_dim, seq, heads, batch)
/// innermost first with the byte strides of the row, head and batch; a box of
/// (64, block_m) for q and (64, block_n) for k and v; 128-byte swizzle;
/// out-of-bounds elements read as zeros. Head sizes below a multiple of 64 read
/// zero columns. The output and LSE are written through the plain pointers and
/// strides of kFlashParams. The kernel is persistent: its grid is what the GPU
/// holds at once, and each CTA walks the tiles (query block, head, batch),
/// which it counts from seqlen_q, num_heads and num_batch. Kernels with these
/// parameters say so in their launch plan. Version 2 added num_batch (version
/// 1's sm_90a kernels took their batch from the grid).
inline constexpr AbiParam kFlashSm90Params[] = {{"tm_q", AbiType::TensorMap},
                                                {"tm_k", AbiType::TensorMap},
                                                {"tm_v", AbiType::TensorMap},
                                                {"num_batch", AbiType::I32}};
inline constexpr size_t kNumFlashSm90Params =
    sizeof(kFlashSm90Params) / sizeof(kFlashSm90Params[0]);
/// Of those, the tensor maps (the first three).
inline constexpr size_t kNumFlashTmaMaps = 3;
/// Columns of one TMA box (128 bytes of 16-bit elements, the 128B swizzle's row).
inline constexpr int kFlashTmaBoxCols = 64;

/// Host-side argument block, field order identical to kFlashParams.
struct FlashLaunchArgs {
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void *o = nullptr;
  void *lse = nullptr;
  int32_t seqlenQ = 0, seqlenK = 0, numHeads = 0, headRatio = 1;
  int64_t qBatchStride = 0, qRowStride = 0, qHeadStride = 0;
  int64_t kBatchStride = 0, kRowStride = 0, kHeadStride = 0;
  int64_t vBatchStride = 0, vRowStride = 0, vHeadStride = 0;
  int64_t oBatchStride = 0, oRowStride = 0, oHeadStride = 0;
  float scaleLog2 = 0;

  /// Pointers to each field in kFlashParams order, as cuLaunchKernel wants them.
  void fillParamPointers(void *out[kNumFlashParams]) {
    void *ptrs[] = {&q, &k, &v, &o, &lse, &seqlenQ, &seqlenK, &numHeads, &headRatio,
                    &qBatchStride, &qRowStride, &qHeadStride, &kBatchStride, &kRowStride,
                    &kHeadStride, &vBatchStride, &vRowStride, &vHeadStride, &oBatchStride,
                    &oRowStride, &oHeadStride, &scaleLog2};
    static_assert(sizeof(ptrs) / sizeof(ptrs[0]) == kNumFlashParams, "ABI table mismatch");
    for (size_t i = 0; i < kNumFlashParams; ++i)
      out[i] = ptrs[i];
  }
};

} // namespace attnjit

#endif // ATTNJIT_CORE_FLASHKERNELABI_H

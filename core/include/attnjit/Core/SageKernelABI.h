//===- SageKernelABI.h - Parameters and workspace of the Sage plan -*- C++ -*-===//
//
// Part of attnjit. A Sage spec compiles to a launch plan of four kernels,
// launched in this order on the caller's stream (docs/SAGE.md):
//
//   0 reduce     grid (chunks, Hkv, B): per chunk of keys, the per-channel sum
//                of K (for its mean), max and min of K (for its channel
//                factor) and max |V| (V's FP8 scale), to k_sum_part,
//                k_range_part and v_max_part.
//   1 quant_kv   grid (Sk_pad / block_n, Hkv, B): each channel's factor
//                f_c = sqrt(max |K'_c|), K' = K minus its mean (smooth_k) or
//                K, to k_chan (with the mean: the LSE's corrections need it
//                in either mode); K'_c / f_c to INT8 with
//                one scale per granularity group; V to FP8 e4m3 with one scale
//                per channel, as V_hi + V_lo / 16 (V_lo: e4m3 of 16 times what
//                V_hi's rounding lost), stored transposed (v_f8 [B, Hkv, 2, D,
//                Sk_pad], plane 0 V_hi, plane 1 V_lo) with the keys of every
//                16-key group permuted so that the attention kernel's P
//                fragment is the e4m3 MMA's A operand as it is.
//   2 quant_q    grid (Sq_pad / block_m, H, B): Q_c * f_c to INT8 (so the
//                product of the two is Q K'^T), softmax_scale * log2(e) folded
//                into its scales; with lse, each row's LSE correction (the
//                part of the scores the INT8 product does not carry: q . mean
//                with smooth_k, Q's rounding residual against the mean
//                without), natural-log units, to q_kmean.
//   3 attend     grid (Sq_pad / block_m, H, B): INT8 Q K^T, exp2 online
//                softmax, FP8 P V.
//
// All four share one parameter table, kSageParams; each reads what it needs.
// The workspace (quantized tensors, scales, partial sums) is one buffer that
// the entry point carves with sageWorkspaceLayout; its pointers are passed as
// parameters. Bump kSageAbiVersion on any change of the table or the layout.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_SAGEKERNELABI_H
#define ATTNJIT_CORE_SAGEKERNELABI_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/FlashKernelABI.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace attnjit {

inline constexpr int kSageAbiVersion = 2;
/// Kernels of a Sage plan, in launch order.
inline constexpr int kSageNumKernels = 4;
inline constexpr const char *kSageKernelSuffixes[kSageNumKernels] = {"_reduce", "_quant_kv",
                                                                     "_quant_q", ""};
/// The reduce kernel splits the keys into at most this many chunks (each CTA
/// of the quant_kv kernel reads every chunk's partial sums).
inline constexpr int kSageMaxReduceChunks = 16;
/// Keys per reduce chunk below which no further chunk is made.
inline constexpr int kSageMinReduceRows = 512;
/// FP8 e4m3's largest finite value: V is scaled to it per channel, and P
/// (in [0, 1]) is scaled by it before conversion and unscaled in the epilogue.
inline constexpr float kSageFp8Max = 448.0f;

/// Parameters in order. Strides are in elements of q, k, v and out; the
/// workspace tensors are dense (layouts in SageWorkspaceLayout). Head h reads
/// K/V head h / head_ratio.
inline constexpr AbiParam kSageParams[] = {
    {"q", AbiType::Ptr},          {"k", AbiType::Ptr},
    {"v", AbiType::Ptr},          {"o", AbiType::Ptr},
    {"lse", AbiType::Ptr}, // fp32 [B, H, Sq] contiguous; may be null if unused
    {"q_i8", AbiType::Ptr},       {"q_scale", AbiType::Ptr},
    {"q_kmean", AbiType::Ptr},    {"k_i8", AbiType::Ptr},
    {"k_scale", AbiType::Ptr},    {"v_f8", AbiType::Ptr},
    {"v_scale", AbiType::Ptr},    {"k_sum_part", AbiType::Ptr},
    {"v_max_part", AbiType::Ptr},
    {"k_range_part", AbiType::Ptr}, {"k_chan", AbiType::Ptr},
    {"seqlen_q", AbiType::I32},   {"seqlen_k", AbiType::I32},
    {"num_heads", AbiType::I32},  {"head_ratio", AbiType::I32},
    {"num_kv_heads", AbiType::I32},
    {"seqlen_q_pad", AbiType::I32}, {"seqlen_k_pad", AbiType::I32},
    {"reduce_chunks", AbiType::I32}, {"reduce_rows", AbiType::I32},
    {"q_batch_stride", AbiType::I64}, {"q_row_stride", AbiType::I64}, {"q_head_stride", AbiType::I64},
    {"k_batch_stride", AbiType::I64}, {"k_row_stride", AbiType::I64}, {"k_head_stride", AbiType::I64},
    {"v_batch_stride", AbiType::I64}, {"v_row_stride", AbiType::I64}, {"v_head_stride", AbiType::I64},
    {"o_batch_stride", AbiType::I64}, {"o_row_stride", AbiType::I64}, {"o_head_stride", AbiType::I64},
    {"scale_log2", AbiType::F32}, // softmax_scale * log2(e)
};
inline constexpr size_t kNumSageParams = sizeof(kSageParams) / sizeof(kSageParams[0]);

/// Host-side argument block, field order identical to kSageParams.
struct SageLaunchArgs {
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  void *o = nullptr, *lse = nullptr;
  void *qI8 = nullptr, *qScale = nullptr, *qKmean = nullptr, *kI8 = nullptr, *kScale = nullptr,
       *vF8 = nullptr, *vScale = nullptr, *kSumPart = nullptr, *vMaxPart = nullptr,
       *kRangePart = nullptr, *kChan = nullptr;
  int32_t seqlenQ = 0, seqlenK = 0, numHeads = 0, headRatio = 1, numKvHeads = 0;
  int32_t seqlenQPad = 0, seqlenKPad = 0, reduceChunks = 0, reduceRows = 0;
  int64_t qBatchStride = 0, qRowStride = 0, qHeadStride = 0;
  int64_t kBatchStride = 0, kRowStride = 0, kHeadStride = 0;
  int64_t vBatchStride = 0, vRowStride = 0, vHeadStride = 0;
  int64_t oBatchStride = 0, oRowStride = 0, oHeadStride = 0;
  float scaleLog2 = 0;

  void fillParamPointers(void *out[kNumSageParams]) {
    void *ptrs[] = {&q, &k, &v, &o, &lse, &qI8, &qScale, &qKmean, &kI8, &kScale, &vF8, &vScale,
                    &kSumPart, &vMaxPart, &kRangePart, &kChan, &seqlenQ, &seqlenK, &numHeads, &headRatio,
                    &numKvHeads, &seqlenQPad, &seqlenKPad, &reduceChunks, &reduceRows,
                    &qBatchStride, &qRowStride, &qHeadStride, &kBatchStride, &kRowStride,
                    &kHeadStride, &vBatchStride, &vRowStride, &vHeadStride, &oBatchStride,
                    &oRowStride, &oHeadStride, &scaleLog2};
    static_assert(sizeof(ptrs) / sizeof(ptrs[0]) == kNumSageParams, "ABI table mismatch");
    for (size_t i = 0; i < kNumSageParams; ++i)
      out[i] = ptrs[i];
  }
};

/// Scale groups of Q per block of block_m rows, and of K per block of
/// block_n keys (AttentionSpec's Granularity). `spec` has a complete config.
inline int sageQGroupsPerBlock(const AttentionSpec &spec) {
  switch (spec.granularity) {
  case Granularity::PerBlock: return 1;
  case Granularity::PerWarp: return spec.config.numWarps;
  case Granularity::PerThread: return spec.config.blockM / 2; // 8 per 16-row MMA tile
  }
  return 1;
}
inline int sageKGroupsPerBlock(const AttentionSpec &spec) {
  return spec.granularity == Granularity::PerThread ? 4 : 1;
}

/// Byte offsets of the workspace tensors of one launch, each 256-byte aligned,
/// and the total. Layouts (row-major, innermost last):
///   q_i8 [B, H, Sq_pad, D] int8        q_scale [B, H, Sq_pad / block_m, gQ] f32
///   q_kmean [B, H, Sq_pad] f32         k_i8 [B, Hkv, Sk_pad, D] int8
///   k_scale [B, Hkv, Sk_pad / block_n, gK] f32
///   v_f8 [B, Hkv, 2, D, Sk_pad] e4m3, planes V_hi, V_lo (keys permuted per 16-key group)
///   v_scale [B, Hkv, D] f32            k_sum_part, v_max_part [B, Hkv, chunks, D] f32
///   k_range_part [B, Hkv, chunks, 2, D] f32 (max, min of K)
///   k_chan [B, Hkv, 2, D] f32 (channel factor f_c, then K's mean over the keys)
/// Rows past Sq, keys past Sk are written as zeros by the quantize kernels.
struct SageWorkspaceLayout {
  int64_t seqQPad = 0, seqKPad = 0;
  int reduceChunks = 0, reduceRows = 0;
  uint64_t qI8 = 0, qScale = 0, qKmean = 0, kI8 = 0, kScale = 0, vF8 = 0, vScale = 0,
           kSumPart = 0, vMaxPart = 0, kRangePart = 0, kChan = 0, totalBytes = 0;
};
inline SageWorkspaceLayout sageWorkspaceLayout(const AttentionSpec &spec, int64_t batch,
                                               int64_t heads, int64_t kvHeads, int64_t seqQ,
                                               int64_t seqK) {
  SageWorkspaceLayout w;
  const int64_t bm = spec.config.blockM, bn = spec.config.blockN, d = spec.headDim;
  w.seqQPad = (seqQ + bm - 1) / bm * bm;
  w.seqKPad = (seqK + bn - 1) / bn * bn;
  int64_t chunks = std::clamp<int64_t>(seqK / kSageMinReduceRows, 1, kSageMaxReduceChunks);
  w.reduceRows = static_cast<int>((seqK + chunks - 1) / chunks);
  w.reduceChunks = static_cast<int>((seqK + w.reduceRows - 1) / w.reduceRows);
  uint64_t at = 0;
  auto take = [&](uint64_t bytes) {
    uint64_t off = at;
    at += (bytes + 255) / 256 * 256;
    return off;
  };
  const uint64_t bh = uint64_t(batch) * uint64_t(heads), bkv = uint64_t(batch) * uint64_t(kvHeads);
  w.qI8 = take(bh * uint64_t(w.seqQPad) * uint64_t(d));
  w.qScale = take(bh * uint64_t(w.seqQPad / bm) * uint64_t(sageQGroupsPerBlock(spec)) * 4);
  w.qKmean = take(bh * uint64_t(w.seqQPad) * 4);
  w.kI8 = take(bkv * uint64_t(w.seqKPad) * uint64_t(d));
  w.kScale = take(bkv * uint64_t(w.seqKPad / bn) * uint64_t(sageKGroupsPerBlock(spec)) * 4);
  w.vF8 = take(bkv * 2 * uint64_t(d) * uint64_t(w.seqKPad));
  w.vScale = take(bkv * uint64_t(d) * 4);
  w.kSumPart = take(bkv * uint64_t(w.reduceChunks) * uint64_t(d) * 4);
  w.vMaxPart = take(bkv * uint64_t(w.reduceChunks) * uint64_t(d) * 4);
  w.kRangePart = take(bkv * uint64_t(w.reduceChunks) * 2 * uint64_t(d) * 4);
  w.kChan = take(bkv * 2 * uint64_t(d) * 4);
  w.totalBytes = at;
  return w;
}

} // namespace attnjit

#endif // ATTNJIT_CORE_SAGEKERNELABI_H

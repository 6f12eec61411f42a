//===- GemmKernelABI.h - Parameters of the GEMM (linear) kernels -*- C++ -*-===//
//
// Part of attnjit. The projection of the attention layers, PyTorch's
// Linear: y = x w^T + bias, with x [M, K] and y [M, N] row-major (any row
// stride) and w [N, K] as torch.nn.Linear stores its weight. bias [N] is
// optional (has_bias 0: not read). f16/bf16 accumulate in fp32; f32 in fp32.
//
// The emitter builds its signature from kGemmParams and the launcher fills a
// GemmLaunchArgs in the same order. Bump kGemmAbiVersion on any change.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_GEMMKERNELABI_H
#define ATTNJIT_CORE_GEMMKERNELABI_H

#include "attnjit/Core/FlashKernelABI.h"

namespace attnjit {

inline constexpr int kGemmAbiVersion = 1;

/// Parameters in order. Strides are in elements (rows; columns are
/// contiguous). Grid: x = ceil(m / block_m), y = ceil(n / block_n), z = 1.
inline constexpr AbiParam kGemmParams[] = {
    {"x", AbiType::Ptr},         {"w", AbiType::Ptr},
    {"bias", AbiType::Ptr},      {"y", AbiType::Ptr},
    {"m", AbiType::I32},         {"n", AbiType::I32},
    {"k", AbiType::I32},         {"has_bias", AbiType::I32},
    {"x_row_stride", AbiType::I64}, {"w_row_stride", AbiType::I64},
    {"y_row_stride", AbiType::I64},
};
inline constexpr size_t kNumGemmParams = sizeof(kGemmParams) / sizeof(kGemmParams[0]);

/// Parameters the sm_90a GEMM recipe appends to kGemmParams. Its kernels are
/// persistent: the grid is (ctas, 1, 1) with ctas chosen by the launcher, and
/// each CTA walks the block_m x block_n tiles of y itself. The tensor maps
/// (CUtensorMap by value, 128-byte swizzle, dimension 0 innermost):
///  - tm_x: x as (K, M) with x's row stride, box (64, block_m);
///  - tm_w: w as (K, N) with w's row stride, box (64, block_n);
///  - tm_y: y as (N, M) with y's row stride, box (64, 64); read only when
///    y_by_tma is 1.
/// Loads past M, N or K read zeros; stores past M or N write nothing.
/// y_by_tma is 1 when y's address, row stride and row (N elements) are
/// multiples of 16 bytes (TMA clips a row's end at 16-byte granularity); 0
/// makes the kernel store element pairs through `y` and y_row_stride instead. The table's addition changed no existing signature,
/// so kGemmAbiVersion stays.
inline constexpr AbiParam kGemmTmaParams[] = {{"tm_x", AbiType::TensorMap},
                                              {"tm_w", AbiType::TensorMap},
                                              {"tm_y", AbiType::TensorMap},
                                              {"y_by_tma", AbiType::I32}};
inline constexpr size_t kNumGemmTmaParams = sizeof(kGemmTmaParams) / sizeof(kGemmTmaParams[0]);
/// Columns of one TMA box of the sm_90a GEMM (128 bytes of 16-bit elements).
inline constexpr int kGemmTmaBoxCols = 64;

/// Host-side argument block, field order identical to kGemmParams.
struct GemmLaunchArgs {
  const void *x = nullptr, *w = nullptr, *bias = nullptr;
  void *y = nullptr;
  int32_t m = 0, n = 0, k = 0, hasBias = 0;
  int64_t xRowStride = 0, wRowStride = 0, yRowStride = 0;

  void fillParamPointers(void *out[kNumGemmParams]) {
    void *ptrs[] = {&x, &w, &bias, &y, &m, &n, &k, &hasBias,
                    &xRowStride, &wRowStride, &yRowStride};
    static_assert(sizeof(ptrs) / sizeof(ptrs[0]) == kNumGemmParams, "ABI table mismatch");
    for (size_t i = 0; i < kNumGemmParams; ++i)
      out[i] = ptrs[i];
  }
};

} // namespace attnjit

#endif // ATTNJIT_CORE_GEMMKERNELABI_H

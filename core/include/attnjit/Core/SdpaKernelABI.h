//===- SdpaKernelABI.h - Parameters of the generated SDPA kernels -*- C++ -*-===//
//
// Part of attnjit. SDPA kernels are variants of the flash recipe: their
// parameter list is the flash list (FlashKernelABI.h) followed by the mask and
// dropout parameters below. The emitter builds its signature from this table
// and the launcher fills an SdpaLaunchArgs in the same order; a unit test checks
// the PTX signature against it. Bump kSdpaAbiVersion on any change.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_SDPAKERNELABI_H
#define ATTNJIT_CORE_SDPAKERNELABI_H

#include "attnjit/Core/FlashKernelABI.h"

namespace attnjit {

inline constexpr int kSdpaAbiVersion = 1;

/// Parameters after the flash ones. The mask is read at
/// mask + b*mask_batch_stride + h*mask_head_stride + i*mask_row_stride +
/// j*mask_col_stride (elements; 0 strides broadcast). A bool mask is one byte
/// per element (nonzero = attend); an additive mask has q's dtype. Dropout keeps
/// a probability iff its Philox word (Philox.h) is >= dropout_threshold
/// (unsigned), and scales kept values by dropout_scale = 1 / (1 - p).
inline constexpr AbiParam kSdpaExtraParams[] = {
    {"mask", AbiType::Ptr},
    {"mask_batch_stride", AbiType::I64}, {"mask_head_stride", AbiType::I64},
    {"mask_row_stride", AbiType::I64},   {"mask_col_stride", AbiType::I64},
    {"dropout_threshold", AbiType::I32}, {"dropout_scale", AbiType::F32},
    {"seed", AbiType::I64},              {"offset", AbiType::I64},
};
inline constexpr size_t kNumSdpaExtraParams = sizeof(kSdpaExtraParams) / sizeof(kSdpaExtraParams[0]);
inline constexpr size_t kNumSdpaParams = kNumFlashParams + kNumSdpaExtraParams;

/// Bytes of each global access to a q, k, v or out row: the largest power of
/// two <= 16 dividing head_dim * element size. Pointers must be aligned to it
/// and batch/row/head strides (in bytes) must be multiples of it.
inline constexpr int sdpaAccessBytes(int headDim, int eltBytes) {
  int rowBytes = headDim * eltBytes;
  int g = 16;
  while (g > 1 && rowBytes % g != 0)
    g /= 2;
  return g;
}

/// Host-side argument block: the flash block, then the extras in table order.
struct SdpaLaunchArgs {
  FlashLaunchArgs flash;
  const void *mask = nullptr;
  int64_t maskBatchStride = 0, maskHeadStride = 0, maskRowStride = 0, maskColStride = 0;
  uint32_t dropoutThreshold = 0;
  float dropoutScale = 1.0f;
  uint64_t seed = 0, offset = 0;

  void fillParamPointers(void *out[kNumSdpaParams]) {
    flash.fillParamPointers(out);
    void *ptrs[] = {&mask,          &maskBatchStride,  &maskHeadStride, &maskRowStride,
                    &maskColStride, &dropoutThreshold, &dropoutScale,   &seed,
                    &offset};
    static_assert(sizeof(ptrs) / sizeof(ptrs[0]) == kNumSdpaExtraParams, "ABI table mismatch");
    for (size_t i = 0; i < kNumSdpaExtraParams; ++i)
      out[kNumFlashParams + i] = ptrs[i];
  }
};

} // namespace attnjit

#endif // ATTNJIT_CORE_SDPAKERNELABI_H

//===- SdpaAttention.h - PyTorch-style scaled_dot_product_attention -*- C++ -*-===//
//
// Part of attnjit. sdpaAttention() follows torch.nn.functional.
// scaled_dot_product_attention: any head size 1..256 (padded in registers,
// never by copying), f16/bf16/f32, an optional bool or additive mask with
// broadcasting, is_causal (top-left aligned, as PyTorch), GQA, a softmax scale,
// and dropout from an explicit Philox seed and offset. Its kernels are SDPA
// variants of the flash recipe, compiled by the JIT (or found in a bundle).
// Like flashAttention() it checks everything before launching anything,
// allocates nothing and synchronizes nothing.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_SDPAATTENTION_H
#define ATTNJIT_RUNTIME_SDPAATTENTION_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Core/SdpaKernelABI.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <cstdint>
#include <optional>

namespace attnjit {

struct SdpaOptions {
  /// PyTorch's is_causal: key j is visible to query i iff j <= i (top-left
  /// aligned; unlike flashAttention(), whose causal mask is bottom-right).
  bool causal = false;
  /// Defaults to 1/sqrt(head_dim).
  std::optional<float> softmaxScale;
  /// Optional mask. dtype Bool (true = attend) or additive in q's dtype.
  /// Shapes (sizes may be 1 to broadcast; strides of size-1 dims are ignored):
  /// rank 2 [B, Sk] (key padding), rank 3 [B, Sq, Sk], rank 4 [B, H, Sq, Sk].
  /// A row whose every key is masked out (bool false or additive -inf)
  /// produces zeros, not NaN.
  std::optional<TensorView> mask;
  /// A bool mask the other way round: true hides the key (the convention of
  /// the MultiHeadFlashAttention module). The kernel reads it so; nothing is
  /// converted. Only with a bool mask.
  bool maskTrueHides = false;
  /// Drop probability in [0, 1); 0 compiles a kernel without dropout.
  float dropoutP = 0.0f;
  /// Philox stream (Philox.h): the same seed and offset drop the same scores.
  uint64_t seed = 0, offset = 0;
  /// Zero fields are chosen by the compiler.
  KernelConfig config;
};

/// Checks everything sdpaAttention() checks, without a driver or a device.
/// q [B, Sq, H, D], k and v [B, Sk, Hkv, D], out like q (BSHD order, or the
/// Layout overload). Throws InvalidArgument naming the tensor and field
/// (dtype, device, shape, stride, alignment, head size, mask shape, dropout),
/// Unsupported for what no kernel serves.
void validateSdpaArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, const SdpaOptions &opts);
void validateSdpaArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                      const TensorView &out, Layout layout, const SdpaOptions &opts);

/// The spec sdpaAttention() asks the runtime for (arch left to the runtime).
/// Arguments must be valid BSHD views.
AttentionSpec makeSdpaSpec(const TensorView &q, const SdpaOptions &opts);
/// The kernel arguments sdpaAttention() passes. Arguments must be valid BSHD views.
SdpaLaunchArgs makeSdpaLaunchArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                                  const TensorView &out, const SdpaOptions &opts);

/// out = dropout(softmax(q k^T * scale + mask [causal])) v for BSHD views.
void sdpaAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, const SdpaOptions &opts, CUstream stream);
void sdpaAttention(const TensorView &q, const TensorView &k, const TensorView &v,
                   const TensorView &out, Layout layout, const SdpaOptions &opts,
                   CUstream stream);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_SDPAATTENTION_H

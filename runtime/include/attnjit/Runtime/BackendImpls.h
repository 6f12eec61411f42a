//===- BackendImpls.h - The FLASH_ATTN and SDPA backends ---------*- C++ -*-===//
//
// Part of attnjit. The built-in backends of Backend.h, public so that
// applications (and tests) can subclass an impl to override its hooks:
//
//   FLASH_ATTN  flashAttention(): head sizes 32, 64, ..., 256 (multiples of
//               32), f16/bf16, causal aligned bottom-right, GQA, softmax_scale.
//               Its metadata is the base AttentionMetadata: it takes no mask,
//               no is_causal override and no dropout (dropout_p must be 0).
//   SDPA        sdpaAttention() (torch.nn.functional.scaled_dot_product_
//               attention): head sizes 1..256, f16/bf16/f32, bool or additive
//               masks with broadcast, is_causal aligned top-left, GQA, scale,
//               dropout_p with an explicit Philox seed and offset.
//   SAGE_ATTN   sageAttention() (INT8 Q K^T, FP8 P V; docs/SAGE.md): head sizes
//               32..256 (multiples of 32), f16/bf16, causal aligned
//               bottom-right, GQA, softmax_scale; extras granularity, smooth_k,
//               pv_accum. Never chosen automatically; needs sm_89+.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_BACKENDIMPLS_H
#define ATTNJIT_RUNTIME_BACKENDIMPLS_H

#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/SageAttention.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <memory>

namespace attnjit {

//===----------------------------------------------------------------------===//
// FLASH_ATTN
//===----------------------------------------------------------------------===//

class FlashAttnImpl : public AttentionImpl {
public:
  explicit FlashAttnImpl(const ImplParams &params);

  /// The options forward() passes to flashAttention() for `metadata`; throws
  /// InvalidArgument when the metadata carries what FLASH_ATTN cannot honour.
  FlashOptions options(const AttentionMetadata &metadata) const;

protected:
  void check(const QkvViews &qkv, const AttentionMetadata &metadata,
             const TensorView &out) const override;
  void launch(const QkvViews &qkv, const AttentionMetadata &metadata, const TensorView &out,
              CUstream stream) override;
};

class FlashAttnBackend : public AttentionBackend {
public:
  std::string_view name() const override { return kFlashAttnBackend; }
  bool acceptsOutputBuffer() const override { return true; }
  std::vector<int> supportedHeadSizes() const override;
  std::vector<DType> supportedDTypes() const override;
  bool causalAlignedBottomRight() const override { return true; }
  int autoPriority() const override { return 100; }
  std::unique_ptr<AttentionMetadata> makeMetadata(int64_t currentTimestep) const override;
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const override;

protected:
  std::unique_ptr<AttentionImpl> createImpl(const ImplParams &params) const override;
  std::string extraReason(const ImplArgs &extra) const override;
};

//===----------------------------------------------------------------------===//
// SDPA
//===----------------------------------------------------------------------===//

/// FastVideo's SDPAMetadata: current_timestep plus the per-call SDPA fields.
class SdpaMetadata : public AttentionMetadata {
public:
  using AttentionMetadata::AttentionMetadata;

  /// See SdpaOptions::mask (ranks 2, 3, 4; bool or additive in q's dtype).
  std::optional<TensorView> attnMask;
  /// PyTorch's is_causal (top-left); unset: the impl's causal flag.
  std::optional<bool> isCausal;
  /// The Philox stream of dropout; unset: the impl's dropout_seed/offset.
  std::optional<uint64_t> dropoutSeed, dropoutOffset;
  /// A bool attn_mask whose true hides the key (SdpaOptions::maskTrueHides).
  bool maskTrueHides = false;

protected:
  void listFields(std::vector<MetadataField> &fields) const override;
};

class SdpaImpl : public AttentionImpl {
public:
  explicit SdpaImpl(const ImplParams &params);

  /// The options forward() passes to sdpaAttention() for `metadata` (any
  /// AttentionMetadata; only SdpaMetadata carries a mask and overrides).
  SdpaOptions options(const AttentionMetadata &metadata) const;
  bool effectiveCausal(const AttentionMetadata &metadata) const override;

  float dropoutP() const { return dropoutP_; }

protected:
  void check(const QkvViews &qkv, const AttentionMetadata &metadata,
             const TensorView &out) const override;
  void launch(const QkvViews &qkv, const AttentionMetadata &metadata, const TensorView &out,
              CUstream stream) override;
  const TensorView *extraOperand(const AttentionMetadata &metadata) const override;

private:
  float dropoutP_ = 0;
  uint64_t seed_ = 0, offset_ = 0;
};

class SdpaBackend : public AttentionBackend {
public:
  std::string_view name() const override { return kSdpaBackend; }
  bool acceptsOutputBuffer() const override { return true; }
  std::vector<int> supportedHeadSizes() const override;
  std::vector<DType> supportedDTypes() const override;
  bool causalAlignedBottomRight() const override { return false; }
  int autoPriority() const override { return 10; }
  std::unique_ptr<AttentionMetadata> makeMetadata(int64_t currentTimestep) const override;
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const override;

protected:
  std::unique_ptr<AttentionImpl> createImpl(const ImplParams &params) const override;
};

//===----------------------------------------------------------------------===//
// SAGE_ATTN
//===----------------------------------------------------------------------===//

class SageAttnImpl : public AttentionImpl {
public:
  /// Throws InvalidArgument for an unknown extra or a bad extra value.
  explicit SageAttnImpl(const ImplParams &params);

  /// The options forward() passes to sageAttention() (the impl's causal,
  /// scale and Sage extras); throws InvalidArgument when the metadata carries
  /// what SAGE_ATTN cannot honour (a mask, a different is_causal).
  SageOptions options(const AttentionMetadata &metadata) const;

protected:
  void check(const QkvViews &qkv, const AttentionMetadata &metadata,
             const TensorView &out) const override;
  void launch(const QkvViews &qkv, const AttentionMetadata &metadata, const TensorView &out,
              CUstream stream) override;

private:
  SageOptions base_;
};

class SageAttnBackend : public AttentionBackend {
public:
  std::string_view name() const override { return kSageAttnBackend; }
  bool acceptsOutputBuffer() const override { return true; }
  std::vector<int> supportedHeadSizes() const override;
  std::vector<DType> supportedDTypes() const override;
  bool causalAlignedBottomRight() const override { return true; }
  /// Never automatic: quantized attention is chosen by name.
  int autoPriority() const override { return -1; }
  std::unique_ptr<AttentionMetadata> makeMetadata(int64_t currentTimestep) const override;
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const override;

protected:
  std::unique_ptr<AttentionImpl> createImpl(const ImplParams &params) const override;
  std::string extraReason(const ImplArgs &extra) const override;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_BACKENDIMPLS_H

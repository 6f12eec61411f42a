//===- BackendFlashAttn.cpp - The FLASH_ATTN backend ----------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/BackendImpls.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

namespace attnjit {

namespace {

/// Builds the base metadata; SDPA-only fields are errors, not dropped.
class FlashAttnMetadataBuilder : public AttentionMetadataBuilder {
public:
  void prepare() override {}
  std::unique_ptr<AttentionMetadata> build(const MetadataBuildArgs &args) override {
    const char *field = args.attnMask        ? "attn_mask"
                        : args.isCausal      ? "is_causal"
                        : args.dropoutSeed   ? "dropout_seed"
                        : args.dropoutOffset ? "dropout_offset"
                        : args.maskTrueHides ? "mask_true_hides"
                                             : nullptr;
    if (field)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("metadata {}: FLASH_ATTN takes only current_timestep (masks, "
                              "is_causal and dropout are SDPA's); select SDPA",
                              field));
    return std::make_unique<AttentionMetadata>(args.currentTimestep);
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Impl
//===----------------------------------------------------------------------===//

FlashAttnImpl::FlashAttnImpl(const ImplParams &params) : AttentionImpl(kFlashAttnBackend, params) {
  requireKnownExtras({"dropout_p", "dropout_seed", "dropout_offset"});
}

FlashOptions FlashAttnImpl::options(const AttentionMetadata &metadata) const {
  if (const auto *sdpa = dynamic_cast<const SdpaMetadata *>(&metadata)) {
    if (sdpa->attnMask)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("metadata.attn_mask: FLASH_ATTN impl '{}' takes no attention mask; "
                              "select SDPA",
                              prefix()));
    if (sdpa->isCausal && *sdpa->isCausal != causal())
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("metadata.is_causal: {} differs from the FLASH_ATTN impl '{}''s "
                              "causal {}; FLASH_ATTN takes causal from the impl",
                              *sdpa->isCausal, prefix(), causal()));
  }
  FlashOptions opts;
  opts.causal = causal();
  opts.softmaxScale = softmaxScale();
  return opts;
}

void FlashAttnImpl::check(const QkvViews &qkv, const AttentionMetadata &metadata,
                          const TensorView &out) const {
  validateFlashArgs(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata));
}

void FlashAttnImpl::launch(const QkvViews &qkv, const AttentionMetadata &metadata,
                           const TensorView &out, CUstream stream) {
  flashAttention(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata), stream);
}

//===----------------------------------------------------------------------===//
// Backend
//===----------------------------------------------------------------------===//

std::vector<int> FlashAttnBackend::supportedHeadSizes() const {
  std::vector<int> sizes;
  for (int d = 32; d <= 256; d += 32)
    if (isSupportedFlashHeadDim(d))
      sizes.push_back(d);
  return sizes;
}

std::vector<DType> FlashAttnBackend::supportedDTypes() const { return {DType::F16, DType::BF16}; }

std::string FlashAttnBackend::extraReason(const ImplArgs &extra) const {
  double p = extra.getDouble("dropout_p").value_or(0.0);
  if (p != 0.0)
    return fmt::format("dropout_p={} (FLASH_ATTN has no dropout; SDPA does)", p);
  return {};
}

std::unique_ptr<AttentionMetadata> FlashAttnBackend::makeMetadata(int64_t currentTimestep) const {
  return std::make_unique<AttentionMetadata>(currentTimestep);
}

std::unique_ptr<AttentionMetadataBuilder> FlashAttnBackend::makeMetadataBuilder() const {
  return std::make_unique<FlashAttnMetadataBuilder>();
}

std::unique_ptr<AttentionImpl> FlashAttnBackend::createImpl(const ImplParams &params) const {
  return std::make_unique<FlashAttnImpl>(params);
}

} // namespace attnjit

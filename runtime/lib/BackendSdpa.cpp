//===- BackendSdpa.cpp - The SDPA backend ---------------------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/BackendImpls.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

#include <cmath>

namespace attnjit {

namespace {

class SdpaMetadataBuilder : public AttentionMetadataBuilder {
public:
  void prepare() override {}
  std::unique_ptr<AttentionMetadata> build(const MetadataBuildArgs &args) override {
    auto m = std::make_unique<SdpaMetadata>(args.currentTimestep);
    m->attnMask = args.attnMask;
    m->isCausal = args.isCausal;
    m->dropoutSeed = args.dropoutSeed;
    m->dropoutOffset = args.dropoutOffset;
    m->maskTrueHides = args.maskTrueHides;
    return m;
  }
};

/// The extra `key` as an integer >= 0 (0 when absent).
uint64_t nonNegativeExtra(const ImplArgs &extra, std::string_view key, const std::string &prefix) {
  int64_t v = extra.getInt(key).value_or(0);
  if (v < 0)
    throw Error(
        ErrorKind::InvalidArgument,
        fmt::format("SDPA impl '{}': extra argument '{}' must be >= 0, got {}", prefix, key, v));
  return static_cast<uint64_t>(v);
}

} // namespace

//===----------------------------------------------------------------------===//
// Metadata
//===----------------------------------------------------------------------===//

void SdpaMetadata::listFields(std::vector<MetadataField> &fields) const {
  AttentionMetadata::listFields(fields);
  fields.push_back({"attn_mask", &attnMask});
  fields.push_back({"is_causal", &isCausal});
  fields.push_back({"dropout_seed", &dropoutSeed});
  fields.push_back({"dropout_offset", &dropoutOffset});
  fields.push_back({"mask_true_hides", &maskTrueHides});
}

//===----------------------------------------------------------------------===//
// Impl
//===----------------------------------------------------------------------===//

SdpaImpl::SdpaImpl(const ImplParams &params) : AttentionImpl(kSdpaBackend, params) {
  requireKnownExtras({"dropout_p", "dropout_seed", "dropout_offset"});
  double p = extra().getDouble("dropout_p").value_or(0.0);
  if (!(p >= 0.0 && p < 1.0))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("SDPA impl '{}': extra argument 'dropout_p' must be in [0, 1), got {}",
                            prefix(), p));
  dropoutP_ = static_cast<float>(p);
  seed_ = nonNegativeExtra(extra(), "dropout_seed", prefix());
  offset_ = nonNegativeExtra(extra(), "dropout_offset", prefix());
}

bool SdpaImpl::effectiveCausal(const AttentionMetadata &metadata) const {
  const auto *sdpa = dynamic_cast<const SdpaMetadata *>(&metadata);
  return sdpa && sdpa->isCausal ? *sdpa->isCausal : causal();
}

SdpaOptions SdpaImpl::options(const AttentionMetadata &metadata) const {
  SdpaOptions opts;
  opts.causal = effectiveCausal(metadata);
  opts.softmaxScale = softmaxScale();
  opts.dropoutP = dropoutP_;
  opts.seed = seed_;
  opts.offset = offset_;
  if (const auto *sdpa = dynamic_cast<const SdpaMetadata *>(&metadata)) {
    opts.mask = sdpa->attnMask;
    opts.maskTrueHides = sdpa->maskTrueHides;
    opts.seed = sdpa->dropoutSeed.value_or(seed_);
    opts.offset = sdpa->dropoutOffset.value_or(offset_);
  }
  return opts;
}

const TensorView *SdpaImpl::extraOperand(const AttentionMetadata &metadata) const {
  const auto *sdpa = dynamic_cast<const SdpaMetadata *>(&metadata);
  return sdpa && sdpa->attnMask ? &*sdpa->attnMask : nullptr;
}

void SdpaImpl::check(const QkvViews &qkv, const AttentionMetadata &metadata,
                     const TensorView &out) const {
  validateSdpaArgs(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata));
}

void SdpaImpl::launch(const QkvViews &qkv, const AttentionMetadata &metadata, const TensorView &out,
                      CUstream stream) {
  sdpaAttention(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata), stream);
}

//===----------------------------------------------------------------------===//
// Backend
//===----------------------------------------------------------------------===//

std::vector<int> SdpaBackend::supportedHeadSizes() const {
  std::vector<int> sizes(256);
  for (int d = 1; d <= 256; ++d)
    sizes[size_t(d - 1)] = d;
  return sizes;
}

std::vector<DType> SdpaBackend::supportedDTypes() const {
  return {DType::F16, DType::BF16, DType::F32};
}

std::unique_ptr<AttentionMetadata> SdpaBackend::makeMetadata(int64_t currentTimestep) const {
  return std::make_unique<SdpaMetadata>(currentTimestep);
}

std::unique_ptr<AttentionMetadataBuilder> SdpaBackend::makeMetadataBuilder() const {
  return std::make_unique<SdpaMetadataBuilder>();
}

std::unique_ptr<AttentionImpl> SdpaBackend::createImpl(const ImplParams &params) const {
  return std::make_unique<SdpaImpl>(params);
}

} // namespace attnjit

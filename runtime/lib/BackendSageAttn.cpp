//===- BackendSageAttn.cpp - The SAGE_ATTN backend ------------------------===//
//
// Part of attnjit. sageAttention() behind FastVideo's backend interface:
// head sizes 32..256 (multiples of 32; SageAttention itself raises above 128),
// f16/bf16, causal aligned bottom-right, GQA, softmax_scale honoured (FastVideo's
// Sage backend drops it). Extras: granularity ("per_block", "per_warp",
// "per_thread"), smooth_k (bool) and pv_accum ("fp32", "fp32_fp32"); defaults
// are SageOptions'. Never chosen automatically: quantized attention is asked
// for. Its kernels need sm_89 or newer (FP8 e4m3 MMAs).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/BackendImpls.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

namespace attnjit {

namespace {

/// The Sage fields of the extras, or the reason they cannot be served.
std::string readSageExtras(const ImplArgs &extra, SageOptions &opts) {
  if (double p = extra.getDouble("dropout_p").value_or(0.0); p != 0.0)
    return fmt::format("dropout_p={} (SAGE_ATTN has no dropout; SDPA does)", p);
  if (auto g = extra.getString("granularity")) {
    std::optional<Granularity> parsed = parseGranularity(*g);
    if (!parsed)
      return fmt::format("granularity='{}' is not one of per_block, per_warp, per_thread", *g);
    opts.granularity = *parsed;
  }
  if (auto s = extra.getBool("smooth_k"))
    opts.smoothK = *s;
  if (auto a = extra.getString("pv_accum")) {
    std::optional<PvAccum> parsed = parsePvAccum(*a);
    if (!parsed)
      return fmt::format("pv_accum='{}' is not one of fp32, fp32_fp32", *a);
    opts.pvAccum = *parsed;
  }
  return {};
}

/// Builds the base metadata; SDPA-only fields are errors, not dropped.
class SageAttnMetadataBuilder : public AttentionMetadataBuilder {
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
                  fmt::format("metadata {}: SAGE_ATTN takes only current_timestep (masks, "
                              "is_causal and dropout are SDPA's); select SDPA",
                              field));
    return std::make_unique<AttentionMetadata>(args.currentTimestep);
  }
};

} // namespace

//===----------------------------------------------------------------------===//
// Impl
//===----------------------------------------------------------------------===//

SageAttnImpl::SageAttnImpl(const ImplParams &params) : AttentionImpl(kSageAttnBackend, params) {
  requireKnownExtras({"dropout_p", "granularity", "smooth_k", "pv_accum"});
  if (std::string why = readSageExtras(extra(), base_); !why.empty())
    throw Error(ErrorKind::InvalidArgument, fmt::format("SAGE_ATTN impl '{}': {}", prefix(), why));
  base_.causal = causal();
  base_.softmaxScale = softmaxScale();
}

SageOptions SageAttnImpl::options(const AttentionMetadata &metadata) const {
  if (const auto *sdpa = dynamic_cast<const SdpaMetadata *>(&metadata)) {
    if (sdpa->attnMask)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("metadata.attn_mask: SAGE_ATTN impl '{}' takes no attention mask; "
                              "select SDPA",
                              prefix()));
    if (sdpa->isCausal && *sdpa->isCausal != causal())
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("metadata.is_causal: {} differs from the SAGE_ATTN impl '{}''s "
                              "causal {}; SAGE_ATTN takes causal from the impl",
                              *sdpa->isCausal, prefix(), causal()));
  }
  return base_;
}

void SageAttnImpl::check(const QkvViews &qkv, const AttentionMetadata &metadata,
                         const TensorView &out) const {
  validateSageArgs(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata));
}

void SageAttnImpl::launch(const QkvViews &qkv, const AttentionMetadata &metadata,
                          const TensorView &out, CUstream stream) {
  sageAttention(qkv.q, qkv.k, qkv.v, out, layout(), options(metadata), stream);
}

//===----------------------------------------------------------------------===//
// Backend
//===----------------------------------------------------------------------===//

std::vector<int> SageAttnBackend::supportedHeadSizes() const {
  std::vector<int> sizes;
  for (int d = 32; d <= 256; d += 32)
    sizes.push_back(d);
  return sizes;
}

std::vector<DType> SageAttnBackend::supportedDTypes() const { return {DType::F16, DType::BF16}; }

std::string SageAttnBackend::extraReason(const ImplArgs &extra) const {
  SageOptions ignored;
  return readSageExtras(extra, ignored);
}

std::unique_ptr<AttentionMetadata> SageAttnBackend::makeMetadata(int64_t currentTimestep) const {
  return std::make_unique<AttentionMetadata>(currentTimestep);
}

std::unique_ptr<AttentionMetadataBuilder> SageAttnBackend::makeMetadataBuilder() const {
  return std::make_unique<SageAttnMetadataBuilder>();
}

std::unique_ptr<AttentionImpl> SageAttnBackend::createImpl(const ImplParams &params) const {
  return std::make_unique<SageAttnImpl>(params);
}

} // namespace attnjit

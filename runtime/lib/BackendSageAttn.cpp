//===- BackendSageAttn.cpp - SAGE_ATTN's place in the registry ------------===//
//
// Part of attnjit. SAGE_ATTN is registered by the Sage attention issue; until
// then this placeholder keeps its name known and serves nothing, so asking for
// it is a clear Unsupported error (strict) or a logged fallback, never an
// "unknown backend". It claims no head size and no dtype.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/BackendImpls.h"

#include "attnjit/Runtime/Error.h"

namespace attnjit {

namespace {

constexpr const char *kNotBuilt =
    "SAGE_ATTN is not built yet (the Sage attention issue registers it)";

class SageAttnPlaceholder : public AttentionBackend {
public:
  std::string_view name() const override { return kSageAttnBackend; }
  bool acceptsOutputBuffer() const override { return true; }
  std::vector<int> supportedHeadSizes() const override { return {}; }
  std::vector<DType> supportedDTypes() const override { return {}; }
  bool causalAlignedBottomRight() const override { return true; }
  int autoPriority() const override { return -1; }
  std::string unsupportedReason(int, std::optional<DType>, const ImplArgs &) const override {
    return kNotBuilt;
  }
  std::unique_ptr<AttentionMetadata> makeMetadata(int64_t currentTimestep) const override {
    return std::make_unique<AttentionMetadata>(currentTimestep);
  }
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const override {
    throw Error(ErrorKind::Unsupported, kNotBuilt);
  }

protected:
  std::unique_ptr<AttentionImpl> createImpl(const ImplParams &) const override {
    throw Error(ErrorKind::Unsupported, kNotBuilt);
  }
};

} // namespace

std::shared_ptr<const AttentionBackend> makeSageAttnPlaceholder() {
  return std::make_shared<SageAttnPlaceholder>();
}

} // namespace attnjit

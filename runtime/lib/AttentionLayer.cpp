//===- AttentionLayer.cpp - A layer: selected backend plus its impl -------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/AttentionLayer.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

namespace attnjit {

namespace {

[[noreturn]] void invalid(const std::string &msg) { throw Error(ErrorKind::InvalidArgument, msg); }

int seqDim(Layout l) { return l == Layout::BSHD ? 1 : 2; }

/// `t` narrowed to its first `length` rows along the sequence dimension
/// (negative: all), without copying.
TensorView narrowSeq(const TensorView &t, int64_t length, Layout layout, const char *name) {
  if (t.rank() != 4)
    invalid(fmt::format("{}.rank: expected 4, got {}", name, t.rank()));
  int d = seqDim(layout);
  if (length < 0)
    return t;
  if (length > t.size(d))
    invalid(fmt::format("kv_cache.length: expected at most {} ({}.shape[{}], the cache's "
                        "capacity), got {}",
                        t.size(d), name, d, length));
  std::vector<int64_t> shape = t.shape();
  shape[size_t(d)] = length;
  return TensorView(t.data(), t.dtype(), shape, t.strides(), t.device(), t.deviceKind());
}

bool isEmptyView(const TensorView &t) { return !t.data() && t.rank() == 0; }

} // namespace

AttentionLayer::AttentionLayer(const ImplParams &params, DType dtype,
                               const SelectorOptions &selector)
    : selection_(selectAttentionBackend(params.headSize, dtype, selector, params.extra)),
      impl_(selection_.backend->makeImpl(params)), dtype_(dtype) {
  causalNeedsSquare_ = selection_.isFallback() && selection_.requested &&
                       selection_.requested->causalAlignedBottomRight() !=
                           selection_.backend->causalAlignedBottomRight();
}

std::unique_ptr<AttentionMetadataBuilder> AttentionLayer::makeMetadataBuilder() const {
  return selection_.backend->makeMetadataBuilder();
}

TensorView AttentionLayer::forward(const TensorView &q, const TensorView &k, const TensorView &v,
                                   const KvCacheView *kvCache, const AttentionMetadata &metadata,
                                   std::optional<TensorView> out, CUstream stream) {
  const Layout layout = impl_->layout();
  TensorView keys = k, values = v;
  if (kvCache) {
    if (!isEmptyView(k) || !isEmptyView(v))
      invalid(fmt::format("k, v: with kv_cache given, k and v must be empty views (the cache's K "
                          "and V are used; the layer does not append to the cache); got k {}, "
                          "v {}",
                          k.str(), v.str()));
    keys = narrowSeq(kvCache->k, kvCache->length, layout, "kv_cache.k");
    values = narrowSeq(kvCache->v, kvCache->length, layout, "kv_cache.v");
  }
  if (causalNeedsSquare_ && impl_->effectiveCausal(metadata) && q.rank() == 4 && keys.rank() == 4 &&
      q.size(seqDim(layout)) != keys.size(seqDim(layout)))
    invalid(
        fmt::format("causal attention with seqlen_q {} != seqlen_k {}: {} ({}) fell back to "
                    "{}, whose causal mask is aligned {} instead of {}; use seqlen_q == "
                    "seqlen_k, a head size and dtype {} serves, or strict selection",
                    q.size(seqDim(layout)), keys.size(seqDim(layout)), selection_.requested->name(),
                    toString(selection_.source), selection_.backend->name(),
                    selection_.backend->causalAlignedBottomRight() ? "bottom-right" : "top-left",
                    selection_.requested->causalAlignedBottomRight() ? "bottom-right" : "top-left",
                    selection_.requested->name()));
  if (out && !selection_.backend->acceptsOutputBuffer())
    invalid(fmt::format("out: the {} backend does not accept an output buffer; call forward "
                        "without out",
                        selection_.backend->name()));
  return impl_->forward(q, keys, values, metadata, out, stream);
}

} // namespace attnjit

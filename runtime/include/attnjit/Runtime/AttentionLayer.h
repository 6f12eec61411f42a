//===- AttentionLayer.h - A layer: selected backend plus its impl -*- C++ -*-===//
//
// Part of attnjit. The counterpart of FastVideo's AttentionLayer protocol,
// forward(q, k, v, kv_cache, attn_metadata). A layer selects its backend once,
// at construction (selectAttentionBackend), makes the backend's impl, and
// forwards every call to it (hooks included).
//
// kv_cache. When a KvCacheView is given, its K and V (narrowed to the first
// `length` rows along the sequence dimension, without copying) are the keys
// and values of the call, and the k and v arguments must be empty views
// (TensorView()): the layer never appends to the cache (it would need a copy
// kernel); the caller writes new rows into the cache before calling. The
// cache's views are in the layer's layout. For causal attention over a cache
// with seqlen_q < length, FLASH_ATTN's bottom-right alignment is what
// incremental decoding needs; SDPA aligns top-left.
//
// Fallback semantics. When the selection fell back to a backend whose causal
// alignment differs from the requested one (FLASH_ATTN -> SDPA), causal calls
// with seqlen_q != seqlen_k are rejected with InvalidArgument rather than
// silently computing a different mask.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_ATTENTIONLAYER_H
#define ATTNJIT_RUNTIME_ATTENTIONLAYER_H

#include "attnjit/Runtime/Backend.h"

#include <memory>
#include <optional>

namespace attnjit {

/// A non-owning view of a layer's key/value cache.
struct KvCacheView {
  TensorView k, v;
  /// Valid rows along the sequence dimension; negative: all of them.
  int64_t length = -1;
};

class AttentionLayer {
public:
  /// Selects the backend for (params.headSize, dtype, params.extra) and makes
  /// its impl. Throws what selectAttentionBackend and makeImpl throw.
  AttentionLayer(const ImplParams &params, DType dtype, const SelectorOptions &selector = {});

  /// Attention of q over k/v (or the cache's K/V); see the file comment. The
  /// output goes to `out` when given, else to the impl's owned buffer
  /// (Backend.h). Returns the output view.
  TensorView forward(const TensorView &q, const TensorView &k, const TensorView &v,
                     const KvCacheView *kvCache, const AttentionMetadata &metadata,
                     std::optional<TensorView> out = std::nullopt, CUstream stream = nullptr);

  const BackendSelection &selection() const { return selection_; }
  const AttentionBackend &backend() const { return *selection_.backend; }
  AttentionImpl &impl() { return *impl_; }
  const AttentionImpl &impl() const { return *impl_; }
  DType dtype() const { return dtype_; }
  /// The selected backend's metadata builder.
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const;

private:
  BackendSelection selection_;
  std::unique_ptr<AttentionImpl> impl_;
  DType dtype_;
  /// Causal calls need seqlen_q == seqlen_k (see "Fallback semantics").
  bool causalNeedsSquare_ = false;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_ATTENTIONLAYER_H

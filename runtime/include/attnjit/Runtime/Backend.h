//===- Backend.h - Attention backends, impls, metadata, selector --*- C++ -*-===//
//
// Part of attnjit. The C++ counterpart of FastVideo's
// fastvideo.attention.backends (abstract.py and the selector):
//
//   AttentionBackend          name, supported head sizes and dtypes, whether it
//                             accepts an output buffer; makes its impl, its
//                             metadata and its metadata builder.
//   AttentionImpl             built from (num_heads, head_size, softmax_scale,
//                             causal, num_kv_heads, prefix, typed extras);
//                             forward(q, k, v, metadata, out, stream) with the
//                             preprocessQkv / postprocessOutput hooks, which run
//                             on EVERY call (FastVideo skips them on its local
//                             path; attnjit does not).
//   AttentionMetadata         current_timestep plus per-backend fields, with a
//                             zero-copy field view (asdict_zerocopy).
//   AttentionMetadataBuilder  prepare() and build(args).
//   BackendRegistry           FLASH_ATTN, SDPA (alias TORCH_SDPA) and
//                             SAGE_ATTN.
//   selectAttentionBackend    explicit request > $ATTNJIT_ATTENTION_BACKEND >
//                             the caller's default > automatic; fallbacks are
//                             logged with their reason, or errors when strict.
//
// Tensors are non-owning TensorViews (DLPack in and out, Tensor.h). The default
// layout is BSHD ([batch, seqlen, heads, head_dim]) as FastVideo's layers use;
// an impl made with Layout::BHSD takes [batch, heads, seqlen, head_dim]; any
// strides with a contiguous head_dim are accepted.
//
// Output buffer. With `out` given, forward() writes there, allocates no device
// memory, synchronizes nothing and is CUDA-graph capturable (once its kernel
// has been loaded). Without it,
// the impl writes into a device buffer it owns: allocated on first use, grown
// (never shrunk) when a larger output is needed, and reused otherwise, so a
// steady-state inference loop allocates nothing. The returned view is
// contiguous in the impl's layout and stays valid until the next forward() of
// the same impl or its destruction; successive calls are stream-ordered only
// when they use the same stream. Growing the buffer during a CUDA graph
// capture is refused (InvalidArgument): run once with that shape before
// capturing, or pass `out`. The buffer lives in the stream's context, which
// must still exist when the impl is destroyed. Growing synchronizes the
// stream before freeing the old buffer, so a view the impl returned must not
// be passed back into the same impl's forward() without `out`. An impl is not
// thread-safe: give each thread (or layer) its own.
//
// Validation. Everything forward() can check without a device is checked
// before anything touches the driver (the owned buffer included): the impl's
// num_heads / num_kv_heads / head_size against the tensors, then the
// backend's full argument check (validateFlashArgs / validateSdpaArgs). Errors
// are attnjit::Error naming the tensor and field.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_BACKEND_H
#define ATTNJIT_RUNTIME_BACKEND_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace attnjit {

/// Names of the built-in backends.
inline constexpr std::string_view kFlashAttnBackend = "FLASH_ATTN";
inline constexpr std::string_view kSdpaBackend = "SDPA";
inline constexpr std::string_view kSageAttnBackend = "SAGE_ATTN";
/// The environment variable the selector reads.
inline constexpr const char *kAttentionBackendEnv = "ATTNJIT_ATTENTION_BACKEND";

//===----------------------------------------------------------------------===//
// Typed extra arguments (FastVideo's **extra_impl_args)
//===----------------------------------------------------------------------===//

using ImplArg = std::variant<bool, int64_t, double, std::string>;

/// A typed key/value map. Readers ask for a type and get InvalidArgument naming
/// the key when the stored value has another type (an integer reads as a
/// double; nothing else converts).
class ImplArgs {
public:
  ImplArgs() = default;
  ImplArgs(std::initializer_list<std::pair<const std::string, ImplArg>> items) : items_(items) {}

  ImplArgs &set(const std::string &key, ImplArg value);
  bool has(std::string_view key) const;
  bool empty() const { return items_.empty(); }
  const std::map<std::string, ImplArg, std::less<>> &items() const { return items_; }

  std::optional<bool> getBool(std::string_view key) const;
  std::optional<int64_t> getInt(std::string_view key) const;
  std::optional<double> getDouble(std::string_view key) const;
  std::optional<std::string> getString(std::string_view key) const;

  /// e.g. "{dropout_p=0.1, name="x"}".
  std::string str() const;

private:
  std::map<std::string, ImplArg, std::less<>> items_;
};

std::string toString(const ImplArg &value);

//===----------------------------------------------------------------------===//
// Metadata
//===----------------------------------------------------------------------===//

/// A reference to one metadata field (never a copy of it).
using MetadataFieldRef =
    std::variant<const int64_t *, const bool *, const std::optional<bool> *,
                 const std::optional<uint64_t> *, const std::optional<TensorView> *>;

struct MetadataField {
  std::string_view name;
  MetadataFieldRef ref;
};

/// Per-call attention metadata (FastVideo's AttentionMetadata dataclass).
class AttentionMetadata {
public:
  explicit AttentionMetadata(int64_t currentTimestep = 0) : currentTimestep(currentTimestep) {}
  virtual ~AttentionMetadata() = default;
  AttentionMetadata(const AttentionMetadata &) = default;
  AttentionMetadata &operator=(const AttentionMetadata &) = default;

  /// Current step of the diffusion process.
  int64_t currentTimestep = 0;

  /// asdict_zerocopy: (name, reference) for every field not in `skip`, in
  /// declaration order, base fields first. Tensors are referenced, not copied.
  std::vector<MetadataField>
  asdictZeroCopy(std::initializer_list<std::string_view> skip = {}) const;

protected:
  /// Appends this class's fields; subclasses call the base first.
  virtual void listFields(std::vector<MetadataField> &fields) const;
};

/// Arguments of AttentionMetadataBuilder::build (FastVideo's **kwargs). A
/// builder rejects, with InvalidArgument naming the field, what its backend
/// cannot honour.
struct MetadataBuildArgs {
  int64_t currentTimestep = 0;
  /// SDPA: bool (true = attend) or additive mask, see SdpaOptions::mask.
  std::optional<TensorView> attnMask;
  /// SDPA: overrides the impl's causal flag for this call.
  std::optional<bool> isCausal;
  /// SDPA: override the impl's dropout_seed / dropout_offset for this call.
  std::optional<uint64_t> dropoutSeed, dropoutOffset;
  /// SDPA: a bool attnMask whose true hides the key (SdpaOptions::maskTrueHides).
  bool maskTrueHides = false;
};

class AttentionMetadataBuilder {
public:
  virtual ~AttentionMetadataBuilder() = default;
  /// Prepares for one batch (step).
  virtual void prepare() = 0;
  /// Builds the metadata of one call.
  virtual std::unique_ptr<AttentionMetadata> build(const MetadataBuildArgs &args) = 0;
};

//===----------------------------------------------------------------------===//
// Impl
//===----------------------------------------------------------------------===//

/// Constructor parameters of an impl (FastVideo's AttentionImpl.__init__).
struct ImplParams {
  int numHeads = 0;
  int headSize = 0;
  /// nullopt: 1/sqrt(headSize). Honoured by every backend on every path.
  std::optional<float> softmaxScale;
  /// FLASH_ATTN aligns the causal mask bottom-right (FlashAttention-2), SDPA
  /// top-left (PyTorch); the two agree when seqlen_q == seqlen_k.
  bool causal = false;
  /// nullopt: numHeads. Must divide numHeads (GQA).
  std::optional<int> numKvHeads;
  std::string prefix;
  /// Order of the dimensions of q, k, v and out.
  Layout layout = Layout::BSHD;
  /// Typed extras. FLASH_ATTN and SDPA know dropout_p (double, [0, 1); FLASH_ATTN
  /// only 0), dropout_seed and dropout_offset (integers >= 0, the Philox stream
  /// of SDPA's dropout); any other key is an InvalidArgument.
  ImplArgs extra;
};

/// The q, k and v views of one call, which preprocessQkv may replace.
struct QkvViews {
  TensorView q, k, v;
};

class AttentionImpl {
public:
  AttentionImpl(std::string_view backendName, const ImplParams &params);
  virtual ~AttentionImpl();
  AttentionImpl(const AttentionImpl &) = delete;
  AttentionImpl &operator=(const AttentionImpl &) = delete;

  /// preprocessQkv -> checks -> attention into `out` (or the owned buffer, see
  /// the file comment) -> postprocessOutput; returns the (post-processed)
  /// output view. Checks everything before touching the driver.
  TensorView forward(const TensorView &q, const TensorView &k, const TensorView &v,
                     const AttentionMetadata &metadata, std::optional<TensorView> out,
                     CUstream stream);

  /// Called first on every forward(); may replace the views (e.g. with views
  /// of the impl's own buffers). The default does nothing.
  virtual void preprocessQkv(QkvViews &qkv, const AttentionMetadata &metadata, CUstream stream);
  /// Called last on every forward() that computed an output; may replace the
  /// view it returns. The default does nothing.
  virtual void postprocessOutput(TensorView &out, const AttentionMetadata &metadata,
                                 CUstream stream);

  /// The causal flag this call uses (the impl's, unless the metadata says).
  virtual bool effectiveCausal(const AttentionMetadata &metadata) const;

  std::string_view backendName() const { return backendName_; }
  int numHeads() const { return numHeads_; }
  int headSize() const { return headSize_; }
  int numKvHeads() const { return numKvHeads_; }
  float softmaxScale() const { return softmaxScale_; }
  bool causal() const { return causal_; }
  const std::string &prefix() const { return prefix_; }
  Layout layout() const { return layout_; }
  const ImplArgs &extra() const { return extra_; }
  /// Bytes of the owned output buffer (0 until forward() ran without `out`).
  size_t ownedBufferBytes() const { return owned_.size(); }

protected:
  /// Throws (InvalidArgument / Unsupported) when the backend cannot compute
  /// attention for these arguments; never touches the driver.
  virtual void check(const QkvViews &qkv, const AttentionMetadata &metadata,
                     const TensorView &out) const = 0;
  /// Computes attention into `out` on `stream`; the arguments passed check().
  virtual void launch(const QkvViews &qkv, const AttentionMetadata &metadata, const TensorView &out,
                      CUstream stream) = 0;

  /// A tensor besides q, k, v and out that the call reads (SDPA's mask), so
  /// that checks before the owned buffer exists can keep clear of it.
  virtual const TensorView *extraOperand(const AttentionMetadata &metadata) const;

  /// Throws InvalidArgument naming the first extra whose key is not in `known`.
  void requireKnownExtras(std::initializer_list<std::string_view> known) const;

private:
  void checkAgainstParams(const QkvViews &qkv) const;
  /// The owned buffer as q-shaped output, grown first when too small (after
  /// check() against a stand-in view, so bad input never reaches the driver).
  TensorView ownedOutput(const QkvViews &qkv, const AttentionMetadata &metadata, CUstream stream);
  void releaseOwned() noexcept;

  std::string backendName_;
  int numHeads_, headSize_, numKvHeads_;
  float softmaxScale_;
  bool causal_;
  std::string prefix_;
  Layout layout_;
  ImplArgs extra_;
  DeviceBuffer owned_;
  CUcontext ownedContext_ = nullptr;
};

//===----------------------------------------------------------------------===//
// Backend
//===----------------------------------------------------------------------===//

class AttentionBackend {
public:
  virtual ~AttentionBackend() = default;

  /// Canonical name, e.g. FLASH_ATTN.
  virtual std::string_view name() const = 0;
  /// FastVideo's accept_output_buffer: forward() takes the caller's `out`.
  virtual bool acceptsOutputBuffer() const = 0;
  /// Every head size the backend runs (empty when it runs none).
  virtual std::vector<int> supportedHeadSizes() const = 0;
  virtual std::vector<DType> supportedDTypes() const = 0;
  /// How `causal` aligns when seqlen_q != seqlen_k.
  virtual bool causalAlignedBottomRight() const = 0;
  /// Rank in automatic selection (higher first); negative: never automatic.
  virtual int autoPriority() const = 0;

  /// Empty when the backend serves this head size, dtype (when known) and
  /// extras; otherwise the reason, e.g. "head size 80 is not one of 32, 64,
  /// ...". The default checks the two lists and dropout_p via extraReason().
  virtual std::string unsupportedReason(int headSize, std::optional<DType> dtype,
                                        const ImplArgs &extra) const;
  bool supportsHeadSize(int headSize) const;

  /// Throws Unsupported with unsupportedReason() when the backend cannot serve
  /// the head size or extras; InvalidArgument for bad parameters.
  std::unique_ptr<AttentionImpl> makeImpl(const ImplParams &params) const;
  /// The backend's metadata type (get_metadata_cls) with current_timestep set.
  virtual std::unique_ptr<AttentionMetadata> makeMetadata(int64_t currentTimestep) const = 0;
  virtual std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const = 0;

protected:
  virtual std::unique_ptr<AttentionImpl> createImpl(const ImplParams &params) const = 0;
  /// Reason the extras cannot be served (empty: they can). Default: none.
  virtual std::string extraReason(const ImplArgs &extra) const;
};

//===----------------------------------------------------------------------===//
// Registry
//===----------------------------------------------------------------------===//

class BackendRegistry {
public:
  /// A registry holding FLASH_ATTN, SDPA and SAGE_ATTN.
  BackendRegistry();
  /// The process-wide registry.
  static BackendRegistry &instance();

  /// Registers `backend`; a name already present is an InvalidArgument unless
  /// `replace`.
  void add(std::shared_ptr<const AttentionBackend> backend, bool replace = false);
  /// Case-insensitive lookup; TORCH_SDPA is an alias of SDPA. Null if unknown.
  std::shared_ptr<const AttentionBackend> find(std::string_view name) const;
  /// find(), or InvalidArgument listing the known names.
  std::shared_ptr<const AttentionBackend> get(std::string_view name) const;
  /// Canonical names in registration order.
  std::vector<std::string> names() const;
  /// Backends eligible for automatic selection, highest priority first.
  std::vector<std::shared_ptr<const AttentionBackend>> automaticOrder() const;
  /// "FLASH_ATTN, SDPA (alias TORCH_SDPA), SAGE_ATTN".
  std::string knownNamesText() const;

private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const AttentionBackend>> backends_;
};

//===----------------------------------------------------------------------===//
// Selector
//===----------------------------------------------------------------------===//

enum class SelectionSource { Explicit, Env, CallerDefault, Automatic };
std::string_view toString(SelectionSource s);

struct SelectorOptions {
  /// Explicit request (highest precedence); empty: none.
  std::string requested;
  /// The caller's default, used when neither a request nor the env var names
  /// a backend; empty: none.
  std::string callerDefault;
  /// A named backend that cannot serve is an Unsupported error instead of a
  /// logged fallback.
  bool strict = false;
  /// Null: BackendRegistry::instance().
  const BackendRegistry *registry = nullptr;
};

struct BackendSelection {
  std::shared_ptr<const AttentionBackend> backend;
  /// The backend that was named (explicit, env or caller default); null when
  /// the choice was automatic.
  std::shared_ptr<const AttentionBackend> requested;
  SelectionSource source = SelectionSource::Automatic;
  /// Why `requested` could not serve; empty when it was used.
  std::string fallbackReason;
  bool isFallback() const { return !fallbackReason.empty(); }
};

/// Picks the backend for (headSize, dtype, extras): the first named by an
/// explicit request, $ATTNJIT_ATTENTION_BACKEND (read on every call; empty
/// counts as unset) or the caller's default; else the automatic choice
/// (FLASH_ATTN when it serves, else SDPA). A named backend that cannot serve
/// falls back to the automatic choice with a warning naming both and the
/// reason, or, when strict, throws Unsupported. An unknown name is always an
/// InvalidArgument listing the known names. When nothing serves, Unsupported
/// lists every backend's reason.
BackendSelection selectAttentionBackend(int headSize, DType dtype,
                                        const SelectorOptions &options = {},
                                        const ImplArgs &extra = {});

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_BACKEND_H

//===- Backend.cpp - Impl arguments, metadata, AttentionImpl --------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Backend.h"

#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

namespace attnjit {

namespace {

[[noreturn]] void invalid(const std::string &msg) { throw Error(ErrorKind::InvalidArgument, msg); }

const char *typeName(const ImplArg &v) {
  switch (v.index()) {
  case 0: return "bool";
  case 1: return "integer";
  case 2: return "double";
  default: return "string";
  }
}

/// The value under `key` as T, nullopt when absent; InvalidArgument naming the
/// key when it holds another type.
template <typename T>
std::optional<T> typedGet(const std::map<std::string, ImplArg, std::less<>> &items,
                          std::string_view key, const char *expected) {
  auto it = items.find(key);
  if (it == items.end())
    return std::nullopt;
  if (const T *v = std::get_if<T>(&it->second))
    return *v;
  if constexpr (std::is_same_v<T, double>)
    if (const int64_t *i = std::get_if<int64_t>(&it->second))
      return static_cast<double>(*i);
  invalid(fmt::format("extra argument '{}': expected {}, got {} {}", key, expected,
                      typeName(it->second), toString(it->second)));
}

/// Logical dimension indices of q/k/v/out for a layout.
struct DimIndex {
  int seq, heads;
};
DimIndex dimIndex(Layout l) { return l == Layout::BSHD ? DimIndex{1, 2} : DimIndex{2, 1}; }

const char *layoutText(Layout l) {
  return l == Layout::BSHD ? "[batch, seqlen, heads, head_dim] (BSHD)"
                           : "[batch, heads, seqlen, head_dim] (BHSD)";
}

} // namespace

//===----------------------------------------------------------------------===//
// ImplArgs
//===----------------------------------------------------------------------===//

std::string toString(const ImplArg &value) {
  return std::visit(
      [](const auto &v) -> std::string {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>)
          return fmt::format("\"{}\"", v);
        else
          return fmt::format("{}", v);
      },
      value);
}

ImplArgs &ImplArgs::set(const std::string &key, ImplArg value) {
  items_[key] = std::move(value);
  return *this;
}

bool ImplArgs::has(std::string_view key) const { return items_.find(key) != items_.end(); }

std::optional<bool> ImplArgs::getBool(std::string_view key) const {
  return typedGet<bool>(items_, key, "a bool");
}
std::optional<int64_t> ImplArgs::getInt(std::string_view key) const {
  return typedGet<int64_t>(items_, key, "an integer");
}
std::optional<double> ImplArgs::getDouble(std::string_view key) const {
  return typedGet<double>(items_, key, "a number");
}
std::optional<std::string> ImplArgs::getString(std::string_view key) const {
  return typedGet<std::string>(items_, key, "a string");
}

std::string ImplArgs::str() const {
  std::vector<std::string> parts;
  for (const auto &[k, v] : items_)
    parts.push_back(fmt::format("{}={}", k, toString(v)));
  return fmt::format("{{{}}}", fmt::join(parts, ", "));
}

//===----------------------------------------------------------------------===//
// Metadata
//===----------------------------------------------------------------------===//

std::vector<MetadataField>
AttentionMetadata::asdictZeroCopy(std::initializer_list<std::string_view> skip) const {
  std::vector<MetadataField> fields;
  listFields(fields);
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [&](const MetadataField &f) {
                                return std::find(skip.begin(), skip.end(), f.name) != skip.end();
                              }),
               fields.end());
  return fields;
}

void AttentionMetadata::listFields(std::vector<MetadataField> &fields) const {
  fields.push_back({"current_timestep", &currentTimestep});
}

//===----------------------------------------------------------------------===//
// AttentionImpl
//===----------------------------------------------------------------------===//

AttentionImpl::AttentionImpl(std::string_view backendName, const ImplParams &p)
    : backendName_(backendName), numHeads_(p.numHeads), headSize_(p.headSize),
      numKvHeads_(p.numKvHeads.value_or(p.numHeads)), causal_(p.causal), prefix_(p.prefix),
      layout_(p.layout), extra_(p.extra) {
  if (numHeads_ <= 0)
    invalid(fmt::format("{} impl '{}': num_heads must be > 0, got {}", backendName_, prefix_,
                        numHeads_));
  if (headSize_ <= 0)
    invalid(fmt::format("{} impl '{}': head_size must be > 0, got {}", backendName_, prefix_,
                        headSize_));
  if (numKvHeads_ <= 0 || numHeads_ % numKvHeads_ != 0)
    invalid(fmt::format("{} impl '{}': num_kv_heads must be a positive divisor of num_heads {}, "
                        "got {}",
                        backendName_, prefix_, numHeads_, numKvHeads_));
  if (p.softmaxScale && !std::isfinite(*p.softmaxScale))
    invalid(fmt::format("{} impl '{}': softmax_scale must be finite, got {}", backendName_, prefix_,
                        *p.softmaxScale));
  softmaxScale_ =
      p.softmaxScale.value_or(static_cast<float>(1.0 / std::sqrt(static_cast<double>(headSize_))));
}

AttentionImpl::~AttentionImpl() { releaseOwned(); }

void AttentionImpl::releaseOwned() noexcept {
  if (!owned_)
    return;
  try {
    ScopedContext scope(ownedContext_);
    owned_.reset();
  } catch (const std::exception &e) {
    logger().warn("{} impl '{}': freeing the owned output buffer failed: {}", backendName_, prefix_,
                  e.what());
  }
}

void AttentionImpl::preprocessQkv(QkvViews &, const AttentionMetadata &, CUstream) {}
void AttentionImpl::postprocessOutput(TensorView &, const AttentionMetadata &, CUstream) {}
bool AttentionImpl::effectiveCausal(const AttentionMetadata &) const { return causal_; }
const TensorView *AttentionImpl::extraOperand(const AttentionMetadata &) const { return nullptr; }

void AttentionImpl::requireKnownExtras(std::initializer_list<std::string_view> known) const {
  for (const auto &[key, value] : extra_.items())
    if (std::find(known.begin(), known.end(), key) == known.end())
      invalid(fmt::format("{} impl '{}': unknown extra argument '{}' = {}; known: {}", backendName_,
                          prefix_, key, toString(value), fmt::join(known, ", ")));
}

void AttentionImpl::checkAgainstParams(const QkvViews &qkv) const {
  const std::pair<const char *, const TensorView *> tensors[] = {
      {"q", &qkv.q}, {"k", &qkv.k}, {"v", &qkv.v}};
  for (auto [name, t] : tensors)
    if (t->rank() != 4)
      invalid(
          fmt::format("{}.rank: expected 4 ({}), got {}", name, layoutText(layout_), t->rank()));
  const int heads = dimIndex(layout_).heads;
  for (auto [name, t] : tensors) {
    if (t->size(3) != headSize_)
      invalid(fmt::format("{}.shape[3] (head_dim): expected {} (the {} impl's head_size), got {}",
                          name, headSize_, backendName_, t->size(3)));
    bool isQ = t == &qkv.q;
    int expected = isQ ? numHeads_ : numKvHeads_;
    if (t->size(heads) != expected)
      invalid(fmt::format("{}.shape[{}] ({}): expected {} (the {} impl's {}), got {}", name, heads,
                          isQ ? "num_heads" : "num_kv_heads", expected, backendName_,
                          isQ ? "num_heads" : "num_kv_heads", t->size(heads)));
  }
}

TensorView AttentionImpl::ownedOutput(const QkvViews &qkv, const AttentionMetadata &metadata,
                                      CUstream stream) {
  const TensorView &q = qkv.q;
  const size_t bytes = static_cast<size_t>(q.numel()) * static_cast<size_t>(q.elementSize());
  if (owned_.size() < bytes) {
    // Check everything against a stand-in output placed past every operand
    // (never dereferenced) before the driver is touched.
    uintptr_t end = 0;
    for (const TensorView *t : {&qkv.q, &qkv.k, &qkv.v, extraOperand(metadata)})
      if (t)
        end = std::max(end, t->byteExtent().second);
    uintptr_t standInAddress = (end + 255) & ~uintptr_t(255);
    TensorView standIn(reinterpret_cast<void *>(standInAddress), q.dtype(), q.shape(), {},
                       q.device(), q.deviceKind());
    check(qkv, metadata, standIn);

    CudaDriver &drv = CudaDriver::get();
    drv.requireAvailable();
    // The stream's context (for the null stream: the current one, else q's
    // device's primary context), current while the capture state is asked.
    CUcontext ctx = streamContext(stream, q.device());
    ScopedContext scope(ctx);
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    drv.check(drv.cuStreamIsCapturing(stream, &capture), "cuStreamIsCapturing",
              "attention impl output buffer");
    if (capture != CU_STREAM_CAPTURE_STATUS_NONE)
      invalid(fmt::format("out: not given, and the {} impl '{}' must grow its output buffer from "
                          "{} to {} bytes during a CUDA graph capture; pass out, or run once "
                          "with this shape before capturing",
                          backendName_, prefix_, owned_.size(), bytes));
    if (owned_) {
      // Kernels of earlier calls may still read or write the old buffer.
      drv.check(drv.cuStreamSynchronize(stream), "cuStreamSynchronize",
                "growing the attention impl output buffer");
      releaseOwned();
    }
    owned_ = DeviceBuffer(bytes);
    ownedContext_ = ctx;
    logger().debug("{} impl '{}': owned output buffer of {} bytes", backendName_, prefix_, bytes);
  }
  return TensorView(owned_.data(), q.dtype(), q.shape(), {}, q.device(), DeviceKind::Cuda);
}

TensorView AttentionImpl::forward(const TensorView &q, const TensorView &k, const TensorView &v,
                                  const AttentionMetadata &metadata, std::optional<TensorView> out,
                                  CUstream stream) {
  QkvViews qkv{q, k, v};
  preprocessQkv(qkv, metadata, stream);
  checkAgainstParams(qkv);
  TensorView result = out ? *out : ownedOutput(qkv, metadata, stream);
  // launch() validates completely (flashAttention / sdpaAttention) before it
  // touches the driver.
  launch(qkv, metadata, result, stream);
  postprocessOutput(result, metadata, stream);
  return result;
}

//===----------------------------------------------------------------------===//
// AttentionBackend
//===----------------------------------------------------------------------===//

namespace {

/// "32, 64, 96" or "1..256" for runs of consecutive sizes.
std::string headSizesText(const std::vector<int> &sizes) {
  std::vector<std::string> parts;
  for (size_t i = 0; i < sizes.size();) {
    size_t j = i;
    while (j + 1 < sizes.size() && sizes[j + 1] == sizes[j] + 1)
      ++j;
    parts.push_back(j > i + 1 ? fmt::format("{}..{}", sizes[i], sizes[j])
                              : fmt::format("{}", sizes[i]));
    if (j == i + 1)
      parts.push_back(fmt::format("{}", sizes[j]));
    i = j + 1;
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

} // namespace

bool AttentionBackend::supportsHeadSize(int headSize) const {
  std::vector<int> sizes = supportedHeadSizes();
  return std::find(sizes.begin(), sizes.end(), headSize) != sizes.end();
}

std::string AttentionBackend::unsupportedReason(int headSize, std::optional<DType> dtype,
                                                const ImplArgs &extra) const {
  if (!supportsHeadSize(headSize))
    return fmt::format("head size {} is not one of {}", headSize,
                       headSizesText(supportedHeadSizes()));
  if (dtype) {
    std::vector<DType> dtypes = supportedDTypes();
    if (std::find(dtypes.begin(), dtypes.end(), *dtype) == dtypes.end()) {
      std::vector<std::string_view> names;
      for (DType t : dtypes)
        names.push_back(toString(t));
      return fmt::format("dtype {} is not one of {}", toString(*dtype), fmt::join(names, ", "));
    }
  }
  return extraReason(extra);
}

std::string AttentionBackend::extraReason(const ImplArgs &) const { return {}; }

std::unique_ptr<AttentionImpl> AttentionBackend::makeImpl(const ImplParams &params) const {
  std::string reason = unsupportedReason(params.headSize, std::nullopt, params.extra);
  if (!reason.empty())
    throw Error(ErrorKind::Unsupported,
                fmt::format("{} cannot make an impl for '{}' (head_size={}): {}", name(),
                            params.prefix, params.headSize, reason));
  return createImpl(params);
}

} // namespace attnjit

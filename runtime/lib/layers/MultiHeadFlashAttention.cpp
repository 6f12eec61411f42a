//===- MultiHeadFlashAttention.cpp - The RL4CO-style attention layer ------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Layers/MultiHeadFlashAttention.h"

#include "attnjit/Runtime/BackendImpls.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Float16.h"
#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

namespace attnjit {

namespace {

[[noreturn]] void invalid(const std::string &msg) {
  throw Error(ErrorKind::InvalidArgument, msg);
}

size_t align256(size_t n) { return (n + 255) / 256 * 256; }

std::string shapeText(const std::vector<int64_t> &s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

/// Columns of P each attention-weights pass extracts: one head_dim of
/// identity columns per SDPA call (see storeWeights).
int64_t paddedGraph(int64_t graph, int64_t headDim) {
  return (graph + headDim - 1) / headDim * headDim;
}

} // namespace

//===----------------------------------------------------------------------===//
// Construction and parameters
//===----------------------------------------------------------------------===//

MultiHeadFlashAttention::MultiHeadFlashAttention(int nHeads, int inputDim, int embedDim,
                                                 std::optional<int> valDim,
                                                 std::optional<int> keyDim, bool bias,
                                                 double attentionDropout, bool storeAttnWeights,
                                                 MhaOptions options)
    : nHeads_(nHeads), inputDim_(inputDim), embedDim_(embedDim), headDim_(0), bias_(bias),
      dropout_(attentionDropout), storeAttnWeights_(storeAttnWeights),
      options_(std::move(options)) {
  if (nHeads <= 0)
    invalid(fmt::format("n_heads: expected > 0, got {}", nHeads));
  if (inputDim <= 0)
    invalid(fmt::format("input_dim: expected > 0, got {}", inputDim));
  if (embedDim <= 0)
    invalid(fmt::format("embed_dim: expected > 0, got {}", embedDim));
  if (embedDim % nHeads != 0)
    invalid(fmt::format("embed_dim: expected a multiple of n_heads ({}) so that head_dim = "
                        "embed_dim / n_heads is whole, got {}",
                        nHeads, embedDim));
  headDim_ = embedDim / nHeads;
  for (auto [name, v] : {std::pair<const char *, std::optional<int>>{"val_dim", valDim},
                         {"key_dim", keyDim}})
    if (v && *v != headDim_)
      invalid(fmt::format("{}: the module computes every head with head_dim = embed_dim / "
                          "n_heads = {}; expected {} or none, got {}",
                          name, headDim_, headDim_, *v));
  if (!(attentionDropout >= 0.0 && attentionDropout < 1.0))
    invalid(fmt::format("attention_dropout: expected a probability in [0, 1), got {}",
                        attentionDropout));
  if (options_.dtype != DType::BF16 && options_.dtype != DType::F16 &&
      options_.dtype != DType::F32)
    invalid(fmt::format("options.dtype: expected bf16, f16 or f32, got {}",
                        toString(options_.dtype)));
  // The projections move K in 8-element chunks (Linear.h).
  if (inputDim % 8 != 0)
    throw Error(ErrorKind::Unsupported,
                fmt::format("input_dim: the projection GEMM needs a multiple of 8, got {}",
                            inputDim));
  if (embedDim % 8 != 0)
    throw Error(ErrorKind::Unsupported,
                fmt::format("embed_dim: the output projection GEMM needs a multiple of 8, got {}",
                            embedDim));
  if (headDim_ > 256)
    throw Error(ErrorKind::Unsupported,
                fmt::format("head_dim: attention supports 1..256, got {} (embed_dim {} / n_heads "
                            "{})",
                            headDim_, embedDim, nHeads));

  for (std::string_view w : {"W_query", "W_key", "W_val", "W_out"}) {
    int64_t fanIn = w == "W_out" ? embedDim : inputDim;
    params_.push_back({fmt::format("{}.weight", w), {embedDim, fanIn}, {}});
    params_.back().values.assign(static_cast<size_t>(embedDim * fanIn), 0.0f);
    if (bias) {
      params_.push_back({fmt::format("{}.bias", w), {embedDim}, {}});
      params_.back().values.assign(static_cast<size_t>(embedDim), 0.0f);
    }
  }

  // The backends: the selected one (caller's request, the environment, else
  // SDPA), and SDPA for calls with a mask (and with dropout, in training).
  SelectorOptions sel;
  sel.requested = options_.backend;
  sel.callerDefault = std::string(kSdpaBackend);
  sel.strict = options_.strictBackend;
  ImplParams ip;
  ip.numHeads = nHeads_;
  ip.headSize = headDim_;
  ip.prefix = "MultiHeadFlashAttention";
  BackendSelection chosen = selectAttentionBackend(headDim_, options_.dtype, sel);
  impl_ = chosen.backend->makeImpl(ip);
  sdpaImpl_ = BackendRegistry::instance().get(kSdpaBackend)->makeImpl(ip);
  if (dropout_ > 0.0) {
    ImplParams dp = ip;
    dp.extra.set("dropout_p", dropout_);
    dropImpl_ = BackendRegistry::instance().get(kSdpaBackend)->makeImpl(dp);
  }
}

MultiHeadFlashAttention::~MultiHeadFlashAttention() = default;

std::string_view MultiHeadFlashAttention::backendName() const { return impl_->backendName(); }

std::vector<std::string> MultiHeadFlashAttention::parameterNames() const {
  std::vector<std::string> names;
  for (const Param &p : params_)
    names.push_back(p.name);
  return names;
}

MultiHeadFlashAttention::Param &MultiHeadFlashAttention::param(const std::string &name) {
  for (Param &p : params_)
    if (p.name == name)
      return p;
  invalid(fmt::format("no parameter '{}'", name)); // unreachable for the layer's own names
}

void MultiHeadFlashAttention::initParameters(uint64_t seed) {
  // One stream for all parameters, in parameterNames() order.
  std::mt19937_64 rng(seed);
  for (Param &p : params_) {
    double bound;
    if (p.shape.size() == 2) // xavier_uniform_: gain 1, fan_in + fan_out
      bound = std::sqrt(6.0 / double(p.shape[0] + p.shape[1]));
    else // nn.Linear's bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
      bound = 1.0 / std::sqrt(double(p.name.rfind("W_out", 0) == 0 ? embedDim_ : inputDim_));
    std::uniform_real_distribution<double> u(-bound, bound);
    for (float &v : p.values)
      v = static_cast<float>(u(rng));
  }
  dirty_ = true;
}

StateDict MultiHeadFlashAttention::stateDict() const {
  StateDict dict;
  for (const Param &p : params_)
    dict.emplace(p.name, StateTensor::fromFloat(p.values, p.shape));
  return dict;
}

void MultiHeadFlashAttention::loadStateDict(const StateDict &dict) {
  for (const auto &entry : dict) {
    const std::string &key = entry.first;
    if (std::none_of(params_.begin(), params_.end(), [&](const Param &p) { return p.name == key; }))
      invalid(fmt::format("{}: unexpected key (the layer's parameters are {}{})", key,
                          fmt::join(parameterNames(), ", "),
                          bias_ ? "" : "; it was built with bias = false"));
  }
  // Convert everything first, so that a bad entry leaves the layer unchanged.
  std::vector<std::vector<float>> values;
  for (const Param &p : params_) {
    auto it = dict.find(p.name);
    if (it == dict.end())
      invalid(fmt::format("{}: missing from the state dict", p.name));
    if (it->second.shape != p.shape)
      invalid(fmt::format("{}: expected shape {}, got {}", p.name, shapeText(p.shape),
                          shapeText(it->second.shape)));
    values.push_back(it->second.toFloat(p.name));
  }
  for (size_t i = 0; i < params_.size(); ++i)
    params_[i].values = std::move(values[i]);
  dirty_ = true;
}

void MultiHeadFlashAttention::loadStateDict(const std::string &path) {
  loadStateDict(readSafetensors(path));
}

void MultiHeadFlashAttention::saveStateDict(const std::string &path) const {
  writeSafetensors(path, stateDict());
}

//===----------------------------------------------------------------------===//
// Device parameters
//===----------------------------------------------------------------------===//

void MultiHeadFlashAttention::uploadIfNeeded() {
  if (!dirty_)
    return;
  const size_t elt = static_cast<size_t>(dtypeSize(options_.dtype));
  const size_t E = embedDim_, in = inputDim_;
  // W_qkv [3E, in] (query, key, value rows), b_qkv [3E], W_out [E, E], b_out [E].
  bQkvOffset_ = align256(3 * E * in * elt);
  wOutOffset_ = bQkvOffset_ + align256(3 * E * elt);
  bOutOffset_ = wOutOffset_ + align256(E * E * elt);
  const size_t total = bOutOffset_ + align256(E * elt);
  std::vector<uint8_t> host(total, 0);
  auto put = [&](size_t byteOffset, const std::vector<float> &v) {
    for (size_t i = 0; i < v.size(); ++i) {
      uint8_t *dst = host.data() + byteOffset + i * elt;
      if (options_.dtype == DType::F32) {
        std::memcpy(dst, &v[i], 4);
      } else {
        uint16_t h = from16Float(v[i], options_.dtype);
        std::memcpy(dst, &h, 2);
      }
    }
  };
  const char *qkv[] = {"W_query", "W_key", "W_val"};
  for (size_t j = 0; j < 3; ++j) {
    put(j * E * in * elt, param(fmt::format("{}.weight", qkv[j])).values);
    if (bias_)
      put(bQkvOffset_ + j * E * elt, param(fmt::format("{}.bias", qkv[j])).values);
  }
  put(wOutOffset_, param("W_out.weight").values);
  if (bias_)
    put(bOutOffset_, param("W_out.bias").values);
  if (deviceParams_.size() < total)
    deviceParams_ = DeviceBuffer(total);
  deviceParams_.copyFromHost(host.data(), total); // synchronous: once per change
  dirty_ = false;
}

//===----------------------------------------------------------------------===//
// Forward
//===----------------------------------------------------------------------===//

TensorView MultiHeadFlashAttention::maskAs4d(const TensorView &mask, int64_t batch,
                                             int64_t heads, int64_t nQuery, int64_t graph) {
  if (mask.dtype() != DType::Bool)
    invalid(fmt::format("mask.dtype: expected bool (true = masked out), got {}",
                        toString(mask.dtype())));
  const int r = mask.rank();
  if (r < 2 || r > 4)
    invalid(fmt::format("mask.rank: expected 2 ([B, graph]), 3 ([B, n_query, graph]) or 4 "
                        "([B, n_heads, n_query, graph]), got {}",
                        r));
  // Logical dims of each rank, in [B, H, n_query, graph] order.
  static const int kDims[3][4] = {{0, 3, -1, -1}, {0, 2, 3, -1}, {0, 1, 2, 3}};
  static const char *kNames[4] = {"batch", "n_heads", "n_query", "graph"};
  const int64_t want[4] = {batch, heads, nQuery, graph};
  std::vector<int64_t> shape(4, 1), strides(4, 0);
  for (int d = 0; d < r; ++d) {
    int m = kDims[r - 2][d];
    int64_t got = mask.size(d);
    bool broadcastable = m != 3; // the key dim must be whole
    if (got != want[m] && !(broadcastable && got == 1))
      invalid(fmt::format("mask.shape[{}] ({}): expected {}{}, got {}", d, kNames[m], want[m],
                          broadcastable ? " or 1 (to broadcast)" : "", got));
    shape[m] = got;
    strides[m] = got == 1 ? 0 : mask.stride(d);
  }
  if (graph > 1 && strides[3] != 1)
    invalid(fmt::format("mask.strides[{}] (graph): expected 1, got {}", r - 1, mask.stride(r - 1)));
  return TensorView(mask.data(), DType::Bool, shape, strides, mask.device(), mask.deviceKind());
}

void MultiHeadFlashAttention::validateForward(const TensorView &q, const TensorView *h,
                                              const TensorView *mask,
                                              const std::optional<TensorView> &out) const {
  auto checkInput = [&](const char *name, const TensorView &t) {
    if (t.rank() != 3)
      invalid(fmt::format("{}.rank: expected 3 ([B, {}, input_dim]), got {}", name,
                          name[0] == 'q' ? "n_query" : "graph", t.rank()));
    if (t.dtype() != options_.dtype)
      invalid(fmt::format("{}.dtype: expected the layer's dtype {}, got {}", name,
                          toString(options_.dtype), toString(t.dtype())));
    if (t.size(2) != inputDim_)
      invalid(fmt::format("{}.shape[2] (input_dim): expected {}, got {}", name, inputDim_,
                          t.size(2)));
    for (int d = 0; d < 2; ++d)
      if (t.size(d) <= 0)
        invalid(fmt::format("{}.shape[{}]: expected > 0, got {}", name, d, t.size(d)));
    // Viewed as [B * S, input_dim] by the projection.
    if (t.stride(2) != 1 ||
        (t.size(0) > 1 && t.size(1) > 1 && t.stride(0) != t.size(1) * t.stride(1)))
      invalid(fmt::format("{}: expected rows of input_dim contiguous and batches back to back "
                          "(strides [S * row, row, 1]), got strides [{}]",
                          name, fmt::join(t.strides(), ", ")));
    // The projection GEMM loads rows in 16-byte chunks (Linear.h); checked
    // here so that no projection is launched before a later one is refused.
    if (reinterpret_cast<uintptr_t>(t.data()) % 16 != 0)
      invalid(fmt::format("{}.data: expected a 16-byte aligned pointer (the projection loads rows "
                          "in 16-byte chunks), got {}",
                          name, t.data()));
    int64_t unit = 16 / dtypeSize(t.dtype());
    int64_t rowStride = t.size(1) > 1 ? t.stride(1) : t.size(0) > 1 ? t.stride(0) : unit;
    if (rowStride % unit != 0)
      invalid(fmt::format("{}: expected a row stride of whole 16-byte units ({} elements), got {}",
                          name, unit, rowStride));
  };
  checkInput("q", q);
  if (h) {
    checkInput("h", *h);
    if (h->size(0) != q.size(0))
      invalid(fmt::format("h.shape[0] (batch): expected {} (q's), got {}", q.size(0), h->size(0)));
  }
  const int64_t B = q.size(0), nq = q.size(1), graph = h ? h->size(1) : q.size(1);
  if (mask)
    maskAs4d(*mask, B, nHeads_, nq, graph);
  if (out) {
    std::vector<int64_t> want = {B, nq, embedDim_};
    if (out->shape() != want)
      invalid(fmt::format("out.shape: expected {}, got {}", shapeText(want),
                          shapeText(out->shape())));
    if (out->dtype() != options_.dtype)
      invalid(fmt::format("out.dtype: expected the layer's dtype {}, got {}",
                          toString(options_.dtype), toString(out->dtype())));
    if (!out->isContiguous())
      invalid(fmt::format("out: expected a contiguous tensor, got strides [{}]",
                          fmt::join(out->strides(), ", ")));
    // The output projection stores pairs of 16-bit elements.
    if (reinterpret_cast<uintptr_t>(out->data()) % (2 * out->elementSize()) != 0)
      invalid(fmt::format("out.data: expected a {}-byte aligned pointer, got {}",
                          2 * out->elementSize(), out->data()));
  }
  if (storeAttnWeights_ && graph > 256)
    throw Error(ErrorKind::Unsupported,
                fmt::format("store_attn_weights: the weights are extracted by the attention "
                            "kernel with up to 256 keys a pass; graph_size {} is larger",
                            graph));
}

void MultiHeadFlashAttention::runAttention(const TensorView &qv, const TensorView &kv,
                                           const TensorView &vv, const TensorView &ov,
                                           const TensorView *mask4d, bool dropout,
                                           CUstream stream) {
  MetadataBuildArgs args;
  if (mask4d) {
    args.attnMask = *mask4d;
    args.maskTrueHides = true;
  }
  AttentionImpl *impl = impl_.get();
  if (dropout && training_ && dropImpl_) {
    impl = dropImpl_.get();
    args.dropoutOffset = dropoutOffset_++;
  } else if (mask4d) {
    impl = sdpaImpl_.get();
  }
  auto builder = BackendRegistry::instance().get(impl->backendName())->makeMetadataBuilder();
  builder->prepare();
  std::unique_ptr<AttentionMetadata> metadata = builder->build(args);
  impl->forward(qv, kv, vv, *metadata, ov, stream);
}

TensorView MultiHeadFlashAttention::forward(const TensorView &q, const TensorView *h,
                                            const TensorView *mask, CUstream stream,
                                            std::optional<TensorView> out) {
  validateForward(q, h, mask, out);
  const bool selfAttn = h == nullptr || (h->data() == q.data() && h->shape() == q.shape() &&
                                         h->strides() == q.strides());
  const TensorView &hv = h ? *h : q;
  const int64_t B = q.size(0), nq = q.size(1), graph = hv.size(1);
  const int64_t E = embedDim_, H = nHeads_, D = headDim_;
  const DType dt = options_.dtype;
  const size_t elt = static_cast<size_t>(dtypeSize(dt));
  const int dev = q.device();
  std::optional<TensorView> mask4d;
  if (mask)
    mask4d = maskAs4d(*mask, B, H, nq, graph);

  // Workspace plan: projections, attention output, [output], [weights].
  const size_t qRows = static_cast<size_t>(B * nq), kvRows = static_cast<size_t>(B * graph);
  const size_t projBytes = selfAttn ? align256(qRows * 3 * E * elt)
                                    : align256(qRows * E * elt) + align256(kvRows * 2 * E * elt);
  const size_t attnBytes = align256(qRows * E * elt);
  const size_t outBytes = out ? 0 : attnBytes;
  const int64_t gPad = paddedGraph(graph, D);
  const size_t weightBytes =
      storeAttnWeights_ ? align256(static_cast<size_t>(B * H * nq * gPad) * elt) : 0;
  const size_t total = projBytes + attnBytes + outBytes + weightBytes;

  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  ScopedContext scope(streamContext(stream, dev));
  // Buffers grow (and parameters are uploaded) before anything is launched,
  // outside CUDA graph captures, after the kernels of earlier calls that may
  // use the old contents are done.
  auto prepareGrowth = [&](const char *what, size_t from, size_t to) {
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    drv.check(drv.cuStreamIsCapturing(stream, &capture), "cuStreamIsCapturing",
              "MultiHeadFlashAttention buffers");
    if (capture != CU_STREAM_CAPTURE_STATUS_NONE)
      invalid(fmt::format("MultiHeadFlashAttention: the {} must be written ({} -> {} bytes) "
                          "during a CUDA graph capture; run once with these shapes and "
                          "parameters first",
                          what, from, to));
    drv.check(drv.cuStreamSynchronize(stream), "cuStreamSynchronize",
              "growing MultiHeadFlashAttention buffers");
  };
  if (dirty_) {
    prepareGrowth("parameters (changed since the last forward)", deviceParams_.size(),
                  deviceParams_.size());
    uploadIfNeeded();
  }
  if (workspace_.size() < total) {
    prepareGrowth("workspace", workspace_.size(), total);
    workspace_ = DeviceBuffer(total);
    logger().debug("MultiHeadFlashAttention: workspace of {} bytes", total);
  }
  if (storeAttnWeights_ && graph > identityGraph_) {
    // An identity [graph, pitch] extracts the stored weights (see below). The
    // identity of the largest graph seen serves every smaller one: its rows
    // below graph have zeros in every column from graph on.
    const int64_t pitch = (gPad + D + 7) / 8 * 8;
    std::vector<uint8_t> id(static_cast<size_t>(graph * pitch) * elt, 0);
    for (int64_t r = 0; r < graph; ++r) {
      uint8_t *dst = id.data() + static_cast<size_t>(r * pitch + r) * elt;
      if (dt == DType::F32) {
        float one = 1.0f;
        std::memcpy(dst, &one, 4);
      } else {
        uint16_t one = from16Float(1.0f, dt);
        std::memcpy(dst, &one, 2);
      }
    }
    prepareGrowth("attention-weights identity", identity_.size(), id.size());
    identity_ = DeviceBuffer(id.size());
    identity_.copyFromHost(id.data(), id.size());
    identityGraph_ = graph;
    identityPitch_ = pitch;
  }
  auto at = [&](size_t offset) {
    return static_cast<void *>(static_cast<uint8_t *>(workspace_.data()) + offset);
  };

  // Projections.
  const TensorView *noBias = nullptr;
  auto biasView = [&](int64_t offset, int64_t n) -> std::optional<TensorView> {
    if (!bias_)
      return std::nullopt;
    return TensorView(static_cast<uint8_t *>(deviceParams_.data()) + bQkvOffset_ + offset * elt,
                      dt, {n}, {}, dev);
  };
  auto weight = [&](int64_t rowOffset, int64_t rows) {
    return TensorView(static_cast<uint8_t *>(deviceParams_.data()) + rowOffset * inputDim_ * elt,
                      dt, {rows, int64_t(inputDim_)}, {}, dev);
  };
  LinearOptions lo;
  lo.config = options_.gemmConfig;
  // Rows of q and h are stride(1) apart, batches back to back (validateForward).
  auto rowsOf = [&](const TensorView &t, size_t rows) {
    int64_t rowStride = t.size(1) > 1 ? t.stride(1) : t.size(0) > 1 ? t.stride(0) : inputDim_;
    return TensorView(t.data(), dt, {int64_t(rows), int64_t(inputDim_)}, {rowStride, 1}, dev);
  };
  TensorView x = rowsOf(q, qRows);
  TensorView qProj, kProj, vProj; // BSHD views
  int64_t qRowStride = 3 * E, kvRowStride = 3 * E;
  void *qBase = at(0), *kBase = nullptr;
  if (selfAttn) {
    TensorView y(at(0), dt, {int64_t(qRows), 3 * E}, {}, dev);
    std::optional<TensorView> b = biasView(0, 3 * E);
    linear(x, weight(0, 3 * E), b ? &*b : noBias, y, stream, lo);
    kBase = static_cast<uint8_t *>(at(0)) + E * elt;
  } else {
    qRowStride = E;
    kvRowStride = 2 * E;
    TensorView yq(at(0), dt, {int64_t(qRows), E}, {}, dev);
    std::optional<TensorView> bq = biasView(0, E), bkv = biasView(E, 2 * E);
    linear(x, weight(0, E), bq ? &*bq : noBias, yq, stream, lo);
    size_t kvOff = align256(qRows * E * elt);
    TensorView xh = rowsOf(hv, kvRows);
    TensorView ykv(at(kvOff), dt, {int64_t(kvRows), 2 * E}, {}, dev);
    linear(xh, weight(E, 2 * E), bkv ? &*bkv : noBias, ykv, stream, lo);
    kBase = at(kvOff);
  }
  qProj = TensorView(qBase, dt, {B, nq, H, D}, {nq * qRowStride, qRowStride, D, 1}, dev);
  kProj = TensorView(kBase, dt, {B, graph, H, D}, {graph * kvRowStride, kvRowStride, D, 1}, dev);
  vProj = TensorView(static_cast<uint8_t *>(kBase) + E * elt, dt, {B, graph, H, D},
                     {graph * kvRowStride, kvRowStride, D, 1}, dev);

  // Attention into [B, nq, H, D] = [B * nq, E].
  size_t attnOff = projBytes;
  TensorView attnOut(at(attnOff), dt, {B, nq, H, D}, {}, dev);
  runAttention(qProj, kProj, vProj, attnOut, mask4d ? &*mask4d : nullptr, /*dropout=*/true,
               stream);

  // Output projection.
  TensorView result = out ? *out : TensorView(at(attnOff + attnBytes), dt, {B, nq, E}, {}, dev);
  {
    TensorView a(at(attnOff), dt, {int64_t(qRows), E}, {}, dev);
    TensorView y(result.data(), dt, {int64_t(qRows), E}, {}, dev);
    TensorView w(static_cast<uint8_t *>(deviceParams_.data()) + wOutOffset_, dt, {E, E}, {}, dev);
    std::optional<TensorView> b;
    if (bias_)
      b = TensorView(static_cast<uint8_t *>(deviceParams_.data()) + bOutOffset_, dt, {E}, {}, dev);
    linear(a, w, b ? &*b : noBias, y, stream, lo);
  }

  if (storeAttnWeights_) {
    // P [B, H, nq, graph] from the attention kernel itself: softmax(Q K^T) V
    // with V the identity's columns j .. j + D - 1 gives P's columns j ..
    // j + D - 1, so ceil(graph / D) SDPA passes (no dropout, same mask)
    // extract P exactly as the attention computed it. V is one [graph, D]
    // window of an identity matrix (zero columns past graph), broadcast over
    // batch and heads with stride 0.
    size_t wOff = attnOff + attnBytes + outBytes;
    // The weights before dropout: these passes never drop.
    for (int64_t j = 0; j < gPad; j += D) {
      TensorView idCols(static_cast<uint8_t *>(identity_.data()) + j * elt, dt, {B, graph, H, D},
                        {0, identityPitch_, 0, 1}, dev);
      TensorView pCols(static_cast<uint8_t *>(at(wOff)) + j * elt, dt, {B, nq, H, D},
                       {H * nq * gPad, gPad, nq * gPad, 1}, dev);
      runAttention(qProj, kProj, idCols, pCols, mask4d ? &*mask4d : nullptr, /*dropout=*/false,
                   stream);
    }
    MhaAttnWeights w;
    w.weights = TensorView(at(wOff), dt, {B, H, nq, graph}, {H * nq * gPad, nq * gPad, gPad, 1},
                           dev);
    if (mask4d) {
      std::vector<int64_t> st = mask4d->strides();
      w.mask = TensorView(mask4d->data(), DType::Bool, {B, H, nq, graph},
                          {mask4d->size(0) == 1 ? 0 : st[0], mask4d->size(1) == 1 ? 0 : st[1],
                           mask4d->size(2) == 1 ? 0 : st[2], st[3]},
                          dev);
    }
    lastAttn_ = w;
  }
  return result;
}

} // namespace attnjit

//===- MhaLayerGpuTest.cpp - The GEMM recipe and the MHA layer on a GPU ---===//
//
// Part of attnjit. linear() (the GEMM recipes: the device's, and on sm_90a
// several wgmma tilings) against float64 on odd shapes and the layer's
// projection shapes; MultiHeadFlashAttention against a
// float64 host model of the PyTorch module's semantics (projections, mask
// with true = masked out in every form, fully masked rows as zeros, stored
// attention weights, dropout only in training), on B = 512 with sampled
// batches checked on the host.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "GpuTestUtil.h"

#include "attnjit/Layers/MultiHeadFlashAttention.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Linear.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

/// y = x w^T + b in float64 for the rows in `rows`.
std::vector<double> referenceLinear(const std::vector<float> &x, const std::vector<float> &w,
                                    const std::vector<float> *b, int64_t K, int64_t N,
                                    const std::vector<int64_t> &rows) {
  std::vector<double> y;
  y.reserve(rows.size() * N);
  for (int64_t r : rows)
    for (int64_t n = 0; n < N; ++n) {
      double acc = b ? double((*b)[n]) : 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(x[r * K + k]) * double(w[n * K + k]);
      y.push_back(acc);
    }
  return y;
}

} // namespace

TEST_CASE("gemm: linear() vs float64, odd shapes and the layer's shapes", "[gpu][gemm]") {
  struct Case {
    DType dtype;
    int64_t M, N, K;
    bool bias;
    int64_t yPitch; ///< 0: N (contiguous)
    KernelConfig config = {}; ///< set: sm_90a only (the wgmma recipe's tiles)
  };
  const Case cases[] = {
      // 16-bit outputs are stored in pairs: odd N takes an even pitch.
      {DType::BF16, 1, 8, 8, true, 0},        {DType::BF16, 37, 13, 24, true, 14},
      {DType::F16, 130, 129, 72, false, 130},   {DType::BF16, 257, 200, 136, true, 256},
      {DType::F16, 300, 33, 264, true, 40},   {DType::F32, 37, 13, 24, true, 0},
      {DType::F32, 130, 129, 72, false, 132}, {DType::BF16, 51200, 384, 128, true, 0},
      {DType::BF16, 51200, 768, 256, true, 0}, {DType::BF16, 51200, 128, 128, true, 0},
      {DType::BF16, 51200, 256, 256, true, 0}, {DType::F32, 51200, 384, 128, true, 0},
      // sm_90a (wgmma recipe): y by TMA when its pitch and N are 16-byte
      // multiples (N 200, 64, 320, 72 ...), by the threads otherwise (pitches
      // 14, 130, 138; N = 33 with pitch 40, where TMA would write columns
      // 33..39); K = 8 and 16 (one partial 64-column panel), K = 264 (five
      // panels, the last partial); N past one 256-column tile.
      {DType::BF16, 1000, 72, 8, false, 0},   {DType::F16, 129, 64, 256, true, 64},
      {DType::BF16, 77, 320, 40, true, 328},  {DType::BF16, 515, 136, 16, false, 138},
      // Other sm_90a tilings: one consumer warpgroup, 256 columns, 64 columns
      // with a deep ring; tails in M and N.
      {DType::BF16, 333, 200, 136, true, 200, {64, 256, 8, 4}},
      {DType::F16, 1001, 330, 72, true, 0, {128, 64, 12, 8}},
      {DType::BF16, 51200, 384, 128, true, 0, {128, 192, 12, 3}},
  };
  Stream stream;
  const bool sm90a = deviceArch(0) == "sm_90a";
  for (const Case &c : cases) {
    if (c.config.blockM && !sm90a)
      continue;
    DYNAMIC_SECTION(toString(c.dtype) << " M" << c.M << " N" << c.N << " K" << c.K
                                      << (c.bias ? " bias" : "") << " pitch " << c.yPitch
                                      << " config " << c.config.str()) {
      const int64_t pitch = c.yPitch ? c.yPitch : c.N;
      std::vector<float> x = quantized(randomNormal(size_t(c.M * c.K), c.M + c.K), c.dtype);
      std::vector<float> w = quantized(randomNormal(size_t(c.N * c.K), c.N, 0.1f), c.dtype);
      std::vector<float> b = quantized(randomNormal(size_t(c.N), 3), c.dtype);
      DeviceBuffer dx = upload(encodeBytes(x, c.dtype)), dw = upload(encodeBytes(w, c.dtype)),
                   db = upload(encodeBytes(b, c.dtype));
      const int eb = dtypeSize(c.dtype);
      DeviceBuffer dy = poisonedBuffer(size_t(c.M * pitch * eb));
      TensorView bias = viewOf(db, c.dtype, {c.N});
      linear(viewOf(dx, c.dtype, {c.M, c.K}), viewOf(dw, c.dtype, {c.N, c.K}),
             c.bias ? &bias : nullptr, viewOf(dy, c.dtype, {c.M, c.N}, {pitch, 1}), stream.get(),
             LinearOptions{c.config});
      stream.sync();
      std::vector<uint8_t> yBytes = download<uint8_t>(dy);
      std::vector<float> yAll = decodeBytes(yBytes, c.dtype);
      // Every output written, nothing past N in a padded row.
      int64_t unwritten = 0, outside = 0;
      for (int64_t r = 0; r < c.M; ++r)
        for (int64_t n = 0; n < pitch; ++n) {
          bool poison = std::all_of(yBytes.begin() + (r * pitch + n) * eb,
                                    yBytes.begin() + (r * pitch + n + 1) * eb,
                                    [](uint8_t v) { return v == kPoisonByte; });
          (n < c.N ? unwritten : outside) += n < c.N ? poison : !poison;
        }
      CHECK(unwritten == 0);
      CHECK(outside == 0);
      // Sampled rows (all of them for small M), the first and last included.
      std::vector<int64_t> rows;
      for (int64_t r = 0; r < c.M; r += c.M > 1000 ? 97 : 1)
        rows.push_back(r);
      rows.push_back(c.M - 1);
      std::vector<double> ref = referenceLinear(x, w, c.bias ? &b : nullptr, c.K, c.N, rows);
      std::vector<float> got;
      for (int64_t r : rows)
        for (int64_t n = 0; n < c.N; ++n)
          got.push_back(yAll[r * pitch + n]);
      Accuracy acc = compareToReference(ref, got);
      INFO(acc.str());
      CHECK(acc.nonFinite == 0);
      CHECK(acc.relativeL2 < (c.dtype == DType::F32 ? 1e-5 : 1e-2));
    }
  }
}

//===----------------------------------------------------------------------===//
// The layer
//===----------------------------------------------------------------------===//

namespace {

enum class MaskForm { None, KeyPad, PerQuery, PerHead };
const char *maskFormName(MaskForm m) {
  switch (m) {
  case MaskForm::None: return "none";
  case MaskForm::KeyPad: return "[B,graph]";
  case MaskForm::PerQuery: return "[B,nq,graph]";
  case MaskForm::PerHead: return "[B,H,nq,graph]";
  }
  return "?";
}

/// The module's forward for batch b in float64: returns out [nq, E] and, when
/// `weights` is given, fills it with P [H, nq, graph].
struct MhaReference {
  int64_t H, D, E, in, nq, graph;
  std::map<std::string, std::vector<float>> p; ///< parameters as the GPU holds them
  bool bias;

  std::vector<double> project(const float *x, int64_t rows, const std::string &name) const {
    const std::vector<float> &w = p.at(name + ".weight");
    std::vector<double> y(size_t(rows * E));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t e = 0; e < E; ++e) {
        double acc = bias ? double(p.at(name + ".bias")[e]) : 0.0;
        for (int64_t k = 0; k < in; ++k)
          acc += double(x[r * in + k]) * w[e * in + k];
        y[r * E + e] = acc;
      }
    return y;
  }

  /// masked(h, i, j): true hides key j from query i of head h.
  template <class Masked>
  std::vector<double> forward(const float *q, const float *h, Masked masked,
                              std::vector<double> *weights) const {
    std::vector<double> Q = project(q, nq, "W_query"), K = project(h, graph, "W_key"),
                        V = project(h, graph, "W_val");
    std::vector<double> A(size_t(nq * E), 0.0);
    const double scale = 1.0 / std::sqrt(double(D));
    for (int64_t hd = 0; hd < H; ++hd)
      for (int64_t i = 0; i < nq; ++i) {
        std::vector<double> s(static_cast<size_t>(graph));
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < graph; ++j) {
          if (masked(hd, i, j)) {
            s[j] = -std::numeric_limits<double>::infinity();
            continue;
          }
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += Q[i * E + hd * D + d] * K[j * E + hd * D + d];
          s[j] = dot * scale;
          m = std::max(m, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j < graph; ++j) {
          s[j] = std::isinf(m) ? 0.0 : std::exp(s[j] - m); // fully masked: zeros
          sum += s[j];
        }
        for (int64_t j = 0; j < graph; ++j) {
          double pij = sum > 0 ? s[j] / sum : 0.0;
          if (weights)
            (*weights)[(hd * nq + i) * graph + j] = pij;
          for (int64_t d = 0; d < D; ++d)
            A[i * E + hd * D + d] += pij * V[j * E + hd * D + d];
        }
      }
    std::vector<double> out(size_t(nq * E));
    const std::vector<float> &wo = p.at("W_out.weight");
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t e = 0; e < E; ++e) {
        double acc = bias ? double(p.at("W_out.bias")[e]) : 0.0;
        for (int64_t k = 0; k < E; ++k)
          acc += A[i * E + k] * wo[e * E + k];
        out[i * E + e] = acc;
      }
    return out;
  }
};

struct MhaCase {
  DType dtype;
  int64_t E, graph;
  bool decode; ///< n_query = 1 with h given; else self-attention (h = q)
  MaskForm mask;
  bool storeWeights;
};

void runMhaCase(const MhaCase &c, int64_t B, const std::string &backend = "") {
  const int64_t H = 8, in = 128, D = c.E / H, g = c.graph, nq = c.decode ? 1 : g;
  MhaOptions opts;
  opts.dtype = c.dtype;
  opts.backend = backend;
  MultiHeadFlashAttention layer(int(H), int(in), int(c.E), std::nullopt, std::nullopt, true, 0.0,
                                c.storeWeights, opts);
  layer.initParameters(uint64_t(c.E + g));
  layer.eval();
  MhaReference ref{H, D, c.E, in, nq, g, {}, true};
  for (const auto &[key, t] : layer.stateDict())
    ref.p[key] = quantized(t.toFloat(key), c.dtype);

  std::vector<float> q = quantized(randomNormal(size_t(B * nq * in), 11 + g), c.dtype);
  std::vector<float> h =
      c.decode ? quantized(randomNormal(size_t(B * g * in), 13 + g), c.dtype) : q;
  DeviceBuffer dq = upload(encodeBytes(q, c.dtype));
  DeviceBuffer dh = c.decode ? upload(encodeBytes(h, c.dtype)) : DeviceBuffer();
  // The mask, true = masked out: about a fifth of the keys, and fully masked
  // rows (a whole batch for key padding, whole query rows otherwise).
  auto maskedAt = [&](int64_t b, int64_t hd, int64_t i, int64_t j) -> bool {
    switch (c.mask) {
    case MaskForm::None: return false;
    case MaskForm::KeyPad: return b % 7 == 3 || (b * 31 + j * 17) % 5 == 0;
    case MaskForm::PerQuery: return (i % 9 == 4 && !c.decode) || (b + i * 13 + j * 7) % 5 == 0;
    case MaskForm::PerHead: return (hd + i) % 11 == 2 || (b + hd * 3 + i * 5 + j) % 4 == 0;
    }
    return false;
  };
  std::vector<int64_t> maskShape;
  switch (c.mask) {
  case MaskForm::None: break;
  case MaskForm::KeyPad: maskShape = {B, g}; break;
  case MaskForm::PerQuery: maskShape = {B, nq, g}; break;
  case MaskForm::PerHead: maskShape = {B, H, nq, g}; break;
  }
  std::vector<uint8_t> maskHost;
  if (c.mask != MaskForm::None) {
    int64_t hs = c.mask == MaskForm::PerHead ? H : 1, qs = c.mask == MaskForm::KeyPad ? 1 : nq;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hd = 0; hd < hs; ++hd)
        for (int64_t i = 0; i < qs; ++i)
          for (int64_t j = 0; j < g; ++j)
            maskHost.push_back(maskedAt(b, hd, i, j) ? 1 : 0);
  }
  DeviceBuffer dmask = maskHost.empty() ? DeviceBuffer() : upload(maskHost);
  TensorView maskView = maskHost.empty() ? TensorView() : viewOf(dmask, DType::Bool, maskShape);

  Stream stream;
  TensorView qv = viewOf(dq, c.dtype, {B, nq, in});
  TensorView hv = c.decode ? viewOf(dh, c.dtype, {B, g, in}) : TensorView();
  TensorView out = layer.forward(qv, c.decode ? &hv : nullptr,
                                 maskHost.empty() ? nullptr : &maskView, stream.get());
  stream.sync();
  std::vector<uint8_t> outBytes(size_t(B * nq * c.E * dtypeSize(c.dtype)));
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemcpyDtoH(outBytes.data(), reinterpret_cast<CUdeviceptr>(out.data()),
                             outBytes.size()),
            "cuMemcpyDtoH");
  std::vector<float> got = decodeBytes(outBytes, c.dtype);
  std::vector<float> gotW;
  if (c.storeWeights) {
    REQUIRE(layer.lastAttn());
    const TensorView &w = layer.lastAttn()->weights;
    CHECK(w.shape() == std::vector<int64_t>{B, H, nq, g});
    // Rows are w.stride(2) apart; copy the whole span and pick.
    std::vector<uint8_t> wb(size_t(B * w.stride(0) * dtypeSize(c.dtype)));
    drv.check(drv.cuMemcpyDtoH(wb.data(), reinterpret_cast<CUdeviceptr>(w.data()), wb.size()),
              "cuMemcpyDtoH");
    std::vector<float> all = decodeBytes(wb, c.dtype);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hd = 0; hd < H; ++hd)
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t j = 0; j < g; ++j)
            gotW.push_back(all[b * w.stride(0) + hd * w.stride(1) + i * w.stride(2) + j]);
    if (c.mask != MaskForm::None)
      CHECK(layer.lastAttn()->mask.shape() == std::vector<int64_t>{B, H, nq, g});
  }

  // Sampled batches against the float64 module.
  std::vector<int64_t> batches = {0, 3, B / 2, B - 1};
  std::vector<double> refOut, refW;
  std::vector<float> gotOut, gotWs;
  for (int64_t b : batches) {
    if (b >= B)
      continue;
    std::vector<double> w(size_t(H * nq * g));
    std::vector<double> o =
        ref.forward(&q[b * nq * in], &h[b * g * in],
                    [&](int64_t hd, int64_t i, int64_t j) { return maskedAt(b, hd, i, j); },
                    c.storeWeights ? &w : nullptr);
    refOut.insert(refOut.end(), o.begin(), o.end());
    gotOut.insert(gotOut.end(), got.begin() + b * nq * c.E, got.begin() + (b + 1) * nq * c.E);
    if (c.storeWeights) {
      refW.insert(refW.end(), w.begin(), w.end());
      gotWs.insert(gotWs.end(), gotW.begin() + b * H * nq * g, gotW.begin() + (b + 1) * H * nq * g);
    }
  }
  const double tol = c.dtype == DType::F32 ? 1e-4 : 1e-2;
  Accuracy acc = compareToReference(refOut, gotOut);
  INFO("out: " << acc.str());
  CHECK(acc.nonFinite == 0);
  CHECK(acc.relativeL2 <= tol);
  // Every output finite (fully masked rows included).
  CHECK(std::all_of(got.begin(), got.end(), [](float x) { return std::isfinite(x); }));
  if (c.storeWeights) {
    Accuracy wacc = compareToReference(refW, gotWs);
    INFO("weights: " << wacc.str());
    CHECK(wacc.nonFinite == 0);
    CHECK(wacc.relativeL2 <= tol);
  }
}

} // namespace

TEST_CASE("mha: MultiHeadFlashAttention vs the float64 module, B = 512", "[gpu][mha]") {
  for (int64_t E : {128, 256})
    for (int64_t g : {100, 101})
      for (bool decode : {false, true})
        for (MaskForm m : {MaskForm::None, MaskForm::KeyPad, MaskForm::PerQuery,
                           MaskForm::PerHead}) {
          MhaCase c{DType::BF16, E, g, decode, m, /*storeWeights=*/m != MaskForm::KeyPad};
          DYNAMIC_SECTION("bf16 E" << E << " graph " << g << (decode ? " n_query 1" : " self")
                                   << " mask " << maskFormName(m)) {
            runMhaCase(c, 512);
          }
        }
}

TEST_CASE("mha: f32 weights and inputs, rel L2 <= 1e-4", "[gpu][mha]") {
  for (int64_t E : {128, 256})
    for (MaskForm m : {MaskForm::None, MaskForm::PerQuery}) {
      MhaCase c{DType::F32, E, 101, false, m, true};
      DYNAMIC_SECTION("f32 E" << E << " mask " << maskFormName(m)) {
        if (f32SdpaMayNotFit(0))
          WARN("skipped: the f32 SDPA kernel needs more shared memory than this GPU allows");
        else
          runMhaCase(c, 64);
      }
    }
}

TEST_CASE("mha: FLASH_ATTN backend where the head size allows", "[gpu][mha]") {
  // embed 256 / 8 heads = head_dim 32: FLASH_ATTN serves unmasked calls.
  runMhaCase({DType::BF16, 256, 100, false, MaskForm::None, false}, 512, "FLASH_ATTN");
  runMhaCase({DType::BF16, 256, 100, true, MaskForm::KeyPad, false}, 512, "FLASH_ATTN");
}

TEST_CASE("mha: dropout only in training; no allocation per call", "[gpu][mha]") {
  const int64_t B = 16, g = 50, in = 128, E = 128;
  MultiHeadFlashAttention layer(8, int(in), int(E), std::nullopt, std::nullopt, true, 0.3);
  layer.initParameters(5);
  std::vector<float> q = quantized(randomNormal(size_t(B * g * in), 1), DType::BF16);
  DeviceBuffer dq = upload(encodeBytes(q, DType::BF16));
  DeviceBuffer o1 = poisonedBuffer(size_t(B * g * E * 2)), o2 = poisonedBuffer(o1.size()),
               o3 = poisonedBuffer(o1.size());
  Stream stream;
  TensorView qv = viewOf(dq, DType::BF16, {B, g, in});
  layer.eval();
  layer.forward(qv, nullptr, nullptr, stream.get(), viewOf(o1, DType::BF16, {B, g, E}));
  size_t ws = layer.workspaceBytes();
  layer.forward(qv, nullptr, nullptr, stream.get(), viewOf(o2, DType::BF16, {B, g, E}));
  CHECK(layer.workspaceBytes() == ws);
  layer.train();
  layer.forward(qv, nullptr, nullptr, stream.get(), viewOf(o3, DType::BF16, {B, g, E}));
  stream.sync();
  CHECK(layer.workspaceBytes() == ws);
  std::vector<uint16_t> a = download<uint16_t>(o1), b = download<uint16_t>(o2),
                        t = download<uint16_t>(o3);
  CHECK(a == b);       // eval is deterministic
  CHECK(a != t);       // training drops
  CHECK(countUnwritten(t) == 0);
}

TEST_CASE("mha: a state dict saved by one layer runs unchanged in another", "[gpu][mha]") {
  const int64_t B = 8, g = 20, in = 128, E = 128;
  MultiHeadFlashAttention a(8, int(in), int(E)), b(8, int(in), int(E));
  a.initParameters(3);
  a.eval();
  b.eval();
  std::string path =
      (std::filesystem::temp_directory_path() / "attnjit-mha-gpu-state.safetensors").string();
  a.saveStateDict(path);
  b.loadStateDict(path);
  std::remove(path.c_str());
  std::vector<float> q = quantized(randomNormal(size_t(B * g * in), 2), DType::BF16);
  DeviceBuffer dq = upload(encodeBytes(q, DType::BF16));
  DeviceBuffer oa = poisonedBuffer(size_t(B * g * E * 2)), ob = poisonedBuffer(oa.size());
  Stream stream;
  TensorView qv = viewOf(dq, DType::BF16, {B, g, in});
  a.forward(qv, nullptr, nullptr, stream.get(), viewOf(oa, DType::BF16, {B, g, E}));
  b.forward(qv, nullptr, nullptr, stream.get(), viewOf(ob, DType::BF16, {B, g, E}));
  stream.sync();
  CHECK(download<uint16_t>(oa) == download<uint16_t>(ob));
}

//===- attnjit-layer-bench.cpp - Times the MHA layer and its GEMMs --------===//
//
// Part of attnjit. Per shape, the median CUDA-event time of one
// MultiHeadFlashAttention forward (projections, attention, output
// projection; eval mode) or of one linear() projection, on random bf16 data:
//   attnjit-layer-bench mha  [--shape B,graph,n_query,embed,mask]... [--backend SDPA|FLASH_ATTN]
//   attnjit-layer-bench gemm [--shape M,N,K]...
//   attnjit-layer-bench check DIR   (DIR from `python3 scripts/peer-mha.py export DIR`:
//       loads PyTorch's state dict into the layer, in f32 and bf16, runs the
//       exported inputs and compares with PyTorch's float64 output; exits 1
//       when rel L2 exceeds 1e-4 (f32) or 1e-2 (bf16))
// --gemm-config BM,BN,WARPS,STAGES picks the GEMM tiling (both modes; 0: the
// recipe's table), for sweeps. mha --parts also times the forward's parts
// alone on the same shapes and views: the input projection(s), the attention
// (SDPA, with the mask) and the output projection, to show where the time goes.
// mask is none, keypad ([B, graph]) or dense ([B, n_query, graph]). The
// defaults are the shapes: B = 512, graph 100 and 101, embed 128 and
// 256 with 8 heads, n_query = graph and 1, input_dim 128, each mask; and the projection
// GEMMs of those layers. scripts/peer-mha.py times PyTorch on the same shapes.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Layers/MultiHeadFlashAttention.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/EventTimer.h"
#include "attnjit/Runtime/Float16.h"
#include "attnjit/Runtime/Linear.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <cmath>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace attnjit;

namespace {

struct MhaShape {
  long long b, graph, nq, embed;
  std::string mask;
};
struct GemmShape {
  long long m, n, k;
};

void usage() {
  std::printf("usage: attnjit-layer-bench check DIR   (after python3 scripts/peer-mha.py export DIR)\n"
              "       attnjit-layer-bench mha [--shape B,graph,n_query,embed,none|keypad|dense]... "
              "[--backend SDPA|FLASH_ATTN] [--gemm-config BM,BN,WARPS,STAGES] [--parts] [--iters N]\n"
              "       attnjit-layer-bench gemm [--shape M,N,K]... [--gemm-config BM,BN,WARPS,STAGES] "
              "[--iters N]\n");
}

DeviceBuffer randomBf16(size_t n, uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<uint16_t> h(n);
  for (uint16_t &x : h)
    x = floatToBf16(dist(gen));
  DeviceBuffer d(n * 2);
  d.copyFromHost(h.data(), n * 2);
  return d;
}

} // namespace

/// `check DIR`: PyTorch's module and ours on the same state dict and inputs.
int checkAgainstTorch(const std::string &dir) {
  StateDict io = readSafetensors(dir + "/mha_io.safetensors");
  for (const char *key : {"q", "h", "mask", "out"})
    if (!io.count(key))
      throw Error(ErrorKind::InvalidArgument,
                  std::string(dir) + "/mha_io.safetensors: missing '" + key + "'");
  const StateTensor &q = io.at("q"), &h = io.at("h"), &mask = io.at("mask"), &out = io.at("out");
  std::vector<float> want = out.toFloat("out");
  CudaDriver &drv = CudaDriver::get();
  int rc = 0;
  for (DType dt : {DType::F32, DType::BF16}) {
    MhaOptions opts;
    opts.dtype = dt;
    MultiHeadFlashAttention layer(8, 128, 128, std::nullopt, std::nullopt, true, 0.0, false, opts);
    layer.loadStateDict(dir + "/mha_state.safetensors");
    layer.eval();
    if (!drv.available()) {
      std::printf("attnjit-layer-bench check: state dict loaded; no GPU: %s\n",
                  drv.unavailableReason().c_str());
      return 0;
    }
    // Buffers and streams below are made in the current context.
    currentOrPrimaryContext(0);
    auto upload = [&](const StateTensor &t, const std::string &key) {
      std::vector<float> v = t.toFloat(key);
      std::vector<uint8_t> bytes(v.size() * size_t(dtypeSize(dt)));
      for (size_t i = 0; i < v.size(); ++i) {
        if (dt == DType::F32) {
          std::memcpy(&bytes[4 * i], &v[i], 4);
        } else {
          uint16_t b = floatToBf16(v[i]);
          std::memcpy(&bytes[2 * i], &b, 2);
        }
      }
      DeviceBuffer d(bytes.size());
      d.copyFromHost(bytes.data(), bytes.size());
      return d;
    };
    DeviceBuffer dq = upload(q, "q"), dh = upload(h, "h"), dm(mask.bytes.size()),
                 dout(want.size() * size_t(dtypeSize(dt)));
    dm.copyFromHost(mask.bytes.data(), mask.bytes.size());
    TensorView qv(dq.data(), dt, q.shape), hv(dh.data(), dt, h.shape),
        mv(dm.data(), DType::Bool, mask.shape), ov(dout.data(), dt, out.shape);
    layer.forward(qv, &hv, &mv, nullptr, ov);
    std::vector<uint8_t> got(dout.size());
    dout.copyToHost(got.data(), got.size());
    double diff2 = 0, ref2 = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      float g;
      if (dt == DType::F32) {
        std::memcpy(&g, &got[4 * i], 4);
      } else {
        uint16_t b;
        std::memcpy(&b, &got[2 * i], 2);
        g = bf16ToFloat(b);
      }
      diff2 += (double(g) - want[i]) * (double(g) - want[i]);
      ref2 += double(want[i]) * want[i];
    }
    double rel = std::sqrt(diff2 / ref2), tol = dt == DType::F32 ? 1e-4 : 1e-2;
    bool ok = rel <= tol; // NaN fails
    std::printf("check %s: PyTorch's state dict and inputs, rel L2 %.3e vs torch float64 (<= %g): "
                "%s\n",
                std::string(toString(dt)).c_str(), rel, tol, ok ? "ok" : "FAILED");
    rc |= ok ? 0 : 1;
  }
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 3 && std::strcmp(argv[1], "check") == 0) {
    try {
      return checkAgainstTorch(argv[2]);
    } catch (const Error &e) {
      std::fprintf(stderr, "attnjit-layer-bench: %s\n", e.what());
      return 1;
    }
  }
  if (argc < 2 || (std::strcmp(argv[1], "mha") != 0 && std::strcmp(argv[1], "gemm") != 0)) {
    usage();
    return argc < 2 ? 0 : 2;
  }
  const std::string mode = argv[1];
  std::vector<MhaShape> mhaShapes;
  std::vector<GemmShape> gemmShapes;
  std::string backend;
  KernelConfig gemmConfig;
  int iters = 50, warmup = 10;
  bool parts = false;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "attnjit-layer-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--shape" && mode == "mha") {
      MhaShape s;
      char mask[32] = {0};
      if (std::sscanf(next().c_str(), "%lld,%lld,%lld,%lld,%31s", &s.b, &s.graph, &s.nq,
                      &s.embed, mask) != 5) {
        std::fprintf(stderr, "attnjit-layer-bench: --shape expects B,graph,n_query,embed,mask\n");
        return 2;
      }
      s.mask = mask;
      mhaShapes.push_back(s);
    } else if (a == "--shape") {
      GemmShape s;
      if (std::sscanf(next().c_str(), "%lld,%lld,%lld", &s.m, &s.n, &s.k) != 3) {
        std::fprintf(stderr, "attnjit-layer-bench: --shape expects M,N,K\n");
        return 2;
      }
      gemmShapes.push_back(s);
    } else if (a == "--gemm-config") {
      KernelConfig &c = gemmConfig;
      if (std::sscanf(next().c_str(), "%d,%d,%d,%d", &c.blockM, &c.blockN, &c.numWarps,
                      &c.stages) != 4) {
        std::fprintf(stderr, "attnjit-layer-bench: --gemm-config expects BM,BN,WARPS,STAGES\n");
        return 2;
      }
    } else if (a == "--backend") backend = next();
    else if (a == "--iters") iters = std::atoi(next().c_str());
    else if (a == "--parts") parts = true;
    else if (a == "--warmup") warmup = std::atoi(next().c_str());
    else if (a == "-h" || a == "--help") { usage(); return 0; }
    else {
      std::fprintf(stderr, "attnjit-layer-bench: unknown argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (mhaShapes.empty())
    for (long long e : {128, 256})
      for (long long g : {100, 101})
        for (long long nq : {g, 1LL})
          for (const char *m : {"none", "keypad", "dense"})
            mhaShapes.push_back({512, g, nq, e, m});
  if (gemmShapes.empty())
    gemmShapes = {{51200, 384, 128}, {51200, 128, 128}, {51200, 768, 128}, {512, 128, 128},
                  {51200, 256, 256}, {51200, 512, 128}, {51200, 768, 256}};

  CudaDriver &drv = CudaDriver::get();
  if (!drv.available()) {
    std::printf("attnjit-layer-bench: no GPU: %s\n", drv.unavailableReason().c_str());
    return 0;
  }
  try {
    // Buffers and streams below are made in the current context.
    currentOrPrimaryContext(0);
    CUstream stream = nullptr;
    drv.check(drv.cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
    if (mode == "gemm") {
      std::printf("%-22s %10s %10s\n", "M,N,K (bf16, bias)", "ms", "TFLOP/s");
      for (const GemmShape &s : gemmShapes) {
        DeviceBuffer x = randomBf16(size_t(s.m * s.k), 1), w = randomBf16(size_t(s.n * s.k), 2),
                     b = randomBf16(size_t(s.n), 3), y(size_t(s.m * s.n * 2));
        TensorView xv(x.data(), DType::BF16, {s.m, s.k}), wv(w.data(), DType::BF16, {s.n, s.k}),
            bv(b.data(), DType::BF16, {s.n}), yv(y.data(), DType::BF16, {s.m, s.n});
        LinearOptions lo;
        lo.config = gemmConfig;
        double ms =
            medianEventMs([&] { linear(xv, wv, &bv, yv, stream, lo); }, stream, warmup, iters);
        std::printf("%lld,%lld,%lld%*s %10.4f %10.1f\n", s.m, s.n, s.k, 8, "", ms,
                    2.0 * s.m * s.n * s.k / ms / 1e9);
      }
    } else {
      std::printf("%-32s %-10s %10s%s\n", "B,graph,n_query,embed,mask", "backend", "ms",
                  parts ? "    proj ms    attn ms     out ms   parts ms" : "");
      for (const MhaShape &s : mhaShapes) {
        const long long in = 128, H = 8;
        MhaOptions opts;
        opts.backend = backend;
        opts.gemmConfig = gemmConfig;
        MultiHeadFlashAttention layer(int(H), int(in), int(s.embed), std::nullopt, std::nullopt,
                                      true, 0.0, false, opts);
        layer.initParameters(1);
        layer.eval();
        const bool decode = s.nq != s.graph;
        DeviceBuffer q = randomBf16(size_t(s.b * s.nq * in), 4);
        DeviceBuffer h = decode ? randomBf16(size_t(s.b * s.graph * in), 5) : DeviceBuffer();
        DeviceBuffer out(size_t(s.b * s.nq * s.embed * 2));
        std::vector<uint8_t> maskHost;
        std::vector<int64_t> maskShape;
        if (s.mask == "keypad") {
          maskShape = {s.b, s.graph};
          for (long long bi = 0; bi < s.b; ++bi)
            for (long long j = 0; j < s.graph; ++j)
              maskHost.push_back((bi * 31 + j * 17) % 5 == 0);
        } else if (s.mask == "dense") {
          maskShape = {s.b, s.nq, s.graph};
          for (long long bi = 0; bi < s.b; ++bi)
            for (long long i = 0; i < s.nq; ++i)
              for (long long j = 0; j < s.graph; ++j)
                maskHost.push_back((bi + i * 13 + j * 7) % 5 == 0);
        } else if (s.mask != "none") {
          std::fprintf(stderr, "attnjit-layer-bench: mask must be none, keypad or dense\n");
          return 2;
        }
        DeviceBuffer mask(std::max<size_t>(maskHost.size(), 1));
        if (!maskHost.empty())
          mask.copyFromHost(maskHost.data(), maskHost.size());
        TensorView qv(q.data(), DType::BF16, {s.b, s.nq, in});
        TensorView hv = decode ? TensorView(h.data(), DType::BF16, {s.b, s.graph, in}) : TensorView();
        TensorView mv = maskHost.empty() ? TensorView() : TensorView(mask.data(), DType::Bool, maskShape);
        TensorView ov(out.data(), DType::BF16, {s.b, s.nq, s.embed});
        double ms = medianEventMs(
            [&] {
              layer.forward(qv, decode ? &hv : nullptr, maskHost.empty() ? nullptr : &mv, stream,
                            ov);
            },
            stream, warmup, iters);
        char name[64];
        std::snprintf(name, sizeof(name), "%lld,%lld,%lld,%lld,%s", s.b, s.graph, s.nq, s.embed,
                      s.mask.c_str());
        std::printf("%-32s %-10s %10.4f", name, std::string(layer.backendName()).c_str(), ms);
        if (parts) {
          // The same work as the forward, each part alone: the projection(s)
          // into [rows, 3E] (self) or [B, E] and [B * graph, 2E] (cross), SDPA
          // on strided BSHD views of them, the output projection.
          const long long E = s.embed, D = E / H, qRows = s.b * s.nq, kvRows = s.b * s.graph;
          DeviceBuffer wIn = randomBf16(size_t(3 * E * in), 6), bIn = randomBf16(size_t(3 * E), 7),
                       wOut = randomBf16(size_t(E * E), 8), bOut = randomBf16(size_t(E), 9);
          DeviceBuffer proj(size_t((decode ? qRows * E + kvRows * 2 * E : qRows * 3 * E) * 2));
          DeviceBuffer attn(size_t(qRows * E * 2));
          auto *pb = static_cast<uint8_t *>(proj.data());
          LinearOptions lo;
          lo.config = gemmConfig;
          auto w = [&](long long row0, long long rows) {
            return TensorView(static_cast<uint8_t *>(wIn.data()) + row0 * in * 2, DType::BF16,
                              {rows, in});
          };
          auto bias = [&](long long off, long long n) {
            return TensorView(static_cast<uint8_t *>(bIn.data()) + off * 2, DType::BF16, {n});
          };
          TensorView xq(q.data(), DType::BF16, {qRows, in});
          long long qStride = 3 * E, kvStride = 3 * E;
          uint8_t *kBase = pb + E * 2;
          std::function<void()> projFn;
          if (!decode) {
            TensorView y(pb, DType::BF16, {qRows, 3 * E});
            projFn = [&, y] {
              TensorView wv = w(0, 3 * E), bv = bias(0, 3 * E);
              linear(xq, wv, &bv, y, stream, lo);
            };
          } else {
            qStride = E;
            kvStride = 2 * E;
            kBase = pb + qRows * E * 2;
            TensorView yq(pb, DType::BF16, {qRows, E}), ykv(kBase, DType::BF16, {kvRows, 2 * E});
            TensorView xh(h.data(), DType::BF16, {kvRows, in});
            projFn = [&, yq, ykv, xh] {
              TensorView wq = w(0, E), bq = bias(0, E), wkv = w(E, 2 * E), bkv = bias(E, 2 * E);
              linear(xq, wq, &bq, yq, stream, lo);
              linear(xh, wkv, &bkv, ykv, stream, lo);
            };
          }
          TensorView qa(pb, DType::BF16, {s.b, s.nq, H, D}, {s.nq * qStride, qStride, D, 1});
          TensorView ka(kBase, DType::BF16, {s.b, s.graph, H, D},
                        {s.graph * kvStride, kvStride, D, 1});
          TensorView va(kBase + E * 2, DType::BF16, {s.b, s.graph, H, D},
                        {s.graph * kvStride, kvStride, D, 1});
          TensorView oa(attn.data(), DType::BF16, {s.b, s.nq, H, D});
          SdpaOptions so;
          if (!maskHost.empty()) {
            // [B, graph] -> [B, 1, 1, graph], [B, nq, graph] -> [B, 1, nq, graph]
            std::vector<int64_t> shape4 = maskShape.size() == 2
                                              ? std::vector<int64_t>{s.b, 1, 1, s.graph}
                                              : std::vector<int64_t>{s.b, 1, s.nq, s.graph};
            so.mask = TensorView(mask.data(), DType::Bool, shape4);
            so.maskTrueHides = true;
          }
          TensorView ao(attn.data(), DType::BF16, {qRows, E}), yo(out.data(), DType::BF16, {qRows, E});
          TensorView wo(wOut.data(), DType::BF16, {E, E}), bo(bOut.data(), DType::BF16, {E});
          double projMs = medianEventMs(projFn, stream, warmup, iters);
          double attnMs = medianEventMs([&] { sdpaAttention(qa, ka, va, oa, so, stream); }, stream,
                                        warmup, iters);
          double outMs = medianEventMs([&] { linear(ao, wo, &bo, yo, stream, lo); }, stream,
                                       warmup, iters);
          std::printf(" %10.4f %10.4f %10.4f %10.4f", projMs, attnMs, outMs,
                      projMs + attnMs + outMs);
        }
        std::printf("\n");
      }
    }
    drv.cuStreamDestroy(stream);
  } catch (const Error &e) {
    std::fprintf(stderr, "attnjit-layer-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}

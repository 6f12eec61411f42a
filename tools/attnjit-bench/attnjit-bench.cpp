//===- attnjit-bench.cpp - TFLOP/s of attnjit kernels on the PEERS shapes -===//
//
// Part of attnjit. A tool that prints numbers, not a test.
//
//   attnjit-bench [--shape B,H,S,D,causal]... [--dtype bf16|f16] [--iters N]
//                 [--warmup N] [--no-check] [--json FILE] [--block-m N ...]
//                 [--backend flash|sdpa|sage|all] [--mask none|keypad|dense-bool]
//                 [--granularity G] [--pv-accum A] [--no-smooth-k] [--overhead N]
//
// Inputs are random normal values, larger than L2 for the default shapes; the
// output is poisoned before each timed series; times are the median of CUDA
// event timings after warm-up; FLOPs = 4*B*H*S*S*D, halved when causal. Each
// shape is also checked against a float64 reference on sampled rows.
//
// --backend sdpa times sdpaAttention() (causal is top-left there, which is the
// same as flash's bottom-right for these Sq == Sk shapes), with --mask keypad
// (a bool [B, S] key-padding mask hiding the last 8-12% of each batch's keys)
// or dense-bool (a bool [B, S, S] mask hiding ~10% of the scores at random).
// FLOPs are counted as if nothing were masked, so masked rows are comparable
// with unmasked ones. --backend all prints flash, sdpa and sdpa+keypad rows
// (and sdpa+dense-bool with --mask dense-bool) for every shape.
//
// --backend sage times sageAttention() (INT8 Q K^T, FP8 P V; the quantize
// kernels included) with --granularity per_block|per_warp|per_thread,
// --pv-accum fp32|fp32_fp32 and --no-smooth-k; its "vs Sage2" column is
// SageAttention2's sm90 kernel as issue 12 measured it on an H200.
//
// --overhead N also times N back-to-back calls of the C++ entry per row (the
// host cost of flashAttention()/sdpaAttention() on a loaded kernel): wall time
// per call up to the stream's completion, host (enqueue) time per call, the
// kernel's median time, and wall minus kernel (use a tiny shape).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/EventTimer.h"
#include "attnjit/Runtime/Float16.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/KernelRuntime.h"
#include "attnjit/Runtime/SageAttention.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

using namespace attnjit;

namespace {

struct Shape {
  int64_t b, h, s, d;
  bool causal;
  double peerFa2 = 0, peerCudnn = 0; ///< PEERS.md, H100, TFLOP/s
  double peerSage2 = 0; ///< SageAttention2 sm90, H200, TFLOP/s (issue 12)
};

// The benchmark shapes of PEERS.md with torch FA2 and cuDNN numbers (H100).
// The third number is SageAttention2's sm90 kernel on an H200 (issue 12).
const Shape kPeerShapes[] = {
    {16, 32, 1024, 64, false, 291, 439, 172}, {16, 32, 1024, 64, true, 213, 338, 97},
    {4, 32, 4096, 64, false, 306, 458, 367},  {4, 32, 4096, 64, true, 278, 419, 263},
    {1, 32, 16384, 64, false, 311, 459, 500}, {1, 32, 16384, 64, true, 284, 429, 437},
    {16, 16, 1024, 128, false, 320, 572, 207}, {16, 16, 1024, 128, true, 248, 424, 113},
    {4, 16, 4096, 128, false, 349, 604, 497}, {4, 16, 4096, 128, true, 303, 529, 336},
    {1, 16, 16384, 128, false, 356, 599, 725}, {1, 16, 16384, 128, true, 311, 575, 612},
    {1, 12, 32760, 128, false, 333, 594, 789}, {1, 12, 32760, 128, true, 330, 593, 700},
};

void usage() {
  std::printf("usage: attnjit-bench [--shape B,H,S,D,causal]... [--dtype bf16|f16] [--iters N]\n"
              "                     [--warmup N] [--no-check] [--json FILE]\n"
              "                     [--block-m N --block-n N --warps N --stages N]\n"
              "                     [--backend flash|sdpa|sage|all] [--mask none|keypad|dense-bool]\n"
              "                     [--granularity per_block|per_warp|per_thread]\n"
              "                     [--pv-accum fp32|fp32_fp32] [--no-smooth-k] [--overhead N]\n"
              "  sdpa rows count FLOPs as unmasked; --backend all: flash, sdpa, sdpa+keypad\n");
}

enum class MaskMode { None, KeyPad, DenseBool };

/// One row kind of the table: which entry point, with which mask.
struct Mode {
  bool sdpa = false;
  MaskMode mask = MaskMode::None;
  bool sage = false;

  std::string label() const {
    if (sage)
      return "sage";
    if (!sdpa)
      return "flash";
    switch (mask) {
    case MaskMode::KeyPad: return "sdpa+keypad";
    case MaskMode::DenseBool: return "sdpa+dense-bool";
    default: return "sdpa";
    }
  }
};

/// Keys [0, validKeys(S, b)) of batch b are visible under the keypad mask:
/// 88% or 92% of them, alternating by batch.
int64_t validKeys(int64_t s, int64_t b) { return s - s * (b % 2 ? 12 : 8) / 100; }

/// Whether score (b, i, j) is visible under the dense-bool mask (~90% are):
/// a hash of its index, so host and device agree without storing it twice.
bool denseVisible(int64_t s, int64_t b, int64_t i, int64_t j) {
  uint64_t x = uint64_t((b * s + i) * s + j) * 0x9E3779B97F4A7C15ull;
  x ^= x >> 29;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 32;
  return x % 10 != 0;
}

/// The bool mask bytes for `mode` and a shape: [B, S] or [B, S, S].
std::vector<uint8_t> maskBytes(MaskMode mode, int64_t b, int64_t s) {
  std::vector<uint8_t> m;
  if (mode == MaskMode::KeyPad) {
    m.resize(size_t(b * s));
    for (int64_t bb = 0; bb < b; ++bb)
      for (int64_t j = 0; j < s; ++j)
        m[size_t(bb * s + j)] = j < validKeys(s, bb);
  } else if (mode == MaskMode::DenseBool) {
    m.resize(size_t(b * s * s));
    for (int64_t bb = 0; bb < b; ++bb)
      for (int64_t i = 0; i < s; ++i)
        for (int64_t j = 0; j < s; ++j)
          m[size_t((bb * s + i) * s + j)] = denseVisible(s, bb, i, j);
  }
  return m;
}

/// Relative L2 error and cosine of `out` against a float64 reference on 48
/// sampled (batch, head, row) triples; `visible(b, i, j)` hides scores.
std::pair<double, double> sampledAccuracy(const Shape &s, DType dtype, const uint16_t *hq,
                                          const uint16_t *hk, const uint16_t *hv,
                                          const std::vector<uint16_t> &out,
                                          const std::function<bool(int64_t, int64_t, int64_t)> &visible) {
  std::mt19937_64 gen(1234);
  double d2 = 0, r2 = 0, g2 = 0, dot = 0;
  double scale = 1.0 / std::sqrt(double(s.d));
  auto at = [&](int64_t b, int64_t t, int64_t h) { return ((b * s.s + t) * s.h + h) * s.d; };
  for (int sample = 0; sample < 48; ++sample) {
    int64_t b = int64_t(gen() % s.b), h = int64_t(gen() % s.h), i = int64_t(gen() % s.s);
    int64_t kEnd = s.causal ? i + 1 : s.s;
    std::vector<double> p(size_t(kEnd), 0.0);
    double mx = -INFINITY;
    for (int64_t j = 0; j < kEnd; ++j) {
      if (!visible(b, i, j)) {
        p[size_t(j)] = -INFINITY;
        continue;
      }
      double acc = 0;
      for (int64_t d = 0; d < s.d; ++d)
        acc += to16Float(hq[at(b, i, h) + d], dtype) * to16Float(hk[at(b, j, h) + d], dtype);
      p[size_t(j)] = acc * scale;
      mx = std::max(mx, p[size_t(j)]);
    }
    double sum = 0;
    for (auto &x : p) {
      x = x == -INFINITY ? 0.0 : std::exp(x - mx);
      sum += x;
    }
    for (int64_t d = 0; d < s.d; ++d) {
      double ref = 0;
      for (int64_t j = 0; j < kEnd; ++j)
        ref += p[size_t(j)] * to16Float(hv[at(b, j, h) + d], dtype);
      ref = sum > 0 ? ref / sum : 0.0;
      double got = to16Float(out[size_t(at(b, i, h) + d)], dtype);
      d2 += (got - ref) * (got - ref);
      r2 += ref * ref;
      g2 += got * got;
      dot += got * ref;
    }
  }
  return {std::sqrt(d2 / r2), dot / std::sqrt(r2 * g2)};
}

} // namespace

int main(int argc, char **argv) {
  std::vector<Shape> shapes;
  DType dtype = DType::BF16;
  int iters = 30, warmup = 5, overheadCalls = 0;
  bool check = true;
  std::string jsonPath, backend = "flash", maskName = "none";
  KernelConfig config;
  SageOptions sageOpts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "attnjit-bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    // An integer flag value; anything else is a usage error (std::stoi would
    // end the process with an uncaught exception).
    auto intArg = [&](int lo, int hi) {
      std::string v = next();
      char *end = nullptr;
      long x = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || x < lo || x > hi) {
        std::fprintf(stderr, "attnjit-bench: %s expects an integer in %d..%d, got '%s'\n",
                     a.c_str(), lo, hi, v.c_str());
        std::exit(2);
      }
      return static_cast<int>(x);
    };
    if (a == "--shape") {
      Shape s{};
      int c = 0;
      long long b, h, sq, d;
      if (std::sscanf(next().c_str(), "%lld,%lld,%lld,%lld,%d", &b, &h, &sq, &d, &c) != 5) {
        std::fprintf(stderr, "attnjit-bench: --shape expects B,H,S,D,causal\n");
        return 2;
      }
      if (b < 1 || h < 1 || sq < 1 || d < 1 || b > 65535 || h > 65535 || sq > (1 << 24) ||
          d > 1024) {
        std::fprintf(stderr, "attnjit-bench: --shape: B and H must be in 1..65535, S in "
                             "1..16777216 and D in 1..1024\n");
        return 2;
      }
      s = {b, h, sq, d, c != 0};
      // A PEERS.md shape keeps its peer numbers.
      for (const Shape &p : kPeerShapes)
        if (p.b == s.b && p.h == s.h && p.s == s.s && p.d == s.d && p.causal == s.causal)
          s = p;
      shapes.push_back(s);
    } else if (a == "--dtype") {
      auto t = parseDType(next());
      if (!t || (*t != DType::BF16 && *t != DType::F16)) {
        std::fprintf(stderr, "attnjit-bench: --dtype expects bf16 or f16\n");
        return 2;
      }
      dtype = *t;
    } else if (a == "--iters") iters = intArg(1, 100000);
    else if (a == "--warmup") warmup = intArg(0, 100000);
    else if (a == "--no-check") check = false;
    else if (a == "--json") jsonPath = next();
    else if (a == "--block-m") config.blockM = intArg(0, kMaxConfigValue);
    else if (a == "--block-n") config.blockN = intArg(0, kMaxConfigValue);
    else if (a == "--warps") config.numWarps = intArg(0, kMaxConfigValue);
    else if (a == "--stages") config.stages = intArg(0, kMaxConfigValue);
    else if (a == "--backend") backend = next();
    else if (a == "--mask") maskName = next();
    else if (a == "--granularity") {
      auto g = parseGranularity(next());
      if (!g) {
        std::fprintf(stderr, "attnjit-bench: --granularity expects per_block, per_warp or "
                             "per_thread\n");
        return 2;
      }
      sageOpts.granularity = *g;
    } else if (a == "--pv-accum") {
      auto p = parsePvAccum(next());
      if (!p) {
        std::fprintf(stderr, "attnjit-bench: --pv-accum expects fp32 or fp32_fp32\n");
        return 2;
      }
      sageOpts.pvAccum = *p;
    } else if (a == "--no-smooth-k") sageOpts.smoothK = false;
    else if (a == "--overhead") overheadCalls = std::stoi(next());
    else if (a == "-h" || a == "--help") { usage(); return 0; }
    else {
      std::fprintf(stderr, "attnjit-bench: unknown argument '%s'\n", a.c_str());
      usage();
      return 2;
    }
  }
  if (shapes.empty())
    shapes.assign(std::begin(kPeerShapes), std::end(kPeerShapes));
  MaskMode mask;
  if (maskName == "none") mask = MaskMode::None;
  else if (maskName == "keypad") mask = MaskMode::KeyPad;
  else if (maskName == "dense-bool") mask = MaskMode::DenseBool;
  else {
    std::fprintf(stderr, "attnjit-bench: --mask expects none, keypad or dense-bool\n");
    return 2;
  }
  std::vector<Mode> modes;
  if (backend == "flash") {
    if (mask != MaskMode::None) {
      std::fprintf(stderr, "attnjit-bench: --mask needs --backend sdpa or all\n");
      return 2;
    }
    modes = {{false, MaskMode::None}};
  } else if (backend == "sdpa") {
    modes = {{true, mask}};
  } else if (backend == "sage") {
    if (mask != MaskMode::None) {
      std::fprintf(stderr, "attnjit-bench: --mask needs --backend sdpa or all\n");
      return 2;
    }
    modes = {{false, MaskMode::None, true}};
  } else if (backend == "all") {
    modes = {{false, MaskMode::None}, {true, MaskMode::None}, {true, MaskMode::KeyPad}};
    if (mask == MaskMode::DenseBool)
      modes.push_back({true, MaskMode::DenseBool});
  } else {
    std::fprintf(stderr, "attnjit-bench: --backend expects flash, sdpa, sage or all\n");
    return 2;
  }

  CudaDriver &drv = CudaDriver::get();
  if (!drv.available()) {
    std::printf("attnjit-bench: no GPU: %s\n", drv.unavailableReason().c_str());
    return 0;
  }
  try {
    KernelRuntime &rt = KernelRuntime::instance();
    if (rt.providerNames().empty())
      rt.addProvider(makeJitProvider(), 100);
    CUcontext ctx = nullptr;
    CUdevice dev = 0;
    drv.check(drv.cuDeviceGet(&dev, 0), "cuDeviceGet");
    drv.check(drv.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain");
    drv.check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
    char name[256] = {0};
    drv.check(drv.cuDeviceGetName(name, sizeof(name), dev), "cuDeviceGetName");
    std::printf("device: %s (%s)\n", name, deviceArch(dev).c_str());
    bool anySdpa = std::any_of(modes.begin(), modes.end(), [](const Mode &m) { return m.sdpa; });
    if (anySdpa)
      std::printf("sdpa rows: FLOPs counted as unmasked (keypad hides 8-12%% of keys, "
                  "dense-bool ~10%% of scores)\n");

    size_t maxElems = 0;
    for (const Shape &s : shapes)
      maxElems = std::max(maxElems, size_t(s.b * s.h * s.s * s.d));
    std::vector<uint16_t> host(maxElems * 3);
    {
      std::mt19937_64 gen(std::random_device{}());
      std::normal_distribution<float> nd(0.f, 1.f);
      for (auto &x : host)
        x = from16Float(nd(gen), dtype);
    }
    DeviceBuffer q(maxElems * 2), k(maxElems * 2), v(maxElems * 2), o(maxElems * 2);
    q.copyFromHost(host.data(), maxElems * 2);
    k.copyFromHost(host.data() + maxElems, maxElems * 2);
    v.copyFromHost(host.data() + 2 * maxElems, maxElems * 2);
    const uint16_t *hq = host.data(), *hk = host.data() + maxElems,
                   *hv = host.data() + 2 * maxElems;
    CUstream stream = nullptr;
    drv.check(drv.cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING), "cuStreamCreate");

    nlohmann::json rows = nlohmann::json::array();
    std::printf("%-22s %9s %9s %8s %8s %8s %10s %9s %9s %8s  %s\n", "B,H,S,D,causal", "ms",
                "TFLOP/s", "vs FA2", "vs cuDNN", "vs Sage2", "compile ms", "rel_l2", "cosine",
                "written", "backend (recipe)");
    for (const Shape &s : shapes)
      for (const Mode &mode : modes) {
        // --backend all runs what can serve the shape: flash has fewer head
        // sizes than SDPA, so its row is skipped, saying why.
        if (!mode.sdpa && backend == "all" && !isSupportedFlashHeadDim(int(s.d))) {
          std::string shape = std::to_string(s.b) + "," + std::to_string(s.h) + "," +
                              std::to_string(s.s) + "," + std::to_string(s.d) + "," +
                              (s.causal ? "1" : "0");
          std::printf("%-22s skipped flash: head_dim %lld is not one of flash's (32..256, "
                      "multiples of 32); the sdpa rows follow\n",
                      shape.c_str(), (long long)s.d);
          continue;
        }
        TensorView qv(q.data(), dtype, {s.b, s.s, s.h, s.d});
        TensorView kv(k.data(), dtype, {s.b, s.s, s.h, s.d});
        TensorView vv(v.data(), dtype, {s.b, s.s, s.h, s.d});
        TensorView ov(o.data(), dtype, {s.b, s.s, s.h, s.d});
        DeviceBuffer maskBuf;
        std::function<void()> call;
        AttentionSpec spec; // what the row launches, for its recipe column
        std::function<bool(int64_t, int64_t, int64_t)> visible = [](int64_t, int64_t, int64_t) {
          return true;
        };
        if (mode.sage) {
          SageOptions opts = sageOpts;
          opts.causal = s.causal;
          opts.config = config;
          call = [=] { sageAttention(qv, kv, vv, ov, opts, stream); };
          spec = makeSageSpec(qv, opts);
        } else if (!mode.sdpa) {
          FlashOptions opts;
          opts.causal = s.causal;
          opts.config = config;
          call = [=] { flashAttention(qv, kv, vv, ov, opts, stream); };
          spec = makeFlashSpec(qv, opts);
        } else {
          SdpaOptions opts;
          opts.causal = s.causal;
          opts.config = config;
          if (mode.mask != MaskMode::None) {
            std::vector<uint8_t> m = maskBytes(mode.mask, s.b, s.s);
            maskBuf = DeviceBuffer(m.size());
            maskBuf.copyFromHost(m.data(), m.size());
            if (mode.mask == MaskMode::KeyPad) {
              opts.mask = TensorView(maskBuf.data(), DType::Bool, {s.b, s.s});
              visible = [s](int64_t b, int64_t, int64_t j) { return j < validKeys(s.s, b); };
            } else {
              opts.mask = TensorView(maskBuf.data(), DType::Bool, {s.b, s.s, s.s});
              visible = [s](int64_t b, int64_t i, int64_t j) {
                return denseVisible(s.s, b, i, j);
              };
            }
          }
          call = [=] { sdpaAttention(qv, kv, vv, ov, opts, stream); };
          spec = makeSdpaSpec(qv, opts);
        }
        size_t n = size_t(s.b * s.s * s.h * s.d);
        // Cold compile (+ load) time of this shape's kernel, when it is new.
        auto t0 = std::chrono::steady_clock::now();
        o.fill(0xFF);
        call();
        drv.check(drv.cuStreamSynchronize(stream), "cuStreamSynchronize");
        double firstMs =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        std::vector<uint16_t> out(n);
        drv.check(drv.cuMemcpyDtoH(out.data(), reinterpret_cast<CUdeviceptr>(o.data()), n * 2),
                  "cuMemcpyDtoH");
        size_t written = 0;
        for (uint16_t x : out)
          written += x != 0xFFFF;
        double relL2 = NAN, cosine = NAN;
        if (check)
          std::tie(relL2, cosine) = sampledAccuracy(s, dtype, hq, hk, hv, out, visible);
        double ms = medianEventMs(call, stream, warmup, iters);
        // Unmasked FLOPs (only causal halves them), whatever the mask hides.
        double flops = 4.0 * s.b * s.h * double(s.s) * double(s.s) * s.d * (s.causal ? 0.5 : 1.0);
        double tflops = flops / (ms * 1e-3) / 1e12;
        char label[64];
        std::snprintf(label, sizeof(label), "%lld,%lld,%lld,%lld,%d", (long long)s.b,
                      (long long)s.h, (long long)s.s, (long long)s.d, s.causal ? 1 : 0);
        // The recipe that served the row: the registry's choice for the spec
        // on this device's target arch (ATTNJIT_ARCH may move it).
        spec.arch = targetArch(deviceInfo(0));
        std::string recipe = recipeName(spec);
        std::string backendLabel = mode.label() + " (" + recipe + ")";
        // A shape PEERS.md lacks has no peer numbers: "-", not "nanx".
        auto vsPeer = [&](double peer) {
          char buf[16];
          if (peer > 0)
            std::snprintf(buf, sizeof(buf), "%7.2fx", tflops / peer);
          else
            std::snprintf(buf, sizeof(buf), "%8s", "-");
          return std::string(buf);
        };
        std::printf("%-22s %9.3f %9.1f %s %s %s %10.1f %9.2e %9.6f %7.1f%%  %s\n", label, ms,
                    tflops, vsPeer(s.peerFa2).c_str(), vsPeer(s.peerCudnn).c_str(),
                    vsPeer(mode.sage ? s.peerSage2 : 0).c_str(), firstMs, relL2, cosine,
                    100.0 * double(written) / double(n), backendLabel.c_str());
        std::fflush(stdout);
        rows.push_back({{"shape", label}, {"backend", mode.label()}, {"recipe", recipe}, {"ms", ms},
                        {"tflops", tflops}, {"peer_fa2", s.peerFa2},
                        {"peer_cudnn", s.peerCudnn}, {"peer_sage2", s.peerSage2},
                        {"first_call_ms", firstMs},
                        {"rel_l2", relL2}, {"cosine", cosine},
                        {"written_fraction", double(written) / double(n)}});
        if (overheadCalls > 0) {
          auto start = std::chrono::steady_clock::now();
          for (int c = 0; c < overheadCalls; ++c)
            call();
          auto enqueued = std::chrono::steady_clock::now();
          drv.check(drv.cuStreamSynchronize(stream), "cuStreamSynchronize");
          auto done = std::chrono::steady_clock::now();
          double wallUs =
              std::chrono::duration<double, std::micro>(done - start).count() / overheadCalls;
          double hostUs =
              std::chrono::duration<double, std::micro>(enqueued - start).count() / overheadCalls;
          double kernelUs = ms * 1e3;
          std::printf("%-22s overhead (C++ entry, %d calls): wall %.2f us/call, host %.2f "
                      "us/call, kernel %.2f us, wall - kernel %.2f us  %s\n",
                      label, overheadCalls, wallUs, hostUs, kernelUs, wallUs - kernelUs,
                      backendLabel.c_str());
          rows.back()["overhead"] = {{"calls", overheadCalls}, {"wall_us", wallUs},
                                     {"host_us", hostUs}, {"kernel_us", kernelUs},
                                     {"wall_minus_kernel_us", wallUs - kernelUs}};
        }
      }
    if (!jsonPath.empty()) {
      nlohmann::json j{{"device", name}, {"dtype", std::string(toString(dtype))}, {"rows", rows}};
      std::ofstream f(jsonPath);
      f << j.dump(2) << "\n";
    }
    drv.cuStreamDestroy(stream);
  } catch (const Error &e) {
    std::fprintf(stderr, "attnjit-bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

//===- FlashAttentionTest.cpp - Generated flash kernels vs float64 --------===//
//
// Part of attnjit. Every head size x causal x dtype kernel, each run on shapes
// that rotate through GQA ratios (1, 4, 8), layouts (BSHD, BHSD, a slice of a
// fused qkv tensor), sequence lengths (1, 17, 127, 128, 129, 1000; 4097 and
// grids of several tiles per CTA in a test of their own) and Sq != Sk,
// against a float64 CPU reference. Output is poisoned first and every
// element must be written; inputs are fresh random values each run.
//
//===----------------------------------------------------------------------===//
#include "GpuTestUtil.h"

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <random>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

enum class TestLayout { BSHD, BHSD, FusedQKV };

const char *layoutName(TestLayout l) {
  switch (l) {
  case TestLayout::BSHD: return "bshd";
  case TestLayout::BHSD: return "bhsd";
  case TestLayout::FusedQKV: return "fused-qkv";
  }
  return "?";
}

/// Serves kernels compiled ahead of the test in parallel (the JIT is still the
/// thing under test: these come from compileAttention).
class PrecompiledProvider : public KernelProvider {
public:
  std::string name() const override { return "test-precompiled"; }
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override {
    std::lock_guard<std::mutex> lock(mu);
    auto it = kernels.find(withDefaultConfig(spec).canonical());
    return it == kernels.end() ? nullptr : it->second;
  }
  void add(std::shared_ptr<const CompiledKernel> k) {
    std::lock_guard<std::mutex> lock(mu);
    kernels[k->spec.canonical()] = std::move(k);
  }

private:
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const CompiledKernel>> kernels;
};

uint64_t freshSeed() {
  static std::mt19937_64 gen(std::random_device{}());
  return gen();
}

/// Copies BSHD host data into the strided device layout used by the test.
struct Placed {
  DeviceBuffer q, k, v, out;
  TensorView qv, kv, vv, ov;
};

Placed place(const AttentionInputs &in, TestLayout layout) {
  const AttnShape &s = in.shape;
  const int64_t B = s.batch, H = s.heads, Hk = s.kvHeads, Sq = s.seqQ, Sk = s.seqK, D = s.headDim;
  Placed p;
  auto scatter = [&](const std::vector<float> &src, int64_t S, int64_t Hn, std::vector<uint16_t> &dst,
                     int64_t bs, int64_t ss, int64_t hs, int64_t off) {
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < S; ++t)
        for (int64_t h = 0; h < Hn; ++h)
          for (int64_t d = 0; d < D; ++d)
            dst[off + b * bs + t * ss + h * hs + d] =
                from16Float(src[((b * S + t) * Hn + h) * D + d], in.dtype);
  };
  if (layout == TestLayout::FusedQKV) {
    // One [B, S, H + 2*Hk, D] tensor; q, k, v are head slices of it (Sq == Sk).
    int64_t Ht = H + 2 * Hk;
    std::vector<uint16_t> fused(size_t(B * Sq * Ht * D), 0);
    int64_t bs = Sq * Ht * D, ss = Ht * D, hs = D;
    scatter(in.hq, Sq, H, fused, bs, ss, hs, 0);
    scatter(in.hk, Sk, Hk, fused, bs, ss, hs, H * D);
    scatter(in.hv, Sk, Hk, fused, bs, ss, hs, (H + Hk) * D);
    p.q = upload(fused);
    auto base = static_cast<uint16_t *>(p.q.data());
    p.qv = TensorView(base, in.dtype, {B, Sq, H, D}, {bs, ss, hs, 1});
    p.kv = TensorView(base + H * D, in.dtype, {B, Sk, Hk, D}, {bs, ss, hs, 1});
    p.vv = TensorView(base + (H + Hk) * D, in.dtype, {B, Sk, Hk, D}, {bs, ss, hs, 1});
  } else if (layout == TestLayout::BHSD) {
    std::vector<uint16_t> q(size_t(s.qElems())), k(size_t(s.kvElems())), v(size_t(s.kvElems()));
    scatter(in.hq, Sq, H, q, H * Sq * D, D, Sq * D, 0);
    scatter(in.hk, Sk, Hk, k, Hk * Sk * D, D, Sk * D, 0);
    scatter(in.hv, Sk, Hk, v, Hk * Sk * D, D, Sk * D, 0);
    p.q = upload(q);
    p.k = upload(k);
    p.v = upload(v);
    // Views in BSHD index order with BHSD strides.
    p.qv = TensorView(p.q.data(), in.dtype, {B, Sq, H, D}, {H * Sq * D, D, Sq * D, 1});
    p.kv = TensorView(p.k.data(), in.dtype, {B, Sk, Hk, D}, {Hk * Sk * D, D, Sk * D, 1});
    p.vv = TensorView(p.v.data(), in.dtype, {B, Sk, Hk, D}, {Hk * Sk * D, D, Sk * D, 1});
  } else {
    p.qv = in.qView();
    p.kv = in.kView();
    p.vv = in.vView();
  }
  p.out = poisonedBuffer(size_t(s.qElems()) * 2);
  p.ov = TensorView(p.out.data(), in.dtype, {B, Sq, H, D});
  return p;
}

struct Case {
  int64_t seqQ, seqK, ratio;
  TestLayout layout;
};

} // namespace

TEST_CASE("flash kernels match a float64 reference for every head size", "[gpu][flash]") {
  KernelRuntime &rt = KernelRuntime::instance();
  auto pre = std::make_shared<PrecompiledProvider>();
  rt.addProvider(pre, -1);
  std::string arch = deviceArch(0);

  const int headDims[] = {32, 64, 96, 128, 160, 192, 224, 256};
  std::vector<AttentionSpec> specs;
  for (int d : headDims)
    for (bool causal : {false, true})
      for (DType t : {DType::BF16, DType::F16})
        for (bool lse : {false, true}) {
          if (lse && t == DType::F16)
            continue; // lse is dtype-independent; one dtype covers it
          AttentionSpec s;
          s.headDim = d;
          s.causal = causal;
          s.dtype = t;
          s.returnLse = lse;
          s.arch = arch;
          specs.push_back(withDefaultConfig(s));
        }
  {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::future<std::shared_ptr<const CompiledKernel>>> jobs;
    for (const auto &s : specs)
      jobs.push_back(std::async(std::launch::async, [s] {
        return std::shared_ptr<const CompiledKernel>(
            std::make_shared<CompiledKernel>(compileAttention(s)));
      }));
    for (auto &j : jobs) {
      auto k = j.get();
      std::printf("  %-48s %7.1f ms  %3d regs  %4d spill bytes  %6d B smem\n",
                  k->entryName().c_str(), k->compileMs, k->registers, k->spillBytes,
                  k->sharedMemBytes());
      pre->add(k);
    }
    std::printf("compiled %zu kernels in %.1f s (parallel)\n", specs.size(),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }

  const Case cases[] = {
      {1, 1, 1, TestLayout::BSHD},       {17, 17, 4, TestLayout::BHSD},
      {127, 127, 8, TestLayout::FusedQKV}, {128, 128, 1, TestLayout::BHSD},
      {129, 129, 4, TestLayout::BSHD},   {1000, 1000, 8, TestLayout::FusedQKV},
      {17, 129, 1, TestLayout::BSHD},    {129, 17, 4, TestLayout::BHSD},
      {1, 1000, 8, TestLayout::BSHD},    {1000, 127, 1, TestLayout::BHSD},
  };
  Stream stream;
  int runs = 0;
  for (const auto &spec : specs) {
    for (const Case &c : cases) {
      AttnShape s;
      s.headDim = spec.headDim;
      s.causal = spec.causal;
      s.kvHeads = 2;
      s.heads = s.kvHeads * c.ratio;
      s.batch = c.seqQ * c.seqK >= 100000 ? 1 : 2;
      s.seqQ = c.seqQ;
      s.seqK = c.seqK;
      AttentionInputs in = makeAttentionInputs(s, spec.dtype, freshSeed());
      Placed p = place(in, c.layout);
      DeviceBuffer lse;
      FlashOptions opts;
      opts.causal = spec.causal;
      if (spec.returnLse) {
        lse = poisonedBuffer(size_t(s.batch * s.heads * s.seqQ) * 4);
        opts.lse = static_cast<float *>(lse.data());
      }
      flashAttention(p.qv, p.kv, p.vv, p.ov, opts, stream);
      stream.sync();
      std::vector<double> refLse;
      std::vector<double> ref = in.reference(spec.returnLse ? &refLse : nullptr);
      std::vector<uint16_t> raw = download<uint16_t>(p.out);
      std::vector<float> got = decode16(raw, spec.dtype);
      Accuracy acc = compareToReference(ref, got);
      INFO(spec.kernelName() << " " << s.str() << " layout=" << layoutName(c.layout) << ": "
                             << acc.str());
      CHECK(countUnwritten(raw) == 0);
      CHECK(acc.nonFinite == 0);
      double tol = spec.dtype == DType::BF16 ? 1e-2 : 2e-3;
      CHECK(acc.relativeL2 <= tol);
      CHECK(acc.cosine >= 0.9999);
      if (spec.returnLse) {
        std::vector<float> gotLse = download<float>(lse);
        double worst = 0;
        bool infOk = true;
        for (size_t i = 0; i < refLse.size(); ++i) {
          if (std::isinf(refLse[i]))
            infOk = infOk && std::isinf(gotLse[i]) && gotLse[i] < 0;
          else
            worst = std::max(worst, std::abs(double(gotLse[i]) - refLse[i]));
        }
        INFO("lse max abs error " << worst);
        CHECK(infOk);
        CHECK(worst < 1e-3);
      }
      ++runs;
    }
  }
  std::printf("flash correctness: %d runs over %zu kernels\n", runs, specs.size());
}

TEST_CASE("flash kernels walk many tiles per CTA (persistent grids) and long rows",
          "[gpu][flash]") {
  // The sm_90a kernel is persistent: with more tiles (query block, head,
  // batch) than SMs each CTA walks several, carrying its K/V ring and barrier
  // phases across tiles of different lengths (causal, Sq != Sk, tails). The
  // shapes of the test above have fewer tiles than an H200 has SMs; these
  // have 3-6 per CTA. 4097 covers a length just past a power of two.
  struct Big {
    int64_t batch, heads, kvHeads, seqQ, seqK;
  };
  const Big shapes[] = {{8, 16, 2, 257, 200}, {6, 16, 16, 200, 513}, {1, 1, 1, 4097, 4097}};
  Stream stream;
  int runs = 0;
  for (int d : {64, 128})
    for (bool causal : {false, true})
      for (const Big &b : shapes) {
        if (b.seqQ > 1000 && d != 64)
          continue; // the float64 reference of 4097^2 is slow; one head size covers it
        AttnShape s;
        s.batch = b.batch;
        s.heads = b.heads;
        s.kvHeads = b.kvHeads;
        s.seqQ = b.seqQ;
        s.seqK = b.seqK;
        s.headDim = d;
        s.causal = causal;
        AttentionInputs in = makeAttentionInputs(s, DType::BF16, freshSeed());
        DeviceBuffer lse = poisonedBuffer(size_t(s.batch * s.heads * s.seqQ) * 4);
        FlashOptions opts;
        opts.causal = causal;
        opts.lse = static_cast<float *>(lse.data());
        flashAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
        stream.sync();
        std::vector<double> refLse;
        std::vector<double> ref = in.reference(&refLse);
        std::vector<uint16_t> raw = download<uint16_t>(in.out);
        Accuracy acc = compareToReference(ref, decode16(raw, DType::BF16));
        INFO("d=" << d << " " << s.str() << ": " << acc.str());
        CHECK(countUnwritten(raw) == 0);
        CHECK(acc.nonFinite == 0);
        CHECK(acc.relativeL2 <= 1e-2);
        CHECK(acc.cosine >= 0.9999);
        std::vector<float> gotLse = download<float>(lse);
        double worst = 0;
        bool infOk = true;
        for (size_t i = 0; i < refLse.size(); ++i) {
          if (std::isinf(refLse[i]))
            infOk = infOk && std::isinf(gotLse[i]) && gotLse[i] < 0;
          else
            worst = std::max(worst, std::abs(double(gotLse[i]) - refLse[i]));
        }
        INFO("lse max abs error " << worst);
        CHECK(infOk);
        CHECK(worst < 1e-3);
        ++runs;
      }
  std::printf("flash many-tile runs: %d\n", runs);
}

TEST_CASE("flash kernels are capturable in a CUDA graph and honour the scale",
          "[gpu][flash]") {
  CudaDriver &drv = CudaDriver::get();
  AttnShape s;
  s.batch = 2;
  s.heads = 4;
  s.kvHeads = 4;
  s.seqQ = 300;
  s.seqK = 300;
  s.headDim = 128;
  s.scale = 0.37;
  AttentionInputs in = makeAttentionInputs(s, DType::BF16, freshSeed());
  Stream stream;
  FlashOptions opts;
  opts.softmaxScale = 0.37f;
  // Warm (compile + load) outside capture, then capture one launch.
  flashAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
  stream.sync();
  drv.check(drv.cuMemsetD8(reinterpret_cast<CUdeviceptr>(in.out.data()), 0xFF,
                           size_t(s.qElems()) * 2),
            "cuMemsetD8");
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  drv.check(drv.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL), "cuStreamBeginCapture");
  flashAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
  drv.check(drv.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
  drv.check(drv.cuGraphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
  drv.check(drv.cuGraphLaunch(exec, stream), "cuGraphLaunch");
  stream.sync();
  std::vector<uint16_t> raw = download<uint16_t>(in.out);
  Accuracy acc = compareToReference(in.reference(), decode16(raw, DType::BF16));
  INFO(acc.str());
  CHECK(countUnwritten(raw) == 0);
  CHECK(acc.relativeL2 <= 1e-2);
  CHECK(acc.cosine >= 0.9999);
  drv.cuGraphExecDestroy(exec);
  drv.cuGraphDestroy(graph);
}

TEST_CASE("flash online softmax: row maxima that rise slowly, fast, or fall", "[gpu][flash]") {
  // Scores get a ramp along the keys: q[..., 0] = 1 and k[j, ..., 0] = j * g /
  // (scale * log2(e)) add g to the scaled log2 score per key. Slow ramps move
  // a row's max by less than the kernel's rescale slack per key block (stale
  // maxima, probabilities up to 2^8 until the slack is used up), fast ones
  // force a rescale every block, and a falling ramp never rescales after the
  // first block. Every config the table uses at d=64/128 is run.
  Stream stream;
  int runs = 0;
  // The device's recipe: sm_90a's 128-key blocks (its table) and 64-key
  // blocks, or the sm_80 recipe's 64- and 32-key blocks.
  const std::vector<KernelConfig> configs =
      deviceArch(0) == "sm_90a"
          ? std::vector<KernelConfig>{{128, 128, 12, 2}, {128, 64, 12, 2}}
          : std::vector<KernelConfig>{{128, 64, 4, 2}, {128, 32, 4, 2}};
  for (int d : {64, 128})
    for (DType t : {DType::BF16, DType::F16})
      for (bool causal : {false, true})
        for (KernelConfig cfg : configs)
          for (double g : {0.05, 0.3, 2.0, -0.3}) {
            AttnShape s;
            s.batch = 1;
            s.heads = 2;
            s.kvHeads = 2;
            s.seqQ = 700;
            s.seqK = 1000;
            s.headDim = d;
            s.causal = causal;
            AttentionInputs in = makeAttentionInputs(s, t, freshSeed());
            double step = g / ((1.0 / std::sqrt(double(d))) * 1.4426950408889634);
            for (int64_t i = 0; i < s.qElems() / d; ++i)
              in.hq[size_t(i * d)] = 1.0f;
            for (int64_t j = 0; j < s.seqK; ++j)
              for (int64_t h = 0; h < s.kvHeads; ++h)
                in.hk[size_t((j * s.kvHeads + h) * d)] = quantize(float(double(j) * step), t);
            in.q = upload(encode16(in.hq, t));
            in.k = upload(encode16(in.hk, t));
            DeviceBuffer lse = poisonedBuffer(size_t(s.batch * s.heads * s.seqQ) * 4);
            FlashOptions opts;
            opts.causal = causal;
            opts.config = cfg;
            opts.lse = static_cast<float *>(lse.data());
            flashAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
            stream.sync();
            std::vector<double> refLse;
            std::vector<double> ref = in.reference(&refLse);
            std::vector<uint16_t> raw = download<uint16_t>(in.out);
            Accuracy acc = compareToReference(ref, decode16(raw, t));
            std::vector<float> gotLse = download<float>(lse);
            double worstLse = 0;
            for (size_t i = 0; i < refLse.size(); ++i)
              worstLse = std::max(worstLse, std::abs(double(gotLse[i]) - refLse[i]) /
                                                std::max(1.0, std::abs(refLse[i])));
            INFO("d=" << d << " " << toString(t) << " causal=" << causal << " config="
                      << cfg.str() << " ramp=" << g << " log2/key: " << acc.str()
                      << " lse rel error " << worstLse);
            CHECK(countUnwritten(raw) == 0);
            CHECK(acc.nonFinite == 0);
            CHECK(acc.relativeL2 <= (t == DType::BF16 ? 1e-2 : 2e-3));
            CHECK(acc.cosine >= 0.9999);
            CHECK(worstLse < 1e-4);
            ++runs;
          }
  std::printf("online-softmax ramps: %d runs\n", runs);
}

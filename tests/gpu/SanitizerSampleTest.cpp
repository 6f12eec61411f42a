//===- SanitizerSampleTest.cpp - One small run of every recipe ------------===//
//
// Part of attnjit. The sample `scripts/gpu-host-run.sh sanitize` runs under
// compute-sanitizer (memcheck, racecheck, synccheck, initcheck): each recipe
// (flash, flash with lse, SDPA with a mask and with dropout, merge, Sage's
// four-kernel plan with its workspace, the GEMM of the multi-head layer on
// both of its store paths) once, on
// shapes small enough for racecheck, with ragged edges (rows and keys not a
// multiple of the tiles) so the bounds checks are exercised. Each run also
// checks its result, so the sample is a test on its own.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "GpuTestUtil.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/Linear.h"
#include "attnjit/Runtime/MergeAttention.h"
#include "attnjit/Runtime/SageAttention.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <cmath>
#include <limits>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

AttnShape smallShape(int headDim, bool causal) {
  AttnShape s;
  s.batch = 1;
  s.heads = 2;
  s.kvHeads = 1;
  s.seqQ = 67;
  s.seqK = 67;
  s.headDim = headDim;
  s.causal = causal;
  return s;
}

void checkClose(const AttentionInputs &in, const std::vector<double> &ref, double tol) {
  std::vector<uint16_t> raw = download<uint16_t>(in.out);
  CHECK(countUnwritten(raw) == 0);
  Accuracy acc = compareToReference(ref, decode16(raw, in.dtype));
  INFO(acc.str());
  CHECK(acc.nonFinite == 0);
  CHECK(acc.relativeL2 <= tol);
}

} // namespace

TEST_CASE("sanitizer sample: flash", "[gpu][sanitize-sample]") {
  Stream stream;
  for (int d : {64, 128}) {
    bool lse = d == 128;
    INFO("d" << d << (lse ? " lse" : ""));
    AttentionInputs in = makeAttentionInputs(smallShape(d, /*causal=*/true), DType::BF16, 11 + d);
    DeviceBuffer lseBuf;
    FlashOptions opts;
    opts.causal = true;
    if (lse) {
      lseBuf = poisonedBuffer(size_t(in.shape.batch * in.shape.heads * in.shape.seqQ) * 4);
      opts.lse = static_cast<float *>(lseBuf.data());
    }
    flashAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
    stream.sync();
    checkClose(in, in.reference(), 1e-2);
    if (lse)
      CHECK(countUnwritten(download<uint32_t>(lseBuf)) == 0);
  }
}

TEST_CASE("sanitizer sample: sdpa with a key-padding mask, and with dropout",
          "[gpu][sanitize-sample]") {
  Stream stream;
  AttnShape s = smallShape(80, /*causal=*/false);
  s.seqK = 45;
  // Mask: keys j % 5 == 4 are masked out, for every query row ([B, Sk] bool).
  std::vector<uint8_t> keep(size_t(s.batch * s.seqK));
  for (size_t j = 0; j < keep.size(); ++j)
    keep[j] = j % 5 != 4;
  DeviceBuffer mask = upload(keep);
  {
    AttentionInputs in = makeAttentionInputs(s, DType::F16, 5);
    SdpaOptions opts;
    opts.mask = viewOf(mask, DType::Bool, {s.batch, s.seqK});
    sdpaAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
    stream.sync();
    ScoreHooks hooks;
    hooks.bias = [&](int64_t b, int64_t, int64_t, int64_t j) {
      return keep[size_t(b * s.seqK + j)] ? 0.0 : -std::numeric_limits<double>::infinity();
    };
    std::vector<double> ref;
    referenceAttentionWith(s, in.hq.data(), in.hk.data(), in.hv.data(), hooks, ref, nullptr);
    checkClose(in, ref, 2e-3);
  }
  {
    // Dropout: every output written and finite (its values are pinned by the
    // SDPA tests).
    AttentionInputs in = makeAttentionInputs(s, DType::BF16, 6);
    SdpaOptions opts;
    opts.causal = true;
    opts.dropoutP = 0.25f;
    opts.seed = 1234;
    sdpaAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
    stream.sync();
    std::vector<uint16_t> raw = download<uint16_t>(in.out);
    CHECK(countUnwritten(raw) == 0);
    for (float x : decode16(raw, in.dtype))
      REQUIRE(std::isfinite(x));
  }
}

TEST_CASE("sanitizer sample: merge", "[gpu][sanitize-sample]") {
  const int P = 3, B = 1, S = 21, H = 2, D = 40;
  const size_t rows = size_t(B) * S * H;
  std::vector<float> parts = randomNormal(size_t(P) * rows * D, 21);
  std::vector<float> lse = randomUniform(size_t(P) * rows, 22, -3.0f, 3.0f);
  // Part 1 saw no key of row s == 4: it must not contribute there.
  for (int h = 0; h < H; ++h)
    lse[(size_t(1) * B * H + h) * S + 4] = -std::numeric_limits<float>::infinity();
  DeviceBuffer dParts = upload(parts), dLse = upload(lse);
  DeviceBuffer out = poisonedBuffer(rows * D * 4);
  Stream stream;
  mergeAttentionStates(viewOf(dParts, DType::F32, {P, B, S, H, D}),
                       viewOf(dLse, DType::F32, {P, B, H, S}),
                       viewOf(out, DType::F32, {B, S, H, D}), MergeOptions{}, stream);
  stream.sync();
  std::vector<float> got = download<float>(out);
  CHECK(countUnwritten(download<uint32_t>(out)) == 0);
  double worst = 0;
  for (int s = 0; s < S; ++s)
    for (int h = 0; h < H; ++h) {
      double m = -INFINITY, sum = 0;
      for (int p = 0; p < P; ++p)
        m = std::max(m, double(lse[(size_t(p) * H + h) * S + s]));
      for (int p = 0; p < P; ++p)
        sum += std::exp(double(lse[(size_t(p) * H + h) * S + s]) - m);
      for (int d = 0; d < D; ++d) {
        double ref = 0;
        for (int p = 0; p < P; ++p)
          ref += std::exp(double(lse[(size_t(p) * H + h) * S + s]) - m) / sum *
                 parts[((size_t(p) * S + s) * H + h) * D + d];
        worst = std::max(worst, std::abs(ref - got[(size_t(s) * H + h) * D + d]));
      }
    }
  INFO("max abs error " << worst);
  CHECK(worst < 1e-4);
}

TEST_CASE("sanitizer sample: sage", "[gpu][sanitize-sample]") {
  if (archComputeCapability(deviceArch(0)) < 89) {
    WARN("skipped: Sage needs sm_89+ (INT8 and e4m3 MMA), device 0 is " << deviceArch(0));
    return;
  }
  Stream stream;
  // The default config (per_thread, smooth_k, fp32 accumulation) with the LSE,
  // causal, GQA 2:1: reduce, quant_kv, quant_q and attend all run.
  AttentionInputs in = makeAttentionInputs(smallShape(64, /*causal=*/true), DType::BF16, 31);
  DeviceBuffer lseBuf = poisonedBuffer(size_t(in.shape.batch * in.shape.heads * in.shape.seqQ) * 4);
  SageOptions opts;
  opts.causal = true;
  opts.lse = static_cast<float *>(lseBuf.data());
  sageAttention(in.qView(), in.kView(), in.vView(), in.outView(), opts, stream);
  stream.sync();
  checkClose(in, in.reference(), 2.5e-2);
  CHECK(countUnwritten(download<uint32_t>(lseBuf)) == 0);
}

TEST_CASE("sanitizer sample: gemm (linear), both store paths", "[gpu][sanitize-sample]") {
  Stream stream;
  // N = 40: 16-byte rows, stored by TMA on sm_90a; N = 33: stored by the
  // threads (TMA would write past the row). M and K off the tiles.
  for (int64_t n : {40, 33}) {
    INFO("N " << n);
    const int64_t M = 70, K = 72;
    const DType t = DType::F16;
    std::vector<float> x = quantized(randomNormal(size_t(M * K), 41), t);
    std::vector<float> w = quantized(randomNormal(size_t(n * K), 42, 0.1f), t);
    std::vector<float> b = quantized(randomNormal(size_t(n), 43), t);
    DeviceBuffer dx = upload(encodeBytes(x, t)), dw = upload(encodeBytes(w, t)),
                 db = upload(encodeBytes(b, t));
    // 16-bit outputs are stored in pairs: an odd N takes an even pitch.
    const int64_t pitch = (n + 1) / 2 * 2;
    DeviceBuffer dy = poisonedBuffer(size_t(M * pitch * 2));
    TensorView bias = viewOf(db, t, {n});
    linear(viewOf(dx, t, {M, K}), viewOf(dw, t, {n, K}), &bias, viewOf(dy, t, {M, n}, {pitch, 1}),
           stream.get());
    stream.sync();
    std::vector<uint16_t> raw = download<uint16_t>(dy);
    std::vector<uint16_t> rows; // the M x n outputs, without the pitch's padding
    for (int64_t r = 0; r < M; ++r)
      rows.insert(rows.end(), raw.begin() + r * pitch, raw.begin() + r * pitch + n);
    CHECK(countUnwritten(rows) == 0);
    std::vector<float> got = decode16(rows, t);
    double err2 = 0, ref2 = 0;
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = 0; c < n; ++c) {
        double ref = b[size_t(c)];
        for (int64_t k = 0; k < K; ++k)
          ref += double(x[size_t(r * K + k)]) * w[size_t(c * K + k)];
        double e = got[size_t(r * n + c)] - ref;
        err2 += e * e;
        ref2 += ref * ref;
      }
    CHECK(std::sqrt(err2 / ref2) < 1e-2);
  }
}

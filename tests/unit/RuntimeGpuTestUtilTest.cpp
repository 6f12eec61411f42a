//===- RuntimeGpuTestUtilTest.cpp - Host parts of the GPU test helpers ----===//
//
// Part of attnjit. The GPU tests judge kernels with these helpers, so the
// helpers themselves are checked here, on the CPU.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "../gpu/GpuTestUtil.h"

#include <cmath>
#include <limits>

using namespace attnjit;
using namespace attnjit::gputest;

TEST_CASE("gputest: bf16 conversion", "[runtime][gputest]") {
  CHECK(floatToBf16(1.0f) == 0x3f80);
  CHECK(floatToBf16(-2.0f) == 0xc000);
  CHECK(bf16ToFloat(0x3f80) == 1.0f);
  // 1 + 2^-8 is halfway between two bf16 values: rounds to even (1.0).
  CHECK(floatToBf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);
  CHECK(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);
  CHECK(std::isnan(bf16ToFloat(floatToBf16(std::nanf("")))));
  CHECK(std::isinf(bf16ToFloat(floatToBf16(std::numeric_limits<float>::infinity()))));
  for (float f : {0.0f, 0.5f, -3.25f, 1e-30f, 3e30f, 123.0f})
    CHECK(std::fabs(quantize(f, DType::BF16) - f) <= std::fabs(f) * std::ldexp(1.0f, -8));
}

TEST_CASE("gputest: f16 conversion", "[runtime][gputest]") {
  CHECK(floatToHalf(1.0f) == 0x3c00);
  CHECK(floatToHalf(-2.0f) == 0xc000);
  CHECK(floatToHalf(65504.0f) == 0x7bff);
  CHECK(floatToHalf(65520.0f) == 0x7c00); // rounds up to infinity
  CHECK(floatToHalf(1e6f) == 0x7c00);
  CHECK(floatToHalf(std::ldexp(1.0f, -24)) == 0x0001); // smallest subnormal
  CHECK(floatToHalf(std::ldexp(1.0f, -25)) == 0x0000); // halfway: ties to even
  CHECK(floatToHalf(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(floatToHalf(std::ldexp(1.0f, -14)) == 0x0400); // smallest normal
  CHECK(halfToFloat(0x0001) == std::ldexp(1.0f, -24));
  CHECK(halfToFloat(0x03ff) == std::ldexp(1023.0f, -24));
  CHECK(halfToFloat(0x3c00) == 1.0f);
  CHECK(halfToFloat(0x7bff) == 65504.0f);
  CHECK(std::isinf(halfToFloat(0x7c00)));
  CHECK(std::isnan(halfToFloat(0x7e00)));
  CHECK(std::isnan(halfToFloat(kPoison16)));
  CHECK(std::isnan(bf16ToFloat(kPoison16)));
  // Every finite half survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00)
      continue;
    if (floatToHalf(halfToFloat(uint16_t(h))) != h) {
      FAIL("half 0x" << std::hex << h << " does not round-trip");
    }
  }
  // Rounding to nearest: 1 + 2^-11 is halfway, ties to even.
  CHECK(floatToHalf(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  CHECK(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
}

TEST_CASE("gputest: reference attention", "[runtime][gputest]") {
  SECTION("one key: the output is v") {
    AttnShape s;
    s.batch = 2, s.heads = 4, s.kvHeads = 2, s.seqQ = 3, s.seqK = 1, s.headDim = 8;
    auto q = randomNormal(size_t(s.qElems()), 1), k = randomNormal(size_t(s.kvElems()), 2),
         v = randomNormal(size_t(s.kvElems()), 3);
    std::vector<double> out, lse;
    referenceAttention(s, q.data(), k.data(), v.data(), out, &lse);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t h = 0; h < 4; ++h)
          for (int64_t d = 0; d < 8; ++d)
            CHECK(out[size_t(((b * 3 + i) * 4 + h) * 8 + d)] ==
                  Approx(v[size_t((b * 2 + h / 2) * 8 + d)]));
    // lse of one key is its scaled score.
    double dot = 0;
    for (int d = 0; d < 8; ++d)
      dot += double(q[size_t(d)]) * k[size_t(d)];
    CHECK(lse[0] == Approx(dot / std::sqrt(8.0)));
  }
  SECTION("equal scores average v") {
    AttnShape s;
    s.seqQ = 1, s.seqK = 4, s.headDim = 2;
    std::vector<float> q = {0, 0}, k(8, 1.0f), v = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<double> out, lse;
    referenceAttention(s, q.data(), k.data(), v.data(), out, &lse);
    CHECK(out[0] == Approx(4.0));
    CHECK(out[1] == Approx(5.0));
    CHECK(lse[0] == Approx(std::log(4.0)));
  }
  SECTION("causal is aligned bottom-right; fully masked rows are 0") {
    AttnShape s;
    s.seqQ = 4, s.seqK = 2, s.headDim = 2, s.causal = true;
    std::vector<float> q(8, 0.0f), k(4, 0.0f), v = {10, 20, 30, 40};
    std::vector<double> out, lse;
    referenceAttention(s, q.data(), k.data(), v.data(), out, &lse);
    // Query i sees keys j <= i + Sk - Sq = i - 2.
    CHECK(out[0] == 0.0);
    CHECK(out[2] == 0.0);
    CHECK(std::isinf(lse[0]));
    CHECK(lse[0] < 0);
    CHECK(out[4] == Approx(10.0)); // query 2 sees key 0
    CHECK(out[6] == Approx(20.0)); // query 3 sees keys 0, 1
    CHECK(causalVisible(3, 1, 4, 2));
    CHECK_FALSE(causalVisible(1, 0, 4, 2));
    CHECK(causalVisible(0, 2, 2, 4)); // Sq < Sk: the first query sees Sk - Sq + 1 keys
  }
}

TEST_CASE("gputest: accuracy metrics and poison", "[runtime][gputest]") {
  std::vector<double> ref = {1, 2, 3, 4};
  Accuracy same = compareToReference(ref, std::vector<float>{1, 2, 3, 4});
  CHECK(same.relativeL2 == 0);
  CHECK(same.cosine == Approx(1.0));
  Accuracy off = compareToReference(ref, std::vector<float>{1, 2, 3, 5});
  CHECK(off.relativeL2 == Approx(1.0 / std::sqrt(30.0)));
  CHECK(off.maxAbsError == Approx(1.0));
  CHECK(cosineSimilarity(ref, std::vector<float>{-1, -2, -3, -4}) == Approx(-1.0));
  Accuracy nan = compareToReference(ref, std::vector<float>{1, 2, std::nanf(""), 4});
  CHECK(nan.nonFinite == 1);
  CHECK(nan.cosine <= 0);
  CHECK(compareToReference(ref, std::vector<float>{1, 2}).cosine <= 0);

  std::vector<uint16_t> data = {1, kPoison16, 3, kPoison16};
  CHECK(firstUnwritten(data) == 1);
  CHECK(countUnwritten(data) == 2);
  CHECK(firstWriteOutside(data, 0, 1) == 2);
  std::vector<uint32_t> lse = {0, 1, kPoison32};
  CHECK(firstUnwritten(lse) == 2);

  AttnShape s;
  s.batch = 2, s.heads = 8, s.seqQ = 1024, s.seqK = 1024, s.headDim = 128;
  CHECK(attentionFlops(s) == Approx(4.0 * 2 * 8 * 1024 * 1024 * 128));
  s.causal = true;
  CHECK(attentionFlops(s) == Approx(2.0 * 2 * 8 * 1024 * 1024 * 128));
}

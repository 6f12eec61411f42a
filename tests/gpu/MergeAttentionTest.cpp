//===- MergeAttentionTest.cpp - LSE merge of partial attention outputs ----===//
//
// Part of attnjit. The merge recipe (kernels/lib/LseMergeRecipe.cpp) against
// float64: random partial outputs and log-sum-exps with parts that saw no key
// (lse = -inf, their outputs NaN so that any use shows), rows no part saw a
// key of, strided views; and split-KV attention end to end (flash over key
// chunks with lse, then merge) against full attention.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "GpuTestUtil.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/MergeAttention.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

} // namespace

TEST_CASE("merge: partial outputs by log-sum-exp vs float64", "[gpu][merge]") {
  const int B = 2, S = 37, H = 3;
  struct Case {
    DType dtype;
    int headDim, parts;
  };
  const Case cases[] = {{DType::BF16, 128, 4}, {DType::F16, 64, 3}, {DType::F32, 40, 2},
                        {DType::BF16, 256, 1}, {DType::F16, 7, 5}};
  Stream stream;
  for (const Case &c : cases) {
    DYNAMIC_SECTION(toString(c.dtype) << " d" << c.headDim << " parts " << c.parts) {
      const int P = c.parts, D = c.headDim;
      const size_t rowsPerPart = size_t(B) * S * H;
      std::vector<float> o = randomNormal(size_t(P) * rowsPerPart * D, 7 + D);
      for (float &x : o)
        x = quantizeTo(x, c.dtype);
      std::vector<float> lse = randomUniform(size_t(P) * rowsPerPart, 9 + D, -4.0f, 6.0f);
      // lse index [p][b][h][s]; o index [p][b][s][h][d].
      auto lseAt = [&](int p, int b, int h, int s) -> float & {
        return lse[((size_t(p) * B + b) * H + h) * S + s];
      };
      auto oAt = [&](int p, int b, int s, int h, int d) -> float & {
        return o[(((size_t(p) * B + b) * S + s) * H + h) * D + d];
      };
      const float nan = std::numeric_limits<float>::quiet_NaN();
      for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
          for (int s = 0; s < S; ++s)
            for (int p = 0; p < P; ++p) {
              // Part p saw no key of some rows; rows s % 11 == 5 none at all.
              bool empty = (s + p + h) % 4 == 1 || s % 11 == 5;
              if (!empty)
                continue;
              lseAt(p, b, h, s) = -std::numeric_limits<float>::infinity();
              for (int d = 0; d < D; ++d)
                oAt(p, b, s, h, d) = c.dtype == DType::F32 ? nan : 0.0f;
            }
      std::vector<uint8_t> oBytes = encodeBytes(o, c.dtype);
      if (c.dtype != DType::F32) {
        // NaN bit patterns in the 16-bit parts that saw no key.
        for (size_t i = 0; i < o.size(); ++i) {
          size_t row = i / D;
          int h = int(row % H), s = int(row / H % S), b = int(row / H / S % B),
              p = int(row / H / S / B);
          if (std::isinf(lseAt(p, b, h, s))) {
            oBytes[2 * i] = 0xff;
            oBytes[2 * i + 1] = 0x7f;
          }
        }
      }
      DeviceBuffer dParts = upload(oBytes), dLse = upload(lse);
      const int eb = dtypeSize(c.dtype);
      DeviceBuffer dOut = poisonedBuffer(rowsPerPart * D * eb);
      DeviceBuffer dOutLse = poisonedBuffer(rowsPerPart * 4);
      MergeOptions opts;
      opts.lse = static_cast<float *>(dOutLse.data());
      mergeAttentionStates(viewOf(dParts, c.dtype, {P, B, S, H, D}),
                           viewOf(dLse, DType::F32, {P, B, H, S}),
                           viewOf(dOut, c.dtype, {B, S, H, D}), opts, stream);
      stream.sync();

      std::vector<double> ref(rowsPerPart * D), refLse(rowsPerPart);
      for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h)
          for (int s = 0; s < S; ++s) {
            double m = kNegInf;
            for (int p = 0; p < P; ++p)
              m = std::max(m, double(lseAt(p, b, h, s)));
            double wsum = 0;
            std::vector<double> acc(D, 0.0);
            if (m != kNegInf)
              for (int p = 0; p < P; ++p) {
                double w = std::exp(double(lseAt(p, b, h, s)) - m);
                if (w == 0)
                  continue;
                wsum += w;
                for (int d = 0; d < D; ++d)
                  acc[d] += w * oAt(p, b, s, h, d);
              }
            size_t row = (size_t(b) * S + s) * H + h;
            for (int d = 0; d < D; ++d)
              ref[row * D + d] = wsum > 0 ? acc[d] / wsum : 0.0;
            refLse[(size_t(b) * H + h) * S + s] = wsum > 0 ? m + std::log(wsum) : kNegInf;
          }
      std::vector<float> got = decodeBytes(download<uint8_t>(dOut), c.dtype);
      Accuracy acc = compareToReference(ref, got);
      INFO(acc.str());
      CHECK(acc.nonFinite == 0);
      CHECK(acc.relativeL2 < (c.dtype == DType::F32 ? 1e-6 : 5e-3));
      std::vector<float> gotLse = download<float>(dOutLse);
      int64_t badLse = 0;
      for (size_t i = 0; i < refLse.size(); ++i) {
        bool ok = std::isinf(refLse[i]) ? (std::isinf(gotLse[i]) && gotLse[i] < 0)
                                        : std::abs(gotLse[i] - refLse[i]) < 1e-4;
        if (!ok && badLse++ < 5)
          UNSCOPED_INFO("lse[" << i << "] = " << gotLse[i] << ", want " << refLse[i]);
      }
      CHECK(badLse == 0);
      // Rows no part saw a key of: zeros.
      for (int b = 0; b < B; ++b)
        for (int h = 0; h < H; ++h) {
          size_t row = (size_t(b) * S + 5) * H + h; // s = 5
          for (int d = 0; d < D; ++d)
            CHECK(got[row * D + d] == 0.0f);
        }
    }
  }
}

TEST_CASE("merge: split-KV flash attention over key chunks equals full attention",
          "[gpu][merge]") {
  AttnShape s;
  s.batch = 2;
  s.heads = 4;
  s.kvHeads = 4;
  s.seqQ = 200;
  s.seqK = 1000;
  s.headDim = 128;
  const DType t = DType::BF16;
  AttentionInputs in = makeAttentionInputs(s, t, 21);
  std::vector<double> ref = in.reference();
  // Chunks of 384, 384, 232 keys: each a flash call with lse into its part.
  const int chunks[] = {384, 384, 232};
  const int P = 3;
  const size_t partElems = size_t(s.batch) * s.seqQ * s.heads * s.headDim;
  DeviceBuffer dParts = poisonedBuffer(P * partElems * 2);
  DeviceBuffer dLse = poisonedBuffer(size_t(P) * s.batch * s.heads * s.seqQ * 4);
  Stream stream;
  int k0 = 0;
  for (int p = 0; p < P; ++p) {
    const int64_t kvRow = int64_t(s.kvHeads) * s.headDim;
    auto chunk = [&](const DeviceBuffer &buf) {
      return TensorView(static_cast<uint8_t *>(buf.data()) + size_t(k0) * kvRow * 2, t,
                        {s.batch, chunks[p], s.kvHeads, s.headDim},
                        {int64_t(s.seqK) * kvRow, kvRow, s.headDim, 1});
    };
    TensorView out(static_cast<uint8_t *>(dParts.data()) + p * partElems * 2, t,
                   {s.batch, s.seqQ, s.heads, s.headDim});
    FlashOptions fo;
    fo.lse = static_cast<float *>(dLse.data()) + size_t(p) * s.batch * s.heads * s.seqQ;
    flashAttention(in.qView(), chunk(in.k), chunk(in.v), out, fo, stream);
    k0 += chunks[p];
  }
  MergeOptions mo;
  mergeAttentionStates(viewOf(dParts, t, {P, s.batch, s.seqQ, s.heads, s.headDim}),
                       viewOf(dLse, DType::F32, {P, s.batch, s.heads, s.seqQ}), in.outView(), mo,
                       stream);
  stream.sync();
  Accuracy acc = compareToReference(ref, in.outHost());
  INFO(acc.str());
  CHECK(acc.nonFinite == 0);
  CHECK(acc.relativeL2 < 1e-2);
  CHECK(acc.cosine > 0.9999);
}

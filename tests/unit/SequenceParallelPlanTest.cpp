//===- SequenceParallelPlanTest.cpp - Ulysses and zig-zag ring plans ------===//
//
// Part of attnjit. The Ulysses plan is checked by running its all-to-all on the
// host: every rank packs its tensors as the plan says, the pieces are exchanged
// by (peer, offset, bytes), and the unpacked result must be the head slice of
// the whole sequence (forward) and the original input (backward). The ring plan
// is checked against a dense causal mask, pair by pair.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/SequenceParallel.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

using namespace attnjit;

namespace {

void expectInvalid(const UlyssesShape &s, const std::string &part) {
  try {
    planUlysses(s);
    FAIL("planUlysses did not throw for " << part);
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    INFO(e.what());
    CHECK(std::string(e.what()).find(part) != std::string::npos);
  }
}

UlyssesShape shape(int64_t b, int64_t s, int64_t h, int64_t d, int64_t p, int64_t t = 0,
                   int64_t elementBytes = 4) {
  UlyssesShape u;
  u.batch = b;
  u.seqLen = s;
  u.heads = h;
  u.headDim = d;
  u.worldSize = p;
  u.replicatedTokens = t;
  u.elementBytes = elementBytes;
  return u;
}

/// A distinct value for every element of the global q (sequence rows, then
/// replicated rows after them); padding is -1.
int32_t value(const UlyssesShape &s, int64_t b, int64_t row, int64_t h, int64_t d) {
  return static_cast<int32_t>(((b * (s.seqLen + s.replicatedTokens) + row) * s.heads + h) *
                                  s.headDim + d);
}

/// Runs the forward and backward exchange of `plan` on the host with int32
/// elements and checks both directions element by element.
void simulateUlysses(const UlyssesPlan &plan) {
  const UlyssesShape &s = plan.shape;
  REQUIRE(s.elementBytes == 4);
  const int64_t p = s.worldSize, hp = plan.headsPerRank, D = s.headDim, B = s.batch;
  const int64_t L = plan.localRows, T = s.replicatedTokens, A = plan.attentionRows;

  // Inputs [B, L, H, D] per rank; replicated [B, T, H, D], the same on all.
  std::vector<std::vector<int32_t>> input(static_cast<size_t>(p));
  for (int64_t r = 0; r < p; ++r) {
    auto &in = input[static_cast<size_t>(r)];
    in.assign(static_cast<size_t>(B * L * s.heads * D), -1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t l = 0; l < L; ++l) {
        int64_t row = r * L + l;
        if (row >= s.seqLen)
          continue;
        for (int64_t h = 0; h < s.heads; ++h)
          for (int64_t d = 0; d < D; ++d)
            in[static_cast<size_t>(((b * L + l) * s.heads + h) * D + d)] = value(s, b, row, h, d);
      }
  }

  // Pack: forward send [q, B, valid(r), hp, D].
  std::vector<std::vector<int32_t>> send(static_cast<size_t>(p));
  for (int64_t r = 0; r < p; ++r) {
    const UlyssesRankPlan &rp = plan.ranks[static_cast<size_t>(r)];
    CHECK(rp.seqBegin == r * L);
    CHECK(rp.validRows == std::clamp<int64_t>(s.seqLen - r * L, 0, L));
    auto &buf = send[static_cast<size_t>(r)];
    buf.resize(rp.forwardSendBytes / 4);
    for (int64_t q = 0; q < p; ++q) {
      const PeerTransfer &t = rp.forwardSend[static_cast<size_t>(q)];
      CHECK(t.peer == q);
      CHECK(t.count * 4 == t.bytes);
      size_t at = t.offsetBytes / 4;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t l = 0; l < rp.validRows; ++l)
          for (int64_t h = q * hp; h < (q + 1) * hp; ++h)
            for (int64_t d = 0; d < D; ++d)
              buf.at(at++) =
                  input[static_cast<size_t>(r)][static_cast<size_t>(((b * L + l) * s.heads + h) * D + d)];
      CHECK(at * 4 == t.offsetBytes + t.bytes);
    }
  }

  // Exchange: rank r's piece from p is p's piece to r; sizes must agree.
  std::vector<std::vector<int32_t>> recv(static_cast<size_t>(p));
  for (int64_t r = 0; r < p; ++r) {
    const UlyssesRankPlan &rp = plan.ranks[static_cast<size_t>(r)];
    recv[static_cast<size_t>(r)].assign(rp.forwardRecvBytes / 4, -7);
    for (int64_t src = 0; src < p; ++src) {
      const PeerTransfer &in = rp.forwardRecv[static_cast<size_t>(src)];
      const PeerTransfer &out =
          plan.ranks[static_cast<size_t>(src)].forwardSend[static_cast<size_t>(r)];
      REQUIRE(in.bytes == out.bytes);
      for (uint64_t i = 0; i < in.count; ++i)
        recv[static_cast<size_t>(r)].at(in.offsetBytes / 4 + i) =
            send[static_cast<size_t>(src)].at(out.offsetBytes / 4 + i);
    }
  }

  // Unpack into [B, A, hp, D] and join the replicated rows; it must be the
  // head slice of the global tensor.
  std::vector<std::vector<int32_t>> local(static_cast<size_t>(p));
  auto at = [&](int64_t r, int64_t b, int64_t row, int64_t h, int64_t d) -> int32_t & {
    return local[static_cast<size_t>(r)][static_cast<size_t>(((b * A + row) * hp + h) * D + d)];
  };
  for (int64_t r = 0; r < p; ++r) {
    const UlyssesRankPlan &rp = plan.ranks[static_cast<size_t>(r)];
    CHECK(rp.headBegin == r * hp);
    local[static_cast<size_t>(r)].assign(static_cast<size_t>(B * A * hp * D), -9);
    for (int64_t src = 0; src < p; ++src) {
      const UlyssesRankPlan &sp = plan.ranks[static_cast<size_t>(src)];
      size_t i = rp.forwardRecv[static_cast<size_t>(src)].offsetBytes / 4;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t l = 0; l < sp.validRows; ++l)
          for (int64_t h = 0; h < hp; ++h)
            for (int64_t d = 0; d < D; ++d)
              at(r, b, sp.seqBegin + l, h, d) = recv[static_cast<size_t>(r)].at(i++);
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < hp; ++h)
          for (int64_t d = 0; d < D; ++d)
            at(r, b, s.seqLen + t, h, d) = value(s, b, s.seqLen + t, rp.headBegin + h, d);
    int64_t wrong = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t row = 0; row < A; ++row)
        for (int64_t h = 0; h < hp; ++h)
          for (int64_t d = 0; d < D; ++d)
            wrong += at(r, b, row, h, d) != value(s, b, row, rp.headBegin + h, d);
    INFO("forward, rank " << r);
    CHECK(wrong == 0);
  }

  // Backward, as for the attention output: each rank packs its local rows in
  // the forward-recv layout, sends by forwardRecv, receives by forwardSend and
  // unpacks into [B, L, H, D]; that must give back the input.
  for (int64_t r = 0; r < p; ++r) {
    const UlyssesRankPlan &rp = plan.ranks[static_cast<size_t>(r)];
    std::vector<int32_t> back(static_cast<size_t>(B * L * s.heads * D), -1);
    for (int64_t q = 0; q < p; ++q) {
      const UlyssesRankPlan &qp = plan.ranks[static_cast<size_t>(q)];
      const PeerTransfer &out = qp.forwardRecv[static_cast<size_t>(r)]; // q packs for r
      const PeerTransfer &in = rp.forwardSend[static_cast<size_t>(q)];  // r unpacks from q
      REQUIRE(in.bytes == out.bytes);
      std::vector<int32_t> piece;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t l = 0; l < rp.validRows; ++l)
          for (int64_t h = 0; h < hp; ++h)
            for (int64_t d = 0; d < D; ++d)
              piece.push_back(at(q, b, rp.seqBegin + l, h, d));
      REQUIRE(piece.size() == out.count);
      size_t i = 0;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t l = 0; l < rp.validRows; ++l)
          for (int64_t h = 0; h < hp; ++h)
            for (int64_t d = 0; d < D; ++d)
              back[static_cast<size_t>(((b * L + l) * s.heads + qp.headBegin + h) * D + d)] =
                  piece[i++];
    }
    INFO("backward, rank " << r);
    CHECK(back == input[static_cast<size_t>(r)]);
  }
}

} // namespace

TEST_CASE("Ulysses plan: an even split", "[runtime][sp][ulysses]") {
  UlyssesPlan plan = planUlysses(shape(2, 16, 8, 4, 4, 0, 2));
  CHECK(plan.localRows == 4);
  CHECK(plan.paddedSeqLen == 16);
  CHECK(plan.padRows == 0);
  CHECK(plan.headsPerRank == 2);
  CHECK(plan.attentionRows == 16);
  CHECK(plan.replicatedGatherBytes == 0);
  REQUIRE(plan.ranks.size() == 4);
  for (const UlyssesRankPlan &rp : plan.ranks) {
    CHECK(rp.seqBegin == rp.rank * 4);
    CHECK(rp.validRows == 4);
    CHECK(rp.headBegin == rp.rank * 2);
    CHECK(rp.forwardSendBytes == 4 * 128);
    CHECK(rp.forwardRecvBytes == 4 * 128);
    for (int q = 0; q < 4; ++q) {
      // B * rows * H/P * D * 2 bytes = 2 * 4 * 2 * 4 * 2.
      CHECK(rp.forwardSend[static_cast<size_t>(q)].bytes == 128);
      CHECK(rp.forwardSend[static_cast<size_t>(q)].count == 64);
      CHECK(rp.forwardSend[static_cast<size_t>(q)].offsetBytes == 128u * static_cast<unsigned>(q));
      CHECK(rp.forwardRecv[static_cast<size_t>(q)].offsetBytes == 128u * static_cast<unsigned>(q));
    }
  }
}

TEST_CASE("Ulysses plan: padding when the sequence is not a multiple of P",
          "[runtime][sp][ulysses]") {
  UlyssesPlan plan = planUlysses(shape(1, 13, 4, 8, 4, 0, 2));
  CHECK(plan.localRows == 4);
  CHECK(plan.paddedSeqLen == 16);
  CHECK(plan.padRows == 3);
  CHECK(plan.attentionRows == 13); // no padding reaches the local attention
  CHECK(plan.ranks[3].validRows == 1);
  CHECK(plan.ranks[2].validRows == 4);
  // Rank 3 sends one row (1 * 1 * 1 head * 8 * 2 bytes) to each peer...
  CHECK(plan.ranks[3].forwardSend[0].bytes == 16);
  CHECK(plan.ranks[3].forwardSendBytes == 64);
  // ... and every rank receives 4 + 4 + 4 + 1 rows, the last at 3 * 64.
  CHECK(plan.ranks[0].forwardRecv[3].bytes == 16);
  CHECK(plan.ranks[0].forwardRecv[3].offsetBytes == 192);
  CHECK(plan.ranks[0].forwardRecvBytes == 13 * 16);

  // Fewer tokens than ranks: ranks holding only padding exchange nothing.
  UlyssesPlan tiny = planUlysses(shape(1, 2, 4, 8, 4, 0, 2));
  CHECK(tiny.localRows == 1);
  CHECK(tiny.padRows == 2);
  CHECK(tiny.ranks[2].validRows == 0);
  CHECK(tiny.ranks[2].forwardSendBytes == 0);
  CHECK(tiny.ranks[0].forwardRecv[3].bytes == 0);
}

TEST_CASE("Ulysses plan: replicated tokens join after the sequence", "[runtime][sp][ulysses]") {
  UlyssesPlan plan = planUlysses(shape(2, 30, 8, 16, 4, 5, 2));
  CHECK(plan.attentionRows == 35);
  // Each rank gathers its 2 heads of 5 tokens: 2 * 5 * 2 * 16 * 2 bytes.
  CHECK(plan.replicatedGatherBytes == 640);
  // Replicated tokens are not exchanged: the all-to-all carries only the sequence.
  CHECK(plan.ranks[0].forwardRecvBytes == 2u * 30u * 2u * 16u * 2u);
}

TEST_CASE("Ulysses plan: the all-to-all run on the host restores every element",
          "[runtime][sp][ulysses]") {
  struct Case {
    int64_t b, s, h, d, p, t;
  };
  for (Case c : {Case{1, 16, 4, 2, 4, 0}, Case{2, 13, 4, 3, 4, 0}, Case{2, 13, 8, 2, 4, 3},
                 Case{1, 2, 4, 2, 4, 2}, Case{3, 7, 6, 2, 1, 4}, Case{2, 9, 6, 2, 2, 1},
                 Case{1, 17, 16, 1, 8, 5}}) {
    INFO("B=" << c.b << " S=" << c.s << " H=" << c.h << " D=" << c.d << " P=" << c.p
              << " T=" << c.t);
    simulateUlysses(planUlysses(shape(c.b, c.s, c.h, c.d, c.p, c.t)));
  }
}

TEST_CASE("Ulysses plan: bad shapes are clear errors", "[runtime][sp][ulysses]") {
  expectInvalid(shape(1, 16, 30, 64, 4), "heads = 30 is not a multiple of the world size 4");
  expectInvalid(shape(0, 16, 8, 64, 4), "batch = 0 must be at least 1");
  expectInvalid(shape(1, 0, 8, 64, 4), "seqLen = 0 must be at least 1");
  expectInvalid(shape(1, 16, 0, 64, 4), "heads = 0 must be at least 1");
  expectInvalid(shape(1, 16, 8, -1, 4), "headDim = -1 must be at least 1");
  expectInvalid(shape(1, 16, 8, 64, 0), "worldSize = 0 must be at least 1");
  expectInvalid(shape(1, 16, 8, 64, 4, -2), "replicatedTokens = -2 must not be negative");
  expectInvalid(shape(1, 16, 8, 64, 4, 0, 3), "elementBytes = 3 is not 1, 2, 4 or 8");
  expectInvalid(shape(int64_t(1) << 40, int64_t(1) << 20, 8, 128, 4), "overflows 64 bits");
  expectInvalid(shape(1, 16, 8, 64, 4, INT64_MAX), "overflows");
}

TEST_CASE("Zig-zag ring: chunks, padding and the ring's neighbours", "[runtime][sp][ring]") {
  RingPlan plan = planZigZagRing(64, 4, true);
  CHECK(plan.chunkRows == 8);
  CHECK(plan.padRows == 0);
  CHECK(plan.rankChunks(0) == std::array<int64_t, 2>{0, 7});
  CHECK(plan.rankChunks(3) == std::array<int64_t, 2>{3, 4});
  RingStep st = plan.step(1, 0);
  CHECK(st.kvSourceRank == 3);
  CHECK(st.sendTo == 1);
  CHECK(st.recvFrom == 3);
  // Rank 0 holds queries {0, 7}; rank 3's keys {3, 4}.
  CHECK(st.blocks[0].visibility == BlockVisibility::Invisible); // q0 k3
  CHECK(st.blocks[1].visibility == BlockVisibility::Invisible); // q0 k4
  CHECK(st.blocks[2].visibility == BlockVisibility::Full);      // q7 k3
  CHECK(st.blocks[3].visibility == BlockVisibility::Full);      // q7 k4
  CHECK(std::string(toString(plan.step(0, 2).blocks[0].visibility)) == "causal-diagonal");

  RingPlan padded = planZigZagRing(21, 2, true);
  CHECK(padded.chunkRows == 6);
  CHECK(padded.paddedSeqLen == 24);
  CHECK(padded.padRows == 3);
  CHECK(padded.chunkValidRows(2) == 6);
  CHECK(padded.chunkValidRows(3) == 3);
  RingPlan tiny = planZigZagRing(3, 4, false);
  CHECK(tiny.chunkRows == 1);
  CHECK(tiny.chunkValidRows(5) == 0);
  CHECK(tiny.step(0, 3).blocks[0].visibility == BlockVisibility::Invisible); // chunk 3 is padding
}

TEST_CASE("Zig-zag ring: every query-key pair is covered once and matches a dense mask",
          "[runtime][sp][ring]") {
  for (bool causal : {true, false})
    for (int64_t p : {1, 2, 3, 4, 8})
      for (int64_t s : {1, 5, 16, 21, 64, 67}) {
        INFO("P=" << p << " S=" << s << " causal=" << causal);
        RingPlan plan = planZigZagRing(s, p, causal);
        std::vector<int> covered(static_cast<size_t>(s * s), 0), visible(covered);
        for (int step = 0; step < p; ++step)
          for (int r = 0; r < p; ++r) {
            RingStep st = plan.step(step, r);
            for (const RingBlock &b : st.blocks) {
              int64_t q0 = b.queryChunk * plan.chunkRows, k0 = b.keyChunk * plan.chunkRows;
              for (int64_t i = q0; i < q0 + plan.chunkValidRows(b.queryChunk); ++i)
                for (int64_t j = k0; j < k0 + plan.chunkValidRows(b.keyChunk); ++j) {
                  covered[static_cast<size_t>(i * s + j)] += 1;
                  bool v = b.visibility == BlockVisibility::Full ||
                           (b.visibility == BlockVisibility::CausalDiagonal && j <= i);
                  visible[static_cast<size_t>(i * s + j)] += v;
                }
            }
          }
        int64_t badCover = 0, badMask = 0;
        for (int64_t i = 0; i < s; ++i)
          for (int64_t j = 0; j < s; ++j) {
            badCover += covered[static_cast<size_t>(i * s + j)] != 1;
            badMask += visible[static_cast<size_t>(i * s + j)] != ((!causal || j <= i) ? 1 : 0);
          }
        CHECK(badCover == 0);
        CHECK(badMask == 0);
      }
}

TEST_CASE("Zig-zag ring: causal work is balanced across ranks at every step",
          "[runtime][sp][ring]") {
  for (int64_t p : {2, 4, 8}) {
    RingPlan plan = planZigZagRing(2 * p * 16, p, true);
    for (int step = 0; step < p; ++step)
      for (int r = 0; r < p; ++r) {
        int full = 0, diagonal = 0;
        for (const RingBlock &b : plan.step(step, r).blocks) {
          full += b.visibility == BlockVisibility::Full;
          diagonal += b.visibility == BlockVisibility::CausalDiagonal;
        }
        INFO("P=" << p << " step " << step << " rank " << r);
        // Step 0: the rank's own chunks (two diagonals and the later chunk
        // against the earlier one); afterwards exactly two full blocks.
        CHECK(full == (step == 0 ? 1 : 2));
        CHECK(diagonal == (step == 0 ? 2 : 0));
      }
  }
}

TEST_CASE("Zig-zag ring: bad arguments are clear errors", "[runtime][sp][ring]") {
  auto expect = [](auto fn, const std::string &part) {
    try {
      fn();
      FAIL("no error for " << part);
    } catch (const Error &e) {
      CHECK(e.kind() == ErrorKind::InvalidArgument);
      CHECK(std::string(e.what()).find(part) != std::string::npos);
    }
  };
  expect([] { planZigZagRing(0, 4, true); }, "seqLen = 0 must be at least 1");
  expect([] { planZigZagRing(64, 0, true); }, "worldSize = 0 must be at least 1");
  RingPlan plan = planZigZagRing(64, 4, true);
  expect([&] { plan.step(4, 0); }, "step 4 is outside [0, 4)");
  expect([&] { plan.step(0, 4); }, "rank 4 is outside [0, 4)");
  expect([&] { plan.chunkValidRows(8); }, "chunk 8 is outside [0, 8)");
}

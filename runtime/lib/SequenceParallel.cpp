//===- SequenceParallel.cpp - Layout plans of Ulysses and ring attention --===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/SequenceParallel.h"

#include "attnjit/Runtime/Error.h"

#include <fmt/format.h>

#include <algorithm>

namespace attnjit {

namespace {

void requirePositive(int64_t value, const char *what, const char *scheme) {
  if (value < 1)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("{}: {} = {} must be at least 1", scheme, what, value));
}

/// a * b, or an InvalidArgument naming `what` when it does not fit 63 bits.
int64_t checkedMul(int64_t a, int64_t b, const char *what) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("Ulysses: the {} ({} x {}) overflows 64 bits", what, a, b));
  return r;
}

} // namespace

//===----------------------------------------------------------------------===//
// Ulysses
//===----------------------------------------------------------------------===//

UlyssesPlan planUlysses(const UlyssesShape &s) {
  const char *scheme = "Ulysses";
  requirePositive(s.batch, "batch", scheme);
  requirePositive(s.seqLen, "seqLen", scheme);
  requirePositive(s.heads, "heads", scheme);
  requirePositive(s.headDim, "headDim", scheme);
  requirePositive(s.worldSize, "worldSize", scheme);
  if (s.replicatedTokens < 0)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("Ulysses: replicatedTokens = {} must not be negative",
                            s.replicatedTokens));
  if (s.elementBytes != 1 && s.elementBytes != 2 && s.elementBytes != 4 && s.elementBytes != 8)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("Ulysses: elementBytes = {} is not 1, 2, 4 or 8", s.elementBytes));
  if (s.worldSize > (1 << 20))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("Ulysses: worldSize = {} is not a plausible number of ranks",
                            s.worldSize));
  if (s.heads % s.worldSize != 0)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("Ulysses: heads = {} is not a multiple of the world size {}; each "
                            "rank must own the same number of heads",
                            s.heads, s.worldSize));

  UlyssesPlan plan;
  plan.shape = s;
  const int64_t p = s.worldSize;
  plan.localRows = s.seqLen / p + (s.seqLen % p != 0);
  plan.paddedSeqLen = plan.localRows * p;
  plan.padRows = plan.paddedSeqLen - s.seqLen;
  plan.headsPerRank = s.heads / p;
  if (__builtin_add_overflow(s.seqLen, s.replicatedTokens, &plan.attentionRows))
    throw Error(ErrorKind::InvalidArgument, "Ulysses: seqLen + replicatedTokens overflows");

  // Bytes of one row of one head group, then of the largest tensors, checked
  // once so that every piece below fits.
  const int64_t groupRowBytes =
      checkedMul(checkedMul(plan.headsPerRank, s.headDim, "row of a head group"), s.elementBytes,
                 "row of a head group");
  const int64_t batchGroupRowBytes = checkedMul(s.batch, groupRowBytes, "row of a head group");
  checkedMul(checkedMul(batchGroupRowBytes, p, "input tensor"),
             std::max(plan.localRows, plan.attentionRows), "input tensor");
  plan.replicatedGatherBytes =
      static_cast<uint64_t>(checkedMul(batchGroupRowBytes, s.replicatedTokens,
                                       "replicated tokens' output"));
  checkedMul(static_cast<int64_t>(plan.replicatedGatherBytes), p, "gathered replicated output");

  auto validRows = [&](int64_t rank) {
    return std::clamp<int64_t>(s.seqLen - rank * plan.localRows, 0, plan.localRows);
  };
  auto piece = [&](int peer, uint64_t offset, int64_t rows) {
    PeerTransfer t;
    t.peer = peer;
    t.offsetBytes = offset;
    t.bytes = static_cast<uint64_t>(rows * batchGroupRowBytes);
    t.count = t.bytes / static_cast<uint64_t>(s.elementBytes);
    return t;
  };

  plan.ranks.resize(static_cast<size_t>(p));
  for (int r = 0; r < p; ++r) {
    UlyssesRankPlan &rp = plan.ranks[static_cast<size_t>(r)];
    rp.rank = r;
    rp.seqBegin = r * plan.localRows;
    rp.validRows = validRows(r);
    rp.headBegin = r * plan.headsPerRank;
    uint64_t sendOffset = 0, recvOffset = 0;
    for (int q = 0; q < p; ++q) {
      // To q: q's head group of my valid rows. From q: my head group of q's rows.
      rp.forwardSend.push_back(piece(q, sendOffset, rp.validRows));
      sendOffset += rp.forwardSend.back().bytes;
      rp.forwardRecv.push_back(piece(q, recvOffset, validRows(q)));
      recvOffset += rp.forwardRecv.back().bytes;
    }
    rp.forwardSendBytes = sendOffset;
    rp.forwardRecvBytes = recvOffset;
  }
  return plan;
}

//===----------------------------------------------------------------------===//
// Zig-zag ring
//===----------------------------------------------------------------------===//

const char *toString(BlockVisibility v) {
  switch (v) {
  case BlockVisibility::Full: return "full";
  case BlockVisibility::CausalDiagonal: return "causal-diagonal";
  case BlockVisibility::Invisible: return "invisible";
  }
  return "unknown";
}

RingPlan planZigZagRing(int64_t seqLen, int64_t worldSize, bool causal) {
  const char *scheme = "ring attention";
  requirePositive(seqLen, "seqLen", scheme);
  requirePositive(worldSize, "worldSize", scheme);
  if (worldSize > (1 << 20))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("ring attention: worldSize = {} is not a plausible number of ranks",
                            worldSize));
  RingPlan plan;
  plan.seqLen = seqLen;
  plan.worldSize = worldSize;
  plan.causal = causal;
  const int64_t chunks = 2 * worldSize;
  plan.chunkRows = seqLen / chunks + (seqLen % chunks != 0);
  plan.paddedSeqLen = plan.chunkRows * chunks;
  plan.padRows = plan.paddedSeqLen - seqLen;
  return plan;
}

std::array<int64_t, 2> RingPlan::rankChunks(int rank) const {
  if (rank < 0 || rank >= worldSize)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("ring attention: rank {} is outside [0, {})", rank, worldSize));
  return {rank, 2 * worldSize - 1 - rank};
}

int64_t RingPlan::chunkValidRows(int64_t chunk) const {
  if (chunk < 0 || chunk >= 2 * worldSize)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("ring attention: chunk {} is outside [0, {})", chunk, 2 * worldSize));
  return std::clamp<int64_t>(seqLen - chunk * chunkRows, 0, chunkRows);
}

RingStep RingPlan::step(int s, int rank) const {
  if (s < 0 || s >= worldSize)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("ring attention: step {} is outside [0, {})", s, worldSize));
  const int p = static_cast<int>(worldSize);
  RingStep st;
  st.step = s;
  st.rank = rank;
  std::array<int64_t, 2> queries = rankChunks(rank);
  st.kvSourceRank = (rank - s + p) % p;
  st.sendTo = (rank + 1) % p;
  st.recvFrom = (rank - 1 + p) % p;
  std::array<int64_t, 2> keys = rankChunks(st.kvSourceRank);
  for (int qi = 0; qi < 2; ++qi) {
    for (int ki = 0; ki < 2; ++ki) {
      RingBlock &b = st.blocks[static_cast<size_t>(2 * qi + ki)];
      b.queryChunk = queries[static_cast<size_t>(qi)];
      b.keyChunk = keys[static_cast<size_t>(ki)];
      if (chunkValidRows(b.queryChunk) == 0 || chunkValidRows(b.keyChunk) == 0)
        b.visibility = BlockVisibility::Invisible;
      else if (!causal || b.keyChunk < b.queryChunk)
        b.visibility = BlockVisibility::Full;
      else if (b.keyChunk == b.queryChunk)
        b.visibility = BlockVisibility::CausalDiagonal;
      else
        b.visibility = BlockVisibility::Invisible;
    }
  }
  return st;
}

} // namespace attnjit

//===- SequenceParallel.h - Layout plans of Ulysses and ring attention -*- C++ -*-===//
//
// Part of attnjit. Pure arithmetic, no CUDA and no NCCL: which rows and heads
// each rank holds, what the all-to-all of Ulysses sends to and receives from
// every peer (bytes and offsets in packed buffers), and which key chunk each
// rank attends to at each step of a zig-zag causal ring. The layers that move
// the data with NCCL (Nccl.h) and run the local attention follow these plans;
// docs/SEQUENCE_PARALLEL.md describes the schemes.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_SEQUENCEPARALLEL_H
#define ATTNJIT_RUNTIME_SEQUENCEPARALLEL_H

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Ulysses
//===----------------------------------------------------------------------===//

/// One contiguous piece of a packed buffer exchanged with `peer` (the rank
/// itself included: NCCL sends to self inside a group like to any peer).
/// `count` is `bytes` in elements, NCCL's unit. A zero-byte piece happens when
/// a peer holds only padding; callers skip it.
struct PeerTransfer {
  int peer = 0;
  uint64_t offsetBytes = 0;
  uint64_t bytes = 0;
  uint64_t count = 0;
};

/// The problem of one Ulysses attention call.
struct UlyssesShape {
  int64_t batch = 0;
  /// Tokens of the sharded sequence over all ranks (the video tokens). When it
  /// is not a multiple of worldSize, the tail of the last rank(s) is padding.
  int64_t seqLen = 0;
  int64_t heads = 0; ///< must be a multiple of worldSize
  int64_t headDim = 0;
  int64_t worldSize = 0;
  /// Tokens present in full on every rank (FastVideo's replicated text
  /// tokens): each rank attends with its own heads of them, joined after the
  /// sequence, and their output is all-gathered over heads.
  int64_t replicatedTokens = 0;
  int64_t elementBytes = 2; ///< 1, 2, 4 or 8
};

/// What one rank holds and exchanges. The forward all-to-all turns
/// q/k/v [B, localRows, H, D] (sequence-sharded; rows past validRows are
/// padding) into [B, attentionRows, H/P, D] (head-sharded): rows
/// [0, seqLen) are the whole sequence without padding, rows
/// [seqLen, seqLen + T) the replicated tokens. Packed buffers, peer outermost:
///   forward send  [P (to q),   B, validRows(r), H/P, D]: heads of group q
///   forward recv  [P (from p), B, validRows(p), H/P, D]: rows seqBegin(p)..
/// The backward all-to-all of the output is the same exchange reversed: it
/// sends the forward-recv layout (forwardRecv's pieces) and receives the
/// forward-send layout (forwardSend's pieces).
struct UlyssesRankPlan {
  int rank = 0;
  int64_t seqBegin = 0;  ///< first global sequence row this rank holds
  int64_t validRows = 0; ///< its real rows; localRows - validRows are padding
  int64_t headBegin = 0; ///< first head this rank owns after the exchange
  std::vector<PeerTransfer> forwardSend; ///< by peer 0..P-1
  std::vector<PeerTransfer> forwardRecv; ///< by peer 0..P-1
  uint64_t forwardSendBytes = 0;         ///< size of the packed send buffer
  uint64_t forwardRecvBytes = 0;         ///< size of the packed recv buffer
};

struct UlyssesPlan {
  UlyssesShape shape;
  int64_t localRows = 0;     ///< ceil(seqLen / P): rows of every rank's buffers
  int64_t paddedSeqLen = 0;  ///< localRows * P
  int64_t padRows = 0;       ///< paddedSeqLen - seqLen, all at the end
  int64_t headsPerRank = 0;  ///< H / P
  int64_t attentionRows = 0; ///< seqLen + replicatedTokens: the local attention's S
  /// Bytes each rank contributes to the all-gather of the replicated tokens'
  /// output ([B, T, H/P, D] packed); the gathered buffer is
  /// [P, B, T, H/P, D], permuted to [B, T, H, D] afterwards. 0 without them.
  uint64_t replicatedGatherBytes = 0;
  std::vector<UlyssesRankPlan> ranks; ///< by rank 0..P-1
};

/// Plans a Ulysses call. Throws Error(InvalidArgument) naming the field for a
/// non-positive size, a negative replicatedTokens, an elementBytes outside
/// {1, 2, 4, 8}, heads not a multiple of worldSize, or sizes whose bytes
/// overflow 64 bits.
UlyssesPlan planUlysses(const UlyssesShape &shape);

//===----------------------------------------------------------------------===//
// Zig-zag ring
//===----------------------------------------------------------------------===//

/// How a query chunk sees a key chunk under the mask.
enum class BlockVisibility {
  Full,           ///< every key row is visible to every query row
  CausalDiagonal, ///< the same chunk: key j is visible to query i iff j <= i
  Invisible,      ///< nothing is visible: the block is skipped
};
const char *toString(BlockVisibility v);

/// One (query chunk, key chunk) block of a rank at a ring step. The rows of
/// chunk c are [c * chunkRows, c * chunkRows + chunkValidRows(c)): padding is
/// at the end of a chunk, so a block runs over a prefix of its chunks.
struct RingBlock {
  int64_t queryChunk = 0;
  int64_t keyChunk = 0;
  BlockVisibility visibility = BlockVisibility::Invisible;
};

/// What rank `rank` does at ring step `step`: it holds the K/V that started on
/// kvSourceRank, attends its two query chunks to that rank's two key chunks
/// (blocks[2 * qi + ki] for its query chunk qi and the source's key chunk ki),
/// and meanwhile sends that K/V on to sendTo and receives the next from
/// recvFrom.
struct RingStep {
  int step = 0;
  int rank = 0;
  int kvSourceRank = 0;
  int sendTo = 0;
  int recvFrom = 0;
  std::array<RingBlock, 4> blocks{};
};

/// Causal ring attention with zig-zag load balancing: the sequence is cut into
/// 2P chunks and rank r holds chunks r and 2P-1-r (queries and, at step 0, keys
/// and values), so that every rank has the same amount of visible work at each
/// step. K/V travel r -> r+1; after P steps every rank has seen every chunk.
/// Without causal every block is Full (the zig-zag order is then harmless).
struct RingPlan {
  int64_t seqLen = 0;
  int64_t worldSize = 0;
  bool causal = true;
  int64_t chunkRows = 0;    ///< ceil(seqLen / 2P)
  int64_t paddedSeqLen = 0; ///< 2P * chunkRows
  int64_t padRows = 0;      ///< at the end of the sequence (last chunks)

  /// The two chunks rank r holds, in its local order: {r, 2P-1-r}.
  std::array<int64_t, 2> rankChunks(int rank) const;
  /// Real rows of chunk c (chunkRows, fewer in the padded tail, possibly 0).
  int64_t chunkValidRows(int64_t chunk) const;
  /// Step `step` (0..P-1) of rank `rank`; throws InvalidArgument outside.
  RingStep step(int step, int rank) const;
};

/// Plans a ring. Throws Error(InvalidArgument) for seqLen < 1 or worldSize < 1.
/// Padding needs no mask under causal: padded keys come after every real
/// query. Without causal, a block uses chunkValidRows of its key chunk.
RingPlan planZigZagRing(int64_t seqLen, int64_t worldSize, bool causal);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_SEQUENCEPARALLEL_H

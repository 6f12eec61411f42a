//===- FlashSm90Recipe.cpp - The sm_90a flash kernel recipe ----------------===//
//
// Part of attnjit.
//
// FlashAttention-3's structure on the sm_90a instruction layer. One CTA
// computes `blockM` = 64 x C query rows of one (batch, head) with C consumer
// warpgroups of 64 rows each and one producer warpgroup:
//
//  - The producer (one thread of warpgroup 0, its registers lowered with
//    setmaxnreg) loads the Q tile once and streams K and V blocks of `blockN`
//    keys with TMA into a `stages`-deep ring of 128B-swizzled shared-memory
//    tiles. Each slot has a "full" mbarrier (TMA transaction bytes) and an
//    "empty" one (every consumer thread arrives once it no longer reads it).
//  - Each consumer warpgroup (registers raised) computes S = Q K^T with wgmma
//    (both operands from shared memory, K-major), the online softmax of
//    OnlineSoftmax.h in the exp2 domain on the accumulator fragment (the same
//    layout as mma.sync's, one 16-row group per warp), packs P to 16 bits and
//    computes O += P V with wgmma taking P from registers and V MN-major from
//    shared memory.
//
// Tiles of head_dim are stored as 64-column panels (one 128-byte swizzled row
// per key); TMA zero fills rows beyond the sequence and columns beyond
// head_dim, so one kernel serves every length. Causal attention aligns the
// last query with the last key, as the sm_80 recipe does; rows without a
// visible key produce zeros and lse = -inf. The output and LSE are stored
// from registers.
//
// Without causal masking the kernel is persistent: the runtime launches at
// most one CTA per SM and each CTA walks the tiles (query block, head, batch)
// blockIdx.x, + gridDim.x, ... in the tile grid's order (query blocks
// fastest). The K/V ring and its barrier phases run on across tiles, and a "Q
// empty" barrier lets the producer load the next tile's Q and first K/V blocks
// while the consumers store this tile's output (head sizes up to 128). With
// causal masking tiles
// differ in cost (the last, heaviest, block of a head goes first), and the
// hardware's dynamic assignment of one CTA per tile balances them better than
// a fixed stride: on the H200 the persistent causal kernel lost 10-33% on the
// PEERS rows while the non-causal one gained up to 8% (docs/PERFORMANCE.md).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/OnlineSoftmax.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Kernels/Sm80Instructions.h"
#include "attnjit/Kernels/Sm90Instructions.h"

#include <fmt/format.h>

#include <cassert>
#include <optional>

using namespace mlir;

namespace attnjit::kernels {
namespace {

/// Bytes of one swizzled panel row: 64 16-bit elements.
constexpr int kPanelRowBytes = kFlashTmaBoxCols * 2;
/// Rows of one consumer warpgroup's tile (wgmma's M).
constexpr int kWgRows = 64;

struct Sm90Geometry {
  int headDim = 0;
  int panels = 0; ///< 64-column panels of head_dim
  int blockM = 0, blockN = 0, stages = 0, numWarps = 0;
  int consumers = 0; ///< consumer warpgroups
  int threads = 0;
  int qPanelBytes = 0, kvPanelBytes = 0;
  int qBytes = 0, kvStageBytes = 0;
  int kOff = 0, vOff = 0, barOff = 0, smemBytes = 0;
  /// Register budgets after setmaxnreg (0: not used).
  int producerRegs = 0, consumerRegs = 0;

  static std::string compute(const AttentionSpec &spec, Sm90Geometry &g);
};

/// Whether the kernel walks tiles persistently (see the file comment). Only
/// up to d = 128: at d = 256 the persistent kernel measured the same as one
/// CTA per tile on the H200 while spilling 136 bytes.
bool persistent(const AttentionSpec &spec) { return !spec.causal && spec.headDim <= 128; }

KernelConfig flashSm90Config(const AttentionSpec &spec) {
  KernelConfig c = spec.config;
  // Two consumer warpgroups of 64 rows; key blocks as wide as the register
  // file allows next to the d / 2 accumulators of O per thread. From H200
  // sweeps (docs/PERFORMANCE.md): at d <= 128, 128-key blocks beat 64..192
  // and a third stage gains nothing; at d = 256, 80 keys beat 48 and 64
  // by 3% without masking (spilling 36 bytes) and tie with causal masking
  // (spilling 116), so causal kernels keep 64.
  int d = spec.headDim;
  int wideN = spec.causal ? 64 : 80;
  KernelConfig def{128, d <= 128 ? 128 : d <= 192 ? 96 : wideN, 12, 2};
  if (c.blockM == 0) c.blockM = def.blockM;
  if (c.blockN == 0) c.blockN = def.blockN;
  if (c.numWarps == 0) c.numWarps = def.numWarps;
  if (c.stages == 0) c.stages = def.stages;
  return c;
}

std::string Sm90Geometry::compute(const AttentionSpec &spec, Sm90Geometry &g) {
  const KernelConfig &c = spec.config;
  if (!c.isComplete())
    return "config: incomplete (" + c.str() + ")";
  if (spec.variant != Variant::Flash)
    return fmt::format("variant: the sm_90a recipe emits flash kernels, got {}",
                       toString(spec.variant));
  if (spec.dtype != DType::F16 && spec.dtype != DType::BF16)
    return fmt::format("dtype: the sm_90a recipe supports f16 and bf16, got {}",
                       toString(spec.dtype));
  if (spec.headDim < 16 || spec.headDim > 256 || spec.headDim % 16 != 0)
    return fmt::format("head_dim: the sm_90a recipe needs a multiple of 16 in 16..256, got {}",
                       spec.headDim);
  g.headDim = spec.headDim;
  g.panels = (spec.headDim + kFlashTmaBoxCols - 1) / kFlashTmaBoxCols;
  g.blockM = c.blockM;
  g.blockN = c.blockN;
  g.stages = c.stages;
  g.numWarps = c.numWarps;
  if (c.blockM % kWgRows != 0 || c.blockM < kWgRows || c.blockM > 3 * kWgRows)
    return fmt::format("config: block_m must be 64, 128 or 192 (64 rows per consumer "
                       "warpgroup), got {}",
                       c.blockM);
  g.consumers = c.blockM / kWgRows;
  if (c.numWarps != 4 * (g.consumers + 1))
    return fmt::format("config: block_m {} takes {} consumer warpgroups and one producer, so "
                       "warps must be {}, got {}",
                       c.blockM, g.consumers, 4 * (g.consumers + 1), c.numWarps);
  if (c.blockN % 16 != 0 || c.blockN < 16 || c.blockN > 256)
    return fmt::format("config: block_n must be a multiple of 16 in 16..256, got {}", c.blockN);
  if (c.stages < 2 || c.stages > 4)
    return fmt::format("config: stages must be 2..4, got {}", c.stages);
  g.threads = 32 * c.numWarps;
  g.qPanelBytes = c.blockM * kPanelRowBytes;
  g.kvPanelBytes = c.blockN * kPanelRowBytes;
  g.qBytes = g.qPanelBytes * g.panels;
  g.kvStageBytes = g.kvPanelBytes * g.panels;
  g.kOff = g.qBytes;
  g.vOff = g.kOff + c.stages * g.kvStageBytes;
  g.barOff = g.vOff + c.stages * g.kvStageBytes;
  // Barriers: q full, q empty, then per slot k full, k empty, v full, v empty.
  g.smemBytes = g.barOff + 8 * (2 + 4 * c.stages);
  if (int limit = archMaxSharedBytes(spec.arch); limit > 0 && g.smemBytes > limit)
    return fmt::format("config: {} needs {} bytes of shared memory, {} allows at most {}",
                       c.str(), g.smemBytes, spec.arch, limit);
  // 65536 registers per SM: the producer warpgroup gives most of its share
  // to the consumers (multiples of 8; 40 + 2 x 232 and 32 + 3 x 160 warpgroups
  // of 128 threads fit).
  if (g.consumers == 2) {
    g.producerRegs = 40;
    g.consumerRegs = 232;
  } else if (g.consumers == 3) {
    g.producerRegs = 32;
    g.consumerRegs = 160;
  }
  return {};
}

class FlashSm90Emitter : public KernelBuilder {
public:
  FlashSm90Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const Sm90Geometry &g)
      : KernelBuilder(b, loc), spec(spec), g(g), sm80(*this), sm90(*this),
        at{*this, AccFragment{1, g.blockN / 8}, Value(), Value(), Value(), g.blockN} {
    elt = spec.dtype == DType::F16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
    wgType = spec.dtype == DType::F16 ? WgmmaOperand::F16 : WgmmaOperand::BF16;
  }

  gpu::GPUFuncOp emit(gpu::GPUModuleOp module);

private:
  Value bar(int off, Value slot = Value()) {
    Value o = ci32(g.barOff + off);
    if (slot)
      o = add(o, mul(slot, ci32(8)));
    return gepS(o);
  }
  Value qFull() { return bar(0); }
  Value qEmpty() { return bar(8); }
  Value kFull(Value s) { return bar(16, s); }
  Value kEmpty(Value s) { return bar(16 + 8 * g.stages, s); }
  Value vFull(Value s) { return bar(16 + 16 * g.stages, s); }
  Value vEmpty(Value s) { return bar(16 + 24 * g.stages, s); }
  /// Ring slot and phase of this tile's key block n: the ring runs on across
  /// tiles, so its position is kvBase + n.
  Value slotOf(Value n) { return remui(add(kvBase, n), g.stages); }
  Value phaseOf(Value n) { return andi(divui(add(kvBase, n), g.stages), 1); }
  Value kSlot(Value s) { return add(ci32(g.kOff), mul(s, ci32(g.kvStageBytes))); }
  Value vSlot(Value s) { return add(ci32(g.vOff), mul(s, ci32(g.kvStageBytes))); }

  /// Sets the tile's values (head, batch, kvHead, m0, nEnd, nNoMask) for tile t.
  void computeTile(Value t);
  /// Runs `body` for each tile of this CTA, with the tile's values set,
  /// tileIter (tiles this CTA walked before) and kvBase (their key blocks).
  void forEachTile(function_ref<void()> body);
  void emitProducer(const KernelFunction &fn);
  void emitConsumer(const KernelFunction &fn);
  void emitConsumerTile(const KernelFunction &fn);
  /// Waits for K block n and issues S = Q K_n^T as one wgmma group; returns
  /// the accumulators (valid after the group's wait).
  SmallVector<Value> issueQK(Value n);
  /// Waits for V block n and issues O += P V_n as one wgmma group.
  void issuePV(Value n, ArrayRef<Value> p, SmallVector<Value> &acc, bool first);
  /// Masks (when `masked`) and exponentiates S_n; returns P packed to 16-bit
  /// pairs and, in `factor`, the rescale factor of O per row slot.
  SmallVector<Value> softmaxBlock(Value n, bool masked, SmallVector<Value> &s,
                                  SmallVector<Value> &rowMax, SmallVector<Value> &rowSum,
                                  SmallVector<Value> &factor);
  /// This consumer warpgroup's turn to issue MMAs: waits for it, and hands
  /// it to the next group (named barrier 1 + g gates group g; with one group
  /// there are no turns).
  /// The P V operand: pairs of fp32 P (softmaxBlock's) packed to 16 bits.
  SmallVector<Value> packP(ArrayRef<Value> p);
  void turnBegin();
  void turnEnd();

  const AttentionSpec &spec;
  const Sm90Geometry &g;
  Sm80Instructions sm80;
  Sm90Instructions sm90;
  FragmentCoords at;
  std::optional<OnlineSoftmax> softmax;
  Type elt;
  WgmmaOperand wgType;

  Value tid, seqQ, seqK, causalOffset, scaleLog2, numHeads, numMBlocks, numTiles;
  /// The current tile's.
  Value head, batch, kvHead, m0, nEnd, nNoMask, tileIter, kvBase;
  const KernelFunction *kernelFn = nullptr;
  Value qAddr, smemAddr; ///< shared-window addresses (i32)
  Value cgroup;          ///< consumer warpgroup (0 or 1)
};

void FlashSm90Emitter::emitProducer(const KernelFunction &fn) {
  if (g.producerRegs)
    sm90.setMaxRegisters(g.producerRegs, /*increase=*/false);
  ifThen(cmpi(arith::CmpIPredicate::eq, tid, ci32(0)), [&] {
    forEachTile([&] {
      // Q's buffer is free once the consumers' last Q K^T of the previous tile completed.
      ifThen(cmpi(arith::CmpIPredicate::sge, tileIter, ci32(1)),
             [&] { sm90.mbarrierWait(qEmpty(), andi(sub(tileIter, ci32(1)), 1)); });
      sm90.mbarrierArriveExpectTx(qFull(), ci32(g.qBytes));
      for (int p = 0; p < g.panels; ++p)
        sm90.tmaLoad(gepS(ci32(p * g.qPanelBytes)), fn.arg("tm_q"),
                     {ci32(p * kFlashTmaBoxCols), m0, head, batch}, qFull());
      auto forOp = scf::ForOp::create(b, loc, ci32(0), nEnd, ci32(1));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(forOp.getBody());
      Value n = forOp.getInductionVar();
      Value pos = add(kvBase, n);
      Value slot = slotOf(n);
      Value reuse = cmpi(arith::CmpIPredicate::sge, pos, ci32(g.stages));
      // The phase of the slot's previous round, which the consumers released.
      Value prevParity = andi(sub(divui(pos, g.stages), ci32(1)), 1);
      Value key0 = mul(n, ci32(g.blockN));
      auto load = [&](Value full, Value empty, Value tile, const char *map) {
        ifThen(reuse, [&] { sm90.mbarrierWait(empty, prevParity); });
        sm90.mbarrierArriveExpectTx(full, ci32(g.kvStageBytes));
        for (int p = 0; p < g.panels; ++p)
          sm90.tmaLoad(gepS(add(tile, ci32(p * g.kvPanelBytes))), fn.arg(map),
                       {ci32(p * kFlashTmaBoxCols), key0, kvHead, batch}, full);
      };
      load(kFull(slot), kEmpty(slot), kSlot(slot), "tm_k");
      load(vFull(slot), vEmpty(slot), vSlot(slot), "tm_v");
    });
  });
}

SmallVector<Value> FlashSm90Emitter::issueQK(Value n) {
  Value slot = slotOf(n);
  sm90.mbarrierWait(kFull(slot), phaseOf(n));
  // K-major operands, 16 columns of head_dim per wgmma: a k step moves 32
  // bytes within the swizzled row, a 64-column panel to the next panel.
  Value kAddr = add(smemAddr, kSlot(slot));
  SmallVector<Value> s(g.blockN / 2, cf32(0.0));
  for (int ks = 0; ks < g.headDim / 16; ++ks) {
    int inPanel = (ks % 4) * 32;
    Value descA = sm90.wgmmaDescriptor(add(qAddr, ci32((ks / 4) * g.qPanelBytes + inPanel)), 16,
                                       1024, SmemSwizzle::Swizzle128B);
    Value descB = sm90.wgmmaDescriptor(add(kAddr, ci32((ks / 4) * g.kvPanelBytes + inPanel)), 16,
                                       1024, SmemSwizzle::Swizzle128B);
    sm90.wgmma(wgType, g.blockN, descA, descB, s, /*accumulate=*/ks > 0);
  }
  sm90.wgmmaCommit();
  return s;
}

void FlashSm90Emitter::issuePV(Value n, ArrayRef<Value> p, SmallVector<Value> &acc, bool first) {
  Value slot = slotOf(n);
  sm90.mbarrierWait(vFull(slot), phaseOf(n));
  // P in mma.sync's A layout; V MN-major (head_dim contiguous): 64-column
  // panels blockN * 128 bytes apart (leading byte offset), 8-key groups 1024
  // bytes apart (stride byte offset); a k step is 16 keys.
  Value vAddr = add(smemAddr, vSlot(slot));
  for (int ks = 0; ks < g.blockN / 16; ++ks) {
    SmallVector<Value, 4> a = {p[(2 * ks) * 2 + 0], p[(2 * ks) * 2 + 1], p[(2 * ks + 1) * 2 + 0],
                               p[(2 * ks + 1) * 2 + 1]};
    Value descB = sm90.wgmmaDescriptor(add(vAddr, ci32(ks * 16 * kPanelRowBytes)),
                                       g.kvPanelBytes, 1024, SmemSwizzle::Swizzle128B);
    sm90.wgmmaRegA(wgType, g.headDim, a, descB, acc, /*transB=*/true,
                   /*accumulate=*/!(first && ks == 0));
  }
  sm90.wgmmaCommit();
}

SmallVector<Value> FlashSm90Emitter::softmaxBlock(Value n, bool masked, SmallVector<Value> &s,
                                                  SmallVector<Value> &rowMax,
                                                  SmallVector<Value> &rowSum,
                                                  SmallVector<Value> &factor) {
  if (masked) {
    maskColumnsFrom(*this, at, n, s, [&](int r) {
      Value limit = seqK;
      if (spec.causal)
        limit = minsi(limit, add(add(at.row(r), ci32(1)), causalOffset));
      return limit;
    });
  }
  SmallVector<Value> blockMax = softmax->blockMax(s, rowMax);
  factor = softmax->rescaleDeferred(blockMax, rowMax, rowSum);
  // P in fp32, pairs in the order packP packs them.
  SmallVector<Value> p(g.blockN / 2);
  softmax->exponentiate(s, rowMax, rowSum, [&](int r, int j, Value(&e)[2]) {
    p[(j * 2 + r) * 2] = e[0];
    p[(j * 2 + r) * 2 + 1] = e[1];
  });
  return p;
}

SmallVector<Value> FlashSm90Emitter::packP(ArrayRef<Value> p) {
  SmallVector<Value> packed;
  for (size_t i = 0; i < p.size(); i += 2)
    packed.push_back(sm80.pack2(elt, p[i], p[i + 1]));
  return packed;
}

void FlashSm90Emitter::turnBegin() {
  if (g.consumers > 1)
    sm90.namedBarrierSync(add(ci32(1), cgroup), 256);
}

void FlashSm90Emitter::turnEnd() {
  if (g.consumers > 1)
    sm90.namedBarrierArrive(add(ci32(1), remui(add(cgroup, ci32(1)), g.consumers)), 256);
}

void FlashSm90Emitter::emitConsumer(const KernelFunction &fn) {
  if (g.consumerRegs)
    sm90.setMaxRegisters(g.consumerRegs, /*increase=*/true);
  Value lane = andi(tid, 31);
  Value cwarp = sub(shrui(tid, 5), ci32(4)); // 0 .. 4 * consumers - 1
  cgroup = shrui(cwarp, 2);
  at.lane = lane;
  at.warp = cwarp;
  qAddr = add(smemAddr, mul(cgroup, ci32(kWgRows * kPanelRowBytes)));

  // The schedule (FlashAttention-3's): block n's S = Q K^T is issued with
  // block n - 1's O += P V; the softmax of S_n runs while P V is in flight,
  // and O takes S_n's rescale factor once P V completed. The two consumer
  // warpgroups take turns issuing their MMAs (named barriers 1 and 2), so one
  // group's softmax overlaps the other's MMAs; the second group lets the
  // first go first.
  // The groups issue in turn 0, 1, .., C - 1, 0, ..; the last group lets the
  // first go first. All groups take the same number of turns in every tile,
  // so the order carries over from tile to tile.
  if (g.consumers > 1)
    ifThen(cmpi(arith::CmpIPredicate::eq, cgroup, ci32(g.consumers - 1)),
           [&] { sm90.namedBarrierArrive(ci32(1), 256); });
  forEachTile([&] { emitConsumerTile(fn); });
}

void FlashSm90Emitter::emitConsumerTile(const KernelFunction &fn) {
  const int DT = g.headDim / 8;
  at.m0 = m0;
  sm90.mbarrierWait(qFull(), andi(tileIter, 1));
  SmallVector<Value> init(DT * 4, cf32(0.0));
  init.push_back(negInf());
  init.push_back(negInf());
  init.push_back(cf32(0.0));
  init.push_back(cf32(0.0));
  auto unpack = [&](ValueRange it, SmallVector<Value> &acc, SmallVector<Value> &rowMax,
                    SmallVector<Value> &rowSum) {
    acc.assign(it.begin(), it.begin() + DT * 4);
    rowMax.assign(it.begin() + DT * 4, it.begin() + DT * 4 + 2);
    rowSum.assign(it.begin() + DT * 4 + 2, it.begin() + DT * 4 + 4);
  };
  auto pack = [&](ArrayRef<Value> acc, ArrayRef<Value> rowMax, ArrayRef<Value> rowSum,
                  ArrayRef<Value> p) {
    SmallVector<Value> v(acc.begin(), acc.end());
    v.append(rowMax.begin(), rowMax.end());
    v.append(rowSum.begin(), rowSum.end());
    v.append(p.begin(), p.end());
    return v;
  };

  auto hasBlocks = scf::IfOp::create(b, loc, TypeRange(ValueRange(init)),
                                     cmpi(arith::CmpIPredicate::sgt, nEnd, ci32(0)), true);
  {
    OpBuilder::InsertionGuard g1(b);
    b.setInsertionPointToStart(&hasBlocks.getThenRegion().front());
    // Block 0: S only (always masked: it may be the last block too).
    SmallVector<Value> acc, rowMax, rowSum, factor;
    unpack(init, acc, rowMax, rowSum);
    turnBegin();
    sm90.wgmmaFence();
    SmallVector<Value> s = issueQK(ci32(0));
    turnEnd();
    sm90.wgmmaWait(0);
    sm90.fenceOperands(s);
    sm90.mbarrierArrive(kEmpty(slotOf(ci32(0))));
    SmallVector<Value> p0 =
        packP(softmaxBlock(ci32(0), /*masked=*/true, s, rowMax, rowSum, factor));

    // One step n >= 1: S_n = Q K_n^T issued with O += P_{n-1} V_{n-1}, the
    // softmax of S_n while P V is in flight, then O takes S_n's factor.
    // `firstPV`: block 0's P V, which starts O (scale-d 0) instead of adding
    // to zeros: zeros would be moves that define the accumulators inside the
    // tile loop, and ptxas serializes every wgmma of a kernel whose wgmma
    // inputs are defined by other instructions within a pipeline stage
    // (C7513).
    auto step = [&](Value n, bool masked, bool firstPV, ValueRange it) -> SmallVector<Value> {
      SmallVector<Value> acc, rowMax, rowSum, factor;
      unpack(it, acc, rowMax, rowSum);
      SmallVector<Value> pPrev(it.begin() + DT * 4 + 4, it.end());
      Value prev = sub(n, ci32(1));
      turnBegin();
      sm90.wgmmaFence();
      SmallVector<Value> s = issueQK(n);
      issuePV(prev, pPrev, acc, firstPV);
      turnEnd();
      sm90.wgmmaWait(1);
      sm90.fenceOperands(s);
      sm90.mbarrierArrive(kEmpty(slotOf(n)));
      SmallVector<Value> pf = softmaxBlock(n, masked, s, rowMax, rowSum, factor);
      SmallVector<Value> p;
      const bool latePack = persistent(spec) && masked && !firstPV;
      if (!latePack)
        p = packP(pf);
      sm90.wgmmaWait(0);
      sm90.fenceOperands(acc);
      sm90.fenceOperands(pPrev); // P of block n - 1 stays allocated until here
      // P of block n is packed only now, into the registers P of block n - 1
      // just freed: packed earlier, it would live beside them and be copied
      // into them in the loop latch, a move that ptxas counts as defining a
      // wgmma input within a pipeline stage, serializing every wgmma (C7513).
      if (latePack) {
        sm90.fenceOperands(pf);
        p = packP(pf);
      }
      sm90.mbarrierArrive(vEmpty(slotOf(prev)));
      softmax->scaleRows(factor, acc);
      return pack(acc, rowMax, rowSum, p);
    };
    auto emitLoop = [&](Value lb, Value ub, bool masked, ValueRange state) -> SmallVector<Value> {
      auto forOp = scf::ForOp::create(b, loc, lb, ub, ci32(1), state);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(forOp.getBody());
      scf::YieldOp::create(b, loc,
                           step(forOp.getInductionVar(), masked, false, forOp.getRegionIterArgs()));
      return SmallVector<Value>(forOp.getResults());
    };
    // The last block's P V (the first, when it is block 0).
    auto lastPV = [&](ValueRange state, bool firstPV) {
      SmallVector<Value> acc, rowMax, rowSum;
      unpack(state, acc, rowMax, rowSum);
      SmallVector<Value> pLast(state.begin() + DT * 4 + 4, state.end());
      Value last = sub(nEnd, ci32(1));
      turnBegin();
      sm90.wgmmaFence();
      issuePV(last, pLast, acc, firstPV);
      turnEnd();
      sm90.wgmmaWait(0);
      sm90.fenceOperands(acc);
      sm90.fenceOperands(pLast);
      sm90.mbarrierArrive(vEmpty(slotOf(last)));
      return pack(acc, rowMax, rowSum, {});
    };

    SmallVector<Value> state0 = pack(acc, rowMax, rowSum, p0);
    if (!persistent(spec)) {
      // One tile per CTA: O starts from zeros, blocks 1.. run in an unmasked
      // then a masked loop.
      Value mid = maxsi(nNoMask, ci32(1));
      SmallVector<Value> state = emitLoop(ci32(1), mid, /*masked=*/false, state0);
      state = emitLoop(mid, nEnd, /*masked=*/true, state);
      scf::YieldOp::create(b, loc, lastPV(state, /*firstPV=*/false));
    } else {
      // Persistent: zeros for O would be moves inside the tile loop, which
      // ptxas counts against the wgmma pipeline (C7513); instead block 1 is
      // peeled (masked: it may be the last block), so that block 0's P V is
      // issued with scale-d 0 in one place; blocks 2.. run in an unmasked
      // then a masked loop.
      auto oneBlock = scf::IfOp::create(b, loc, TypeRange(ValueRange(init)),
                                        cmpi(arith::CmpIPredicate::eq, nEnd, ci32(1)), true);
      {
        OpBuilder::InsertionGuard g3(b);
        b.setInsertionPointToStart(&oneBlock.getThenRegion().front());
        scf::YieldOp::create(b, loc, lastPV(state0, /*firstPV=*/true));
        b.setInsertionPointToStart(&oneBlock.getElseRegion().front());
        SmallVector<Value> state = step(ci32(1), /*masked=*/true, /*firstPV=*/true, state0);
        Value mid = maxsi(nNoMask, ci32(2));
        state = emitLoop(ci32(2), mid, /*masked=*/false, state);
        state = emitLoop(mid, nEnd, /*masked=*/true, state);
        scf::YieldOp::create(b, loc, lastPV(state, /*firstPV=*/false));
      }
      scf::YieldOp::create(b, loc, SmallVector<Value>(oneBlock.getResults()));
    }

    b.setInsertionPointToStart(&hasBlocks.getElseRegion().front());
    scf::YieldOp::create(b, loc, init);
  }
  SmallVector<Value> state(hasBlocks.getResults());
  // Every Q K^T of this tile completed: the producer may load the next Q.
  sm90.mbarrierArrive(qEmpty());

  // Epilogue: normalize and store O (two 16-bit columns per store) and LSE.
  auto headBase = [&](const char *ptr, const char *bs, const char *hs) {
    Value off = arith::AddIOp::create(b, loc, mul(ext64(batch), fn.arg(bs)),
                                      mul(ext64(head), fn.arg(hs)));
    return gepG(fn.arg(ptr), mul(off, ci64(2)));
  };
  Value oBase = headBase("o", "o_batch_stride", "o_head_stride");
  for (int half = 0; half < 2; ++half) {
    OnlineSoftmax::RowTotal total = softmax->finish(state[DT * 4 + 2 + half]);
    Value row = at.row(half);
    ifThen(cmpi(arith::CmpIPredicate::slt, row, seqQ), [&] {
      Value rowPtr = gepG(oBase, mul(mul(ext64(row), fn.arg("o_row_stride")), ci64(2)));
      Value colBase = mul(andi(at.lane, 3), ci32(2));
      for (int d = 0; d < DT; ++d) {
        Value o0 = fmul(state[d * 4 + half * 2 + 0], total.inv);
        Value o1 = fmul(state[d * 4 + half * 2 + 1], total.inv);
        Value col = add(colBase, ci32(d * 8));
        LLVM::StoreOp::create(b, loc, sm80.pack2(elt, o0, o1),
                              gepG(rowPtr, ext64(mul(col, ci32(2)))), 4);
      }
      if (spec.returnLse) {
        ifThen(cmpi(arith::CmpIPredicate::eq, andi(at.lane, 3), ci32(0)), [&] {
          Value lse = softmax->logSumExp(state[DT * 4 + half], total, scaleLog2);
          Value idx = arith::AddIOp::create(
              b, loc,
              mul(add(mul(ext64(batch), ext64(fn.arg("num_heads"))), ext64(head)), ext64(seqQ)),
              ext64(row));
          LLVM::StoreOp::create(b, loc, lse, gepG(fn.arg("lse"), mul(idx, ci64(4))), 4);
        });
      }
    });
  }
}

void FlashSm90Emitter::computeTile(Value t) {
  // Query blocks fastest, then heads, then batch entries: neighbouring CTAs
  // share K and V in L2. Causal: a head's last (heaviest) query block first.
  Value mIdx = arith::RemUIOp::create(b, loc, t, numMBlocks);
  Value bh = arith::DivUIOp::create(b, loc, t, numMBlocks);
  head = arith::RemUIOp::create(b, loc, bh, numHeads);
  batch = arith::DivUIOp::create(b, loc, bh, numHeads);
  Value mBlock = spec.causal ? sub(sub(numMBlocks, ci32(1)), mIdx) : mIdx;
  m0 = mul(mBlock, ci32(g.blockM));
  kvHead = arith::DivUIOp::create(b, loc, head, kernelFn->arg("head_ratio"));

  // Key blocks of this tile: [0, nEnd); from nNoMask on they need masking.
  Value nBlocksK = arith::CeilDivSIOp::create(b, loc, seqK, ci32(g.blockN));
  nNoMask = arith::DivSIOp::create(b, loc, seqK, ci32(g.blockN));
  nEnd = nBlocksK;
  if (spec.causal) {
    Value lastRow = minsi(add(m0, ci32(g.blockM)), seqQ);
    Value causalEnd =
        arith::CeilDivSIOp::create(b, loc, add(lastRow, causalOffset), ci32(g.blockN));
    nEnd = maxsi(minsi(nEnd, causalEnd), ci32(0));
    Value causalNoMask =
        arith::FloorDivSIOp::create(b, loc, add(add(m0, causalOffset), ci32(1)), ci32(g.blockN));
    nNoMask = minsi(nNoMask, causalNoMask);
  }
  nNoMask = maxsi(minsi(nNoMask, nEnd), ci32(0));
}

void FlashSm90Emitter::forEachTile(function_ref<void()> body) {
  if (!persistent(spec)) {
    // One tile per CTA: grid (query blocks, heads, batch), as the tile grid
    // orders them.
    Value bh = add(blockId(gpu::Dimension::y), mul(blockId(gpu::Dimension::z), numHeads));
    tileIter = ci32(0);
    kvBase = ci32(0);
    computeTile(add(blockId(gpu::Dimension::x), mul(bh, numMBlocks)));
    body();
    return;
  }
  auto forOp = scf::ForOp::create(b, loc, blockId(gpu::Dimension::x), numTiles,
                                  gridDim(gpu::Dimension::x), ValueRange{ci32(0), ci32(0)});
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(forOp.getBody());
  tileIter = forOp.getRegionIterArgs()[0];
  kvBase = forOp.getRegionIterArgs()[1];
  computeTile(forOp.getInductionVar());
  body();
  scf::YieldOp::create(b, loc, ValueRange{add(tileIter, ci32(1)), add(kvBase, nEnd)});
}

gpu::GPUFuncOp FlashSm90Emitter::emit(gpu::GPUModuleOp module) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  std::string smemName = spec.kernelName() + "_smem";
  declareDynamicSmem(smemName, 1024);

  SmallVector<AbiParam> params(std::begin(kFlashParams), std::end(kFlashParams));
  params.append(std::begin(kFlashSm90Params), std::end(kFlashSm90Params));
  KernelFunction kfn = createKernel(module, spec.kernelName(), params, g.threads);
  kernelFn = &kfn;
  auto arg = [&](const char *name) { return kfn.arg(name); };

  bindDynamicSmem(smemName);
  smemAddr = sm90.sharedAddress(smemBase);
  tid = threadIdX();
  seqQ = arg("seqlen_q");
  seqK = arg("seqlen_k");
  scaleLog2 = arg("scale_log2");
  numHeads = arg("num_heads");
  causalOffset = sub(seqK, seqQ);
  numMBlocks = arith::CeilDivSIOp::create(b, loc, seqQ, ci32(g.blockM));
  numTiles = mul(mul(numMBlocks, numHeads), arg("num_batch"));
  softmax.emplace(*this, at.frag, AccFragment{1, g.headDim / 8}, scaleLog2);

  // Barriers, initialized by one thread and made visible to TMA and the CTA.
  ifThen(cmpi(arith::CmpIPredicate::eq, tid, ci32(0)), [&] {
    sm90.mbarrierInit(qFull(), 1);
    sm90.mbarrierInit(qEmpty(), 128 * g.consumers);
    for (int st = 0; st < g.stages; ++st) {
      Value s = ci32(st);
      sm90.mbarrierInit(kFull(s), 1);
      sm90.mbarrierInit(vFull(s), 1);
      sm90.mbarrierInit(kEmpty(s), 128 * g.consumers);
      sm90.mbarrierInit(vEmpty(s), 128 * g.consumers);
    }
    sm90.fenceMbarrierInit();
  });
  sm80.barrier();

  Value isProducer = cmpi(arith::CmpIPredicate::ult, tid, ci32(128));
  auto ifOp = scf::IfOp::create(b, loc, isProducer, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    emitProducer(kfn);
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    emitConsumer(kfn);
  }
  gpu::ReturnOp::create(b, loc);
  return kfn.func;
}

class FlashSm90Recipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "flash-sm90a"; }
  bool servesVariant(Variant v) const override { return v == Variant::Flash; }
  int minCapability() const override { return 90; }
  /// wgmma and setmaxnreg exist only on sm_90a.
  bool servesArch(std::string_view arch) const override { return arch == "sm_90a"; }
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    return flashSm90Config(spec);
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    Sm90Geometry g;
    if (std::string err = Sm90Geometry::compute(spec, g); !err.empty())
      return err;
    out.threads = g.threads;
    out.sharedMemBytes = g.smemBytes;
    out.rowsPerCta = g.blockM;
    out.tensorMaps = true;
    out.ctasPerSm = persistent(spec) ? 1 : 0;
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    Sm90Geometry g;
    std::string err = Sm90Geometry::compute(spec, g);
    assert(err.empty() && "emit() after a failed launch()");
    (void)err;
    FlashSm90Emitter(b, loc, spec, g).emit(module);
  }
};

} // namespace

const KernelRecipe &flashSm90Recipe() {
  static const FlashSm90Recipe recipe;
  return recipe;
}

} // namespace attnjit::kernels

//===- FlashSm80Recipe.cpp - The sm_80+ flash and SDPA kernel recipe -------===//
//
// Part of attnjit.
//
// FlashAttention-2's structure on the sm_80 instruction layer; runs on every
// sm_80+ GPU. One CTA computes `blockM` query rows of one (batch, head). Each
// warp owns `mTilesPerWarp` 16-row MMA tiles. Q is copied to shared memory
// once; K and V blocks of `blockN` keys stream through a `stages`-deep
// cp.async ring. Per key block: S = Q K^T (ldmatrix + mma.sync m16n8k16, fp32
// accumulators), the online softmax (OnlineSoftmax.h) in the exp2 domain, P
// (packed to 16-bit in registers; the accumulator layout of S equals the
// A-operand layout of the next MMA) times V (ldmatrix.trans). Shared-memory
// rows are XOR-swizzled (SharedLayout.h) so that ldmatrix and cp.async are free
// of bank conflicts.
//
// Sequence lengths, batch, heads and strides are kernel parameters
// (FlashKernelABI.h); tails are handled with zero-filling cp.async and masking,
// so one kernel serves every shape. Causal attention aligns the last query with
// the last key (FlashAttention-2's convention): key j is visible to query i iff
// j <= i + Sk - Sq. Rows with no visible key produce zeros and lse = -inf.
//
// SDPA kernels are this recipe with padded head sizes, narrower global accesses
// where rows are not 16-byte multiples, top-left causal alignment and the
// score modifications of SdpaScoreMods.h (bool or additive masks, Philox
// dropout). f32 SDPA inputs are split into bf16 hi and lo planes and each
// product takes three MMAs (docs/SDPA.md).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/OnlineSoftmax.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Kernels/SdpaScoreMods.h"
#include "attnjit/Kernels/SharedLayout.h"
#include "attnjit/Kernels/Sm80Instructions.h"
#include "attnjit/Core/SdpaKernelABI.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <fmt/format.h>

#include <cassert>
#include <numeric>
#include <optional>
#include <tuple>

using namespace mlir;

namespace attnjit::kernels {
namespace {

//===----------------------------------------------------------------------===//
// Geometry and config table
//===----------------------------------------------------------------------===//

/// Static shape of one kernel: tile sizes and the shared-memory plan.
struct FlashGeometry {
  int headDim = 0;     ///< padded to a multiple of 16 (the MMA k width)
  int realHeadDim = 0; ///< the spec's head_dim; columns beyond it are zero in shared memory
  int eltBytes = 2;
  int accessBytes = 16; ///< bytes per global access of a row (sdpaAccessBytes)
  int smemPitch = 0;   ///< elements per shared-memory row (>= headDim, swizzle-friendly)
  int blockM = 0, blockN = 0, numWarps = 0, stages = 0;
  int mTilesPerWarp = 0; ///< 16-row MMA tiles each warp owns
  int threads = 0;
  int planes = 1; ///< 2 for f32 inputs: bf16 hi and lo planes per tile
  int qPlaneBytes = 0, kvPlaneBytes = 0;
  int qBytes = 0, kvTileBytes = 0, smemBytes = 0;

  /// Computes the geometry; returns a message naming the problem when the
  /// config cannot be used (empty on success).
  static std::string compute(const AttentionSpec &spec, FlashGeometry &out);
};

/// head_dim rounded up to a multiple of 16: SDPA head sizes are padded in
/// registers and shared memory (zero-filled), never in the caller's tensors.
int paddedHeadDim(const AttentionSpec &spec) { return (spec.headDim + 15) / 16 * 16; }

/// The config table (from H100 sweeps, docs/PERFORMANCE.md).
KernelConfig flashSm80Config(const AttentionSpec &spec) {
  KernelConfig c = spec.config;
  int d = paddedHeadDim(spec);
  KernelConfig def;
  // f32 tiles hold two bf16 planes (twice the shared memory): narrower key
  // blocks keep them within an A100's 163 KB.
  bool f32 = spec.dtype == DType::F32;
  // From H100 sweeps (docs/PERFORMANCE.md). The limit is the register file:
  // every config keeps O (block_m / warps x d fp32 per warp) in registers,
  // and S plus the masking state of a key block on top of it. SDPA kernels
  // that read a mask value or a random word per score ("heavy": a full
  // [.., Sq, Sk] mask or dropout) need narrower key blocks than flash.
  const bool heavy = spec.variant == Variant::Sdpa &&
                     ((spec.maskKind != MaskKind::None && !spec.maskPerKey) || spec.dropout);
  if (d <= 64)
    def = heavy && (spec.causal || spec.dropout) ? KernelConfig{128, 32, 4, 2}
                                                 : KernelConfig{128, 64, 4, 2};
  else if (d <= 128) {
    // Two 16-row m-tiles per warp halve the K/V shared-memory reads per MMA
    // (8 warps x 1 m-tile were bound by shared-memory bandwidth). At d=128,
    // 64-key blocks re-read Q half as often and win without masking; the
    // causal kernel's masked diagonal blocks need more registers, and 32-key
    // blocks keep it (nearly) free of spills. Heavy causal kernels drop to
    // one m-tile per warp. f32 uses 8 warps of one m-tile.
    if (f32)
      def = {128, 32, 8, 2};
    else if (heavy)
      def = spec.causal ? KernelConfig{64, 32, 4, 2} : KernelConfig{128, 32, 4, 2};
    else
      def = d > 96 && !spec.causal ? KernelConfig{128, 64, 4, 2} : KernelConfig{128, 32, 4, 2};
  } else {
    // One m-tile per warp; 32-key blocks leave registers for the O tile
    // (64-key blocks spilled up to 2.5 KB at d=256 and ran at 0.5-0.9x).
    def = {64, f32 ? 16 : 32, 4, 2};
  }
  if (c.blockM == 0) c.blockM = def.blockM;
  if (c.blockN == 0) c.blockN = def.blockN;
  if (c.numWarps == 0) c.numWarps = def.numWarps;
  if (c.stages == 0) c.stages = def.stages;
  return c;
}

std::string FlashGeometry::compute(const AttentionSpec &spec, FlashGeometry &g) {
  const KernelConfig &c = spec.config;
  if (!c.isComplete())
    return "config: incomplete (" + c.str() + ")";
  if (spec.variant != Variant::Flash && spec.variant != Variant::Sdpa)
    return fmt::format("variant: the sm_80 recipe emits flash and sdpa kernels, got {}",
                       toString(spec.variant));
  if (spec.dtype != DType::F16 && spec.dtype != DType::BF16 &&
      !(spec.dtype == DType::F32 && spec.variant == Variant::Sdpa))
    return fmt::format("dtype: the sm_80 recipe supports f16 and bf16 (and f32 for sdpa), got {}",
                       toString(spec.dtype));
  if (spec.headDim < 1 || spec.headDim > 256)
    return fmt::format("head_dim: expected 1..256, got {}", spec.headDim);
  if (spec.variant == Variant::Flash && spec.headDim % 16 != 0)
    return fmt::format("head_dim: the flash kernel needs a multiple of 16, got {}", spec.headDim);
  g.realHeadDim = spec.headDim;
  g.headDim = paddedHeadDim(spec);
  g.eltBytes = dtypeSize(spec.dtype);
  g.accessBytes = sdpaAccessBytes(spec.headDim, g.eltBytes);
  // 16-byte chunks per row: 4, or a multiple of 8 so the XOR swizzle stays in-row.
  g.smemPitch = g.headDim <= 32 ? 32 : (g.headDim + 63) / 64 * 64;
  g.blockM = c.blockM;
  g.blockN = c.blockN;
  g.numWarps = c.numWarps;
  g.stages = c.stages;
  g.threads = 32 * c.numWarps;
  if (c.numWarps > 16)
    return fmt::format("config: at most 16 warps, got {}", c.numWarps);
  if (c.blockM % (16 * c.numWarps) != 0)
    return fmt::format("config: block_m ({}) must be a multiple of 16 * warps ({})", c.blockM,
                       16 * c.numWarps);
  g.mTilesPerWarp = c.blockM / (16 * c.numWarps);
  if (c.blockN % 16 != 0 || c.blockN < 16)
    return fmt::format("config: block_n must be a positive multiple of 16, got {}", c.blockN);
  if (c.stages < 2 || c.stages > 4)
    return fmt::format("config: stages must be 2..4, got {}", c.stages);
  // Tiles beyond 256 rows or keys cannot keep their accumulators in registers
  // (the config table's largest are 128 x 64).
  if (c.blockM > 256 || c.blockN > 256)
    return fmt::format("config: block_m and block_n must be at most 256, got {} and {}",
                       c.blockM, c.blockN);
  // Shared memory holds 16-bit elements; f32 inputs are split into a bf16 high
  // and a bf16 low plane (x = hi + lo to 16 bits of mantissa).
  g.planes = spec.dtype == DType::F32 ? 2 : 1;
  g.qPlaneBytes = c.blockM * g.smemPitch * 2;
  g.kvPlaneBytes = c.blockN * g.smemPitch * 2;
  g.qBytes = g.qPlaneBytes * g.planes;
  g.kvTileBytes = g.kvPlaneBytes * g.planes;
  g.smemBytes = g.qBytes + 2 * c.stages * g.kvTileBytes;
  if (int limit = archMaxSharedBytes(spec.arch); limit > 0 && g.smemBytes > limit)
    return fmt::format("config: {} needs {} bytes of shared memory, {} allows at most {}",
                       c.str(), g.smemBytes, spec.arch, limit);
  return {};
}

//===----------------------------------------------------------------------===//
// Emitter
//===----------------------------------------------------------------------===//

class FlashSm80Emitter : public KernelBuilder {
public:
  FlashSm80Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const FlashGeometry &g)
      : KernelBuilder(b, loc), spec(spec), g(g), sm80(*this), layout(*this, g.smemPitch / 8),
        at{*this, AccFragment{g.mTilesPerWarp, g.blockN / 8}, Value(), Value(), Value(), g.blockN} {
    opElt = spec.dtype == DType::F16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
    elt = spec.dtype == DType::F32 ? f32 : opElt;
    split = g.planes == 2;
    cpr = g.headDim / 8;
    isSdpa = spec.variant == Variant::Sdpa;
    if (isSdpa && (spec.maskKind != MaskKind::None || spec.dropout))
      mods.emplace(*this, at, spec, elt, g.eltBytes);
  }

  gpu::GPUFuncOp emit(gpu::GPUModuleOp module);

private:
  //--- operands: 16-bit, or f32 as bf16 hi/lo planes ----------------------//
  MmaOperand mmaType() const { return spec.dtype == DType::F16 ? MmaOperand::F16 : MmaOperand::BF16; }
  /// ldmatrix x4 at `off` and, for f32 inputs, of the lo plane `planeBytes`
  /// further on (empty otherwise).
  std::pair<SmallVector<Value, 4>, SmallVector<Value, 4>> ldmatrix4Planes(Value off, bool trans,
                                                                          int planeBytes) {
    SmallVector<Value, 4> hi = sm80.ldmatrix4(off, trans), lo;
    if (split)
      lo = sm80.ldmatrix4(add(off, ci32(planeBytes)), trans);
    return {hi, lo};
  }
  /// B operand h (registers 2h, 2h + 1) of an ldmatrix x4 result; empty for
  /// an empty result (the lo planes of 16-bit inputs).
  static SmallVector<Value, 2> pairOf(ArrayRef<Value> x4, int h) {
    if (x4.empty())
      return {};
    return {x4[2 * h], x4[2 * h + 1]};
  }
  /// c += a * b, or for f32 inputs (aLo and bLo given) c += aLo * b + a * bLo
  /// + a * b: the small terms first.
  void mmaSplit(ArrayRef<Value> a, ArrayRef<Value> aLo, ArrayRef<Value> bb, ArrayRef<Value> bbLo,
                MutableArrayRef<Value> c) {
    if (split) {
      sm80.mma(mmaType(), aLo, bb, c);
      sm80.mma(mmaType(), a, bbLo, c);
    }
    sm80.mma(mmaType(), a, bb, c);
  }
  /// x rounded to bf16, and the bf16 of what that rounding lost.
  std::pair<Value, Value> splitBf16(Value x) {
    Value hi = arith::TruncFOp::create(b, loc, opElt, x);
    Value lo = arith::TruncFOp::create(b, loc, opElt,
                                       arith::SubFOp::create(b, loc, x,
                                                             arith::ExtFOp::create(b, loc, f32, hi)));
    return {hi, lo};
  }
  /// Two fp32 values as (hi, lo) packed bf16 pairs.
  std::pair<Value, Value> pack2Split(Value x0, Value x1) {
    auto [h0, l0] = splitBf16(x0);
    auto [h1, l1] = splitBf16(x1);
    auto packPair = [&](Value a, Value c) {
      return LLVM::BitcastOp::create(b, loc, i32, vec2(a, c)).getResult();
    };
    return {packPair(h0, h1), packPair(l0, l1)};
  }

  //--- tile copies --------------------------------------------------------//
  struct CopyPlan {
    SmallVector<Value> rowInTile; ///< i32
    SmallVector<Value> chunk;     ///< i32 16-byte chunk within the (padded) row
    SmallVector<Value> smemOff;   ///< i32 bytes within the tile
    SmallVector<Value> rowOffset; ///< i64 elements: row * rowStride + col
    Value lastActive;             ///< i1: this thread copies in the last, partial round
    /// Strided plans (threads a multiple of the row's chunks): round `it`
    /// copies row rowInTile[0] + it * rowsPerRound at the same chunk, so only
    /// the swizzle's period of rounds is kept and the rest is derived with
    /// constants and one stride, sparing the registers a full table holds
    /// across the kernel's loop.
    int iters = 0, rowsPerRound = 0, period = 0; ///< period 0: full table
    Value roundStride;                          ///< i64 elements: rowsPerRound * rowStride
  };
  CopyPlan planCopy(int rows, Value rowStride);
  void copyTile(const CopyPlan &p, Value base, Value row0, Value rowLimit, Value rowStride,
                Value smemTileOff, int planeBytes);
  void copySplitChunk(Value chunk, Value rowOk, Value base, Value rowElem, Value dst,
                      int planeBytes);

  /// Byte offsets of ring slot `slot`'s K and V tiles in shared memory.
  Value kSlotOffset(Value slot) { return add(ci32(g.qBytes), mul(slot, ci32(g.kvTileBytes))); }
  Value vSlotOffset(Value slot) {
    return add(ci32(g.qBytes + g.stages * g.kvTileBytes), mul(slot, ci32(g.kvTileBytes)));
  }
  /// When key block `blk` exists (< nEnd), issues its K and V copies into
  /// ring slot `slot`; then commits a cp.async group either way, so that every
  /// thread counts groups alike.
  void loadKVBlockAndCommit(Value blk, Value slot) {
    ifThen(cmpi(arith::CmpIPredicate::slt, blk, nEnd), [&] {
      Value row0 = mul(blk, ci32(g.blockN));
      copyTile(kPlan, kBase, row0, seqK, kRowStride, kSlotOffset(slot), g.kvPlaneBytes);
      copyTile(vPlan, vBase, row0, seqK, vRowStride, vSlotOffset(slot), g.kvPlaneBytes);
    });
    sm80.cpAsyncCommit();
  }

  void storeOutputPair(Value rowPtr, Value col, Value o0, Value o1, bool full);

  //--- one key block -------------------------------------------------------//
  void emitBlock(Value n, bool masked, SmallVector<Value> &acc, SmallVector<Value> &rowMax,
                 SmallVector<Value> &rowSum);

  const AttentionSpec &spec;
  const FlashGeometry &g;
  Sm80Instructions sm80;
  SwizzledTileLayout layout;
  FragmentCoords at; ///< the score fragment's coordinates (set in emit)
  std::optional<SdpaScoreMods> mods; ///< sdpa with a mask or dropout
  std::optional<OnlineSoftmax> softmax;
  Type elt;   ///< element type of q, k, v, out in global memory
  Type opElt; ///< MMA operand element type (bf16 for f32 inputs)
  bool split = false; ///< f32 inputs: bf16 hi/lo planes and three MMAs per product
  int cpr = 0;
  bool isSdpa = false;

  // Values live across the kernel body.
  Value tid, lane, warp;
  Value seqQ, seqK, causalOffset, m0, scaleLog2, nEnd;
  Value kBase, vBase, kRowStride, vRowStride;
  CopyPlan kPlan, vPlan;
  SwizzledTileLayout::LdmBases qLdm, kLdm, vLdm; ///< per-lane ldmatrix bases
};

FlashSm80Emitter::CopyPlan FlashSm80Emitter::planCopy(int rows, Value rowStride) {
  CopyPlan p;
  int total = rows * cpr;
  int iters = (total + g.threads - 1) / g.threads;
  p.iters = iters;
  if (total % g.threads == 0 && g.threads % cpr == 0) {
    // The swizzle repeats every 8 rows.
    p.rowsPerRound = g.threads / cpr;
    p.period = std::min(iters, p.rowsPerRound % 8 == 0 ? 1 : 8 / std::gcd(p.rowsPerRound, 8));
    p.roundStride = mul(rowStride, ci64(p.rowsPerRound));
  }
  for (int it = 0; it < (p.period ? p.period : iters); ++it) {
    Value idx = add(tid, ci32(it * g.threads));
    Value row = divui(idx, cpr);
    Value chunk = remui(idx, cpr);
    p.rowInTile.push_back(row);
    p.chunk.push_back(chunk);
    p.smemOff.push_back(layout.offset(row, chunk));
    p.rowOffset.push_back(
        arith::AddIOp::create(b, loc, mul(ext64(row), rowStride), ext64(mul(chunk, ci32(8)))));
  }
  if (total % g.threads != 0)
    p.lastActive = cmpi(arith::CmpIPredicate::ult, add(tid, ci32((iters - 1) * g.threads)),
                        ci32(total));
  return p;
}

/// Copies one tile to shared memory: rows [row0, row0 + rows) of `base`,
/// zero filling rows >= rowLimit and columns >= the real head_dim. Rows
/// whose length is a multiple of 16 bytes move with 16-byte cp.async; others
/// in accessBytes granules (cp.async of 8 or 4 bytes, or 2-byte loads and
/// stores when rows have an odd number of 16-bit elements).
void FlashSm80Emitter::copyTile(const CopyPlan &p, Value base, Value row0, Value rowLimit,
                                Value rowStride, Value smemTileOff, int planeBytes) {
  Value tileBase = mul(ext64(row0), rowStride); // elements
  const int G = g.accessBytes, eltPerG = G / g.eltBytes;
  const bool padChunks = g.realHeadDim < g.headDim;
  Value rowElem;
  for (int it = 0; it < p.iters; ++it) {
    std::optional<OpBuilder::InsertionGuard> guard;
    if (it + 1 == p.iters && p.lastActive) {
      guard.emplace(b);
      auto ifOp = scf::IfOp::create(b, loc, p.lastActive, false);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    }
    Value rowInTile, chunk, smemOff;
    if (p.period) {
      int k = it % p.period, wraps = it / p.period;
      rowInTile = add(p.rowInTile[0], ci32(it * p.rowsPerRound));
      chunk = p.chunk[0];
      smemOff = add(p.smemOff[k], ci32(wraps * p.period * p.rowsPerRound * layout.rowBytes()));
      rowElem = it == 0 ? arith::AddIOp::create(b, loc, tileBase, p.rowOffset[0]).getResult()
                        : arith::AddIOp::create(b, loc, rowElem, p.roundStride).getResult();
    } else {
      rowInTile = p.rowInTile[it];
      chunk = p.chunk[it];
      smemOff = p.smemOff[it];
      rowElem = arith::AddIOp::create(b, loc, tileBase, p.rowOffset[it]);
    }
    Value rowOk = cmpi(arith::CmpIPredicate::slt, add(row0, rowInTile), rowLimit);
    Value dstChunk = add(smemTileOff, smemOff);
    if (split) {
      copySplitChunk(chunk, rowOk, base, rowElem, dstChunk, planeBytes);
      continue;
    }
    for (int gi = 0; gi < 16 / G; ++gi) {
      Value ok = rowOk;
      if (padChunks) {
        Value col = add(mul(chunk, ci32(8)), ci32(gi * eltPerG));
        ok = arith::AndIOp::create(b, loc, ok,
                                   cmpi(arith::CmpIPredicate::slt, col, ci32(g.realHeadDim)));
      }
      // Invalid granules read nothing; point them at the base.
      Value elemOff = select(ok, arith::AddIOp::create(b, loc, rowElem, ci64(gi * eltPerG)),
                             ci64(0));
      Value src = gepG(base, mul(elemOff, ci64(g.eltBytes)));
      Value dst = gepS(add(dstChunk, ci32(gi * G)));
      if (G >= 4) {
        Value size = select(ok, ci32(G), ci32(0));
        sm80.cpAsync(dst, src, G, size);
      } else {
        Value v = LLVM::LoadOp::create(b, loc, i16, src, /*alignment=*/2);
        v = select(ok, v, arith::ConstantIntOp::create(b, loc, i16, 0));
        LLVM::StoreOp::create(b, loc, v, dst, /*alignment=*/2);
      }
    }
  }
}

/// f32 inputs: loads the 8 elements of one 16-byte shared-memory chunk
/// (32 bytes of the row, in accessBytes pieces; zeros past the row's end or
/// Sk) and stores their bf16 high parts to the tile's first plane and their
/// bf16 low parts `planeBytes` further on.
void FlashSm80Emitter::copySplitChunk(Value chunk, Value rowOk, Value base, Value rowElem,
                                      Value dst, int planeBytes) {
  const int G = g.accessBytes, eltPerG = G / 4;
  SmallVector<Value, 8> x;
  for (int gi = 0; gi < 32 / G; ++gi) {
    Value col = add(mul(chunk, ci32(8)), ci32(gi * eltPerG));
    Value ok = arith::AndIOp::create(b, loc, rowOk,
                                     cmpi(arith::CmpIPredicate::slt, col, ci32(g.realHeadDim)));
    Value elemOff = select(ok, arith::AddIOp::create(b, loc, rowElem, ci64(gi * eltPerG)),
                           ci64(0));
    Value src = gepG(base, mul(elemOff, ci64(4)));
    Type ty = eltPerG == 1 ? Type(f32) : Type(VectorType::get({eltPerG}, f32));
    Value v = LLVM::LoadOp::create(b, loc, ty, src, /*alignment=*/G);
    for (int e = 0; e < eltPerG; ++e) {
      Value xe = eltPerG == 1 ? v : LLVM::ExtractElementOp::create(b, loc, v, ci32(e));
      x.push_back(select(ok, xe, cf32(0.0)));
    }
  }
  auto v4 = VectorType::get({4}, i32);
  Value hi = LLVM::PoisonOp::create(b, loc, v4), lo = LLVM::PoisonOp::create(b, loc, v4);
  for (int pr = 0; pr < 4; ++pr) {
    auto [h, l] = pack2Split(x[2 * pr], x[2 * pr + 1]);
    hi = LLVM::InsertElementOp::create(b, loc, hi, h, ci32(pr));
    lo = LLVM::InsertElementOp::create(b, loc, lo, l, ci32(pr));
  }
  LLVM::StoreOp::create(b, loc, hi, gepS(dst), /*alignment=*/16);
  LLVM::StoreOp::create(b, loc, lo, gepS(add(dst, ci32(planeBytes))), /*alignment=*/16);
}

/// Stores output columns col, col + 1 (col even) of one row. Pairs move as
/// one 4-byte store when rows allow it; columns past the real head_dim
/// (only in the last, partial 8-column tile: `full` false) are skipped.
void FlashSm80Emitter::storeOutputPair(Value rowPtr, Value col, Value o0, Value o1, bool full) {
  auto ptrAt = [&](Value c) { return gepG(rowPtr, ext64(mul(c, ci32(g.eltBytes)))); };
  auto guarded = [&](Value c, auto &&body) {
    if (full)
      return body();
    ifThen(cmpi(arith::CmpIPredicate::slt, c, ci32(g.realHeadDim)), body);
  };
  if (g.accessBytes >= 2 * g.eltBytes) {
    guarded(col, [&] {
      Value pair = split ? vec2(o0, o1) : sm80.pack2(opElt, o0, o1);
      LLVM::StoreOp::create(b, loc, pair, ptrAt(col), 2 * g.eltBytes);
    });
    return;
  }
  Value c1 = add(col, ci32(1));
  auto store = [&](Value c, Value o) {
    guarded(c, [&] {
      Value v = split ? o : arith::TruncFOp::create(b, loc, elt, o).getResult();
      LLVM::StoreOp::create(b, loc, v, ptrAt(c), g.eltBytes);
    });
  };
  store(col, o0);
  store(c1, o1);
}

void FlashSm80Emitter::emitBlock(Value n, bool masked, SmallVector<Value> &acc,
                                 SmallVector<Value> &rowMax, SmallVector<Value> &rowSum) {
  const int MT = g.mTilesPerWarp, NT = g.blockN / 8, DT = g.headDim / 8;
  const int KS = g.headDim / 16;
  const AccFragment &sf = at.frag;

  // Per-key mask values first: their loads overlap the barrier and the MMAs.
  SmallVector<Value> keyMask;
  if (mods && mods->hasMask() && spec.maskPerKey)
    keyMask = mods->loadKeyMask(n);

  // Prefetch block n + stages - 1 into the slot block n - 1 used.
  sm80.cpAsyncWait(g.stages - 2);
  sm80.barrier();
  Value next = add(n, ci32(g.stages - 1));
  loadKVBlockAndCommit(next, remui(next, g.stages));

  Value slot = remui(n, g.stages);
  Value kTile = kSlotOffset(slot);
  Value vTile = vSlotOffset(slot);

  // S = Q K^T.
  // f32 inputs: s += q_lo k_hi + q_hi k_lo + q_hi k_hi (small terms first).
  SmallVector<Value> s(sf.size(), cf32(0.0));
  for (int ks = 0; ks < KS; ++ks) {
    SmallVector<std::pair<SmallVector<Value, 4>, SmallVector<Value, 4>>> qa; // (hi, lo)
    for (int mt = 0; mt < MT; ++mt)
      qa.push_back(ldmatrix4Planes(layout.ldmOffset(qLdm, Value(), mt * 16, 2 * ks), false,
                                   g.qPlaneBytes));
    for (int jp = 0; jp < NT / 2; ++jp) {
      auto [kb, kbLo] =
          ldmatrix4Planes(layout.ldmOffset(kLdm, kTile, jp * 16, 2 * ks), false, g.kvPlaneBytes);
      for (int mt = 0; mt < MT; ++mt) {
        for (int h = 0; h < 2; ++h) {
          int j = 2 * jp + h;
          MutableArrayRef<Value> c(&s[(mt * NT + j) * 4], 4);
          mmaSplit(qa[mt].first, qa[mt].second, pairOf(kb, h), pairOf(kbLo, h), c);
        }
      }
    }
  }

  // Masking: tails of Sk and, for causal, keys after the query's diagonal.
  if (masked) {
    maskColumnsFrom(*this, at, n, s, [&](int r) {
      Value limit = seqK;
      if (spec.causal) {
        // key <= q + causalOffset  <=>  key < q + causalOffset + 1
        Value diag = add(add(at.row(r), ci32(1)), causalOffset);
        limit = minsi(limit, diag);
      }
      return limit;
    });
  }

  SmallVector<Value> keepWords; // dropout: 4 Philox words per (m-tile, n-tile)
  if (mods) {
    if (mods->hasMask())
      mods->applyMask(n, masked, keyMask, s);
    if (mods->hasDropout())
      keepWords = mods->dropoutWords(n);
  }

  // Online softmax per row slot (two per m-tile: lane/4 and +8).
  SmallVector<Value> blockMax = softmax->blockMax(s, rowMax);
  softmax->rescale(blockMax, rowMax, rowSum, acc);

  SmallVector<Value> p(MT * NT * 2);   // packed 16-bit pairs
  SmallVector<Value> pLo(MT * NT * 2); // f32 inputs: what bf16 rounding of p lost
  softmax->exponentiate(s, rowMax, rowSum, [&](int r, int j, Value(&e)[2]) {
    int mt = r / 2, half = r % 2;
    // The row sum counts every probability; dropout zeroes some in P only.
    if (mods && mods->hasDropout())
      for (int x = 0; x < 2; ++x)
        e[x] = mods->dropout(e[x], keepWords[sf.index(r, j, x)]);
    if (split)
      std::tie(p[(mt * NT + j) * 2 + half], pLo[(mt * NT + j) * 2 + half]) =
          pack2Split(e[0], e[1]);
    else
      p[(mt * NT + j) * 2 + half] = sm80.pack2(opElt, e[0], e[1]);
  });

  // O += P V (f32 inputs: p_lo v_hi + p_hi v_lo + p_hi v_hi).
  auto aFrag = [&](const SmallVector<Value> &pp, int mt, int ks) {
    return SmallVector<Value, 4>{pp[(mt * NT + 2 * ks) * 2 + 0], pp[(mt * NT + 2 * ks) * 2 + 1],
                                 pp[(mt * NT + 2 * ks + 1) * 2 + 0],
                                 pp[(mt * NT + 2 * ks + 1) * 2 + 1]};
  };
  for (int ks = 0; ks < g.blockN / 16; ++ks) {
    for (int dp = 0; dp < DT / 2; ++dp) {
      auto [vb, vbLo] =
          ldmatrix4Planes(layout.ldmOffset(vLdm, vTile, ks * 16, 2 * dp), true, g.kvPlaneBytes);
      for (int mt = 0; mt < MT; ++mt) {
        SmallVector<Value, 4> a = aFrag(p, mt, ks);
        SmallVector<Value, 4> aLo = split ? aFrag(pLo, mt, ks) : SmallVector<Value, 4>();
        for (int h = 0; h < 2; ++h) {
          int d = 2 * dp + h;
          MutableArrayRef<Value> c(&acc[(mt * DT + d) * 4], 4);
          mmaSplit(a, aLo, pairOf(vb, h), pairOf(vbLo, h), c);
        }
      }
    }
  }
}

gpu::GPUFuncOp FlashSm80Emitter::emit(gpu::GPUModuleOp module) {
  const int MT = g.mTilesPerWarp, DT = g.headDim / 8;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());

  std::string smemName = spec.kernelName() + "_smem";
  declareDynamicSmem(smemName);

  // SDPA kernels take the flash parameters followed by the mask and dropout ones.
  SmallVector<AbiParam> params(std::begin(kFlashParams), std::end(kFlashParams));
  if (isSdpa)
    params.append(std::begin(kSdpaExtraParams), std::end(kSdpaExtraParams));
  KernelFunction fn = createKernel(module, spec.kernelName(), params, g.threads);
  auto arg = [&](const char *name) { return fn.arg(name); };

  bindDynamicSmem(smemName);
  tid = threadIdX();
  lane = andi(tid, 31);
  warp = shrui(tid, 5);
  Value bx = blockId(gpu::Dimension::x);
  Value head = blockId(gpu::Dimension::y);
  Value batch = blockId(gpu::Dimension::z);
  seqQ = arg("seqlen_q");
  seqK = arg("seqlen_k");
  scaleLog2 = arg("scale_log2");
  // Causal alignment: flash aligns the last query with the last key
  // (FlashAttention-2); sdpa aligns the first ones (torch's is_causal).
  causalOffset = isSdpa ? ci32(0) : sub(seqK, seqQ);
  // Multiplies scores in the softmax: scale_log2, or 1 when an additive mask
  // already moved them into the scaled log2 domain.
  Value softmaxScale = spec.maskKind == MaskKind::Additive ? cf32(1.0) : scaleLog2;
  Value numMBlocks = gridDim(gpu::Dimension::x);
  // Causal: the heaviest query blocks (last rows) start first.
  Value mBlock = spec.causal ? sub(sub(numMBlocks, ci32(1)), bx) : bx;
  m0 = mul(mBlock, ci32(g.blockM));
  at.lane = lane;
  at.warp = warp;
  at.m0 = m0;
  softmax.emplace(*this, at.frag, AccFragment{MT, DT}, softmaxScale);
  Value kvHead = arith::DivUIOp::create(b, loc, head, arg("head_ratio"));

  auto headBase = [&](const char *ptr, const char *bs, const char *hs, Value h) {
    Value off = arith::AddIOp::create(b, loc, mul(ext64(batch), arg(bs)), mul(ext64(h), arg(hs)));
    return gepG(arg(ptr), mul(off, ci64(g.eltBytes)));
  };
  Value qBase = headBase("q", "q_batch_stride", "q_head_stride", head);
  kBase = headBase("k", "k_batch_stride", "k_head_stride", kvHead);
  vBase = headBase("v", "v_batch_stride", "v_head_stride", kvHead);
  Value oBase = headBase("o", "o_batch_stride", "o_head_stride", head);
  Value qRowStride = arg("q_row_stride"), oRowStride = arg("o_row_stride");
  kRowStride = arg("k_row_stride");
  vRowStride = arg("v_row_stride");

  // Key blocks this CTA visits: [0, nEnd); blocks from nNoMask on need masking.
  Value nBlocksK = arith::CeilDivSIOp::create(b, loc, seqK, ci32(g.blockN));
  Value nNoMask = arith::DivSIOp::create(b, loc, seqK, ci32(g.blockN));
  nEnd = nBlocksK;
  if (spec.causal) {
    Value lastRow = minsi(add(m0, ci32(g.blockM)), seqQ);
    Value causalEnd = arith::CeilDivSIOp::create(b, loc, add(lastRow, causalOffset), ci32(g.blockN));
    nEnd = maxsi(minsi(nEnd, causalEnd), ci32(0));
    Value causalNoMask =
        arith::FloorDivSIOp::create(b, loc, add(add(m0, causalOffset), ci32(1)), ci32(g.blockN));
    nNoMask = minsi(nNoMask, causalNoMask);
  }
  nNoMask = maxsi(minsi(nNoMask, nEnd), ci32(0));

  // Per-thread copy plans and ldmatrix addressing, computed once.
  CopyPlan qPlan = planCopy(g.blockM, qRowStride);
  kPlan = planCopy(g.blockN, kRowStride);
  vPlan = planCopy(g.blockN, vRowStride);
  Value rowBytes = ci32(layout.rowBytes());
  Value qRowLocal = andi(lane, 15);
  qLdm = layout.ldmBases(mul(add(mul(warp, ci32(16 * MT)), qRowLocal), rowBytes),
                         layout.ldmXorTerm(qRowLocal, shrui(lane, 4)));
  Value kRowLocal = add(mul(andi(shrui(lane, 4), 1), ci32(8)), andi(lane, 7));
  kLdm = layout.ldmBases(mul(kRowLocal, rowBytes),
                         layout.ldmXorTerm(kRowLocal, andi(shrui(lane, 3), 1)));
  Value vRowLocal = add(mul(andi(shrui(lane, 3), 1), ci32(8)), andi(lane, 7));
  vLdm = layout.ldmBases(mul(vRowLocal, rowBytes),
                         layout.ldmXorTerm(vRowLocal, andi(shrui(lane, 4), 1)));

  if (mods)
    mods->init(fn, batch, head, seqQ, seqK, scaleLog2);

  // Prologue: Q with key block 0 in group 0, then blocks 1..stages-2.
  copyTile(qPlan, qBase, m0, seqQ, qRowStride, ci32(0), g.qPlaneBytes);
  for (int st = 0; st < g.stages - 1; ++st)
    loadKVBlockAndCommit(ci32(st), ci32(st));

  // Loop state: acc[MT][DT][4], rowMax[MT*2], rowSum[MT*2].
  SmallVector<Value> init(MT * DT * 4, cf32(0.0));
  for (int r = 0; r < MT * 2; ++r)
    init.push_back(negInf());
  for (int r = 0; r < MT * 2; ++r)
    init.push_back(cf32(0.0));

  auto emitLoop = [&](Value lb, Value ub, bool masked, ValueRange state) -> SmallVector<Value> {
    auto forOp = scf::ForOp::create(b, loc, lb, ub, ci32(1), state);
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(forOp.getBody());
    ValueRange it = forOp.getRegionIterArgs();
    SmallVector<Value> acc(it.begin(), it.begin() + MT * DT * 4);
    SmallVector<Value> rowMax(it.begin() + MT * DT * 4, it.begin() + MT * DT * 4 + MT * 2);
    SmallVector<Value> rowSum(it.begin() + MT * DT * 4 + MT * 2, it.end());
    emitBlock(forOp.getInductionVar(), masked, acc, rowMax, rowSum);
    SmallVector<Value> yield = acc;
    yield.append(rowMax);
    yield.append(rowSum);
    scf::YieldOp::create(b, loc, yield);
    return SmallVector<Value>(forOp.getResults());
  };
  SmallVector<Value> state = emitLoop(ci32(0), nNoMask, /*masked=*/false, init);
  state = emitLoop(nNoMask, nEnd, /*masked=*/true, state);
  sm80.cpAsyncWait(0);

  // Epilogue: finish row sums across the quad, normalize, store O (and LSE).
  SmallVector<Value> acc(state.begin(), state.begin() + MT * DT * 4);
  for (int mt = 0; mt < MT; ++mt) {
    for (int half = 0; half < 2; ++half) {
      int r = mt * 2 + half;
      OnlineSoftmax::RowTotal total = softmax->finish(state[MT * DT * 4 + MT * 2 + r]);
      Value inv = total.inv;
      if (mods && mods->hasDropout())
        inv = fmul(inv, mods->dropoutScale());
      Value row = at.row(r);
      Value inRange = cmpi(arith::CmpIPredicate::slt, row, seqQ);
      ifThen(inRange, [&] {
        Value rowPtr = gepG(oBase, mul(mul(ext64(row), oRowStride), ci64(g.eltBytes)));
        Value colBase = mul(andi(lane, 3), ci32(2)); // 2 elements per lane
        for (int d = 0; d < DT && d * 8 < g.realHeadDim; ++d) {
          Value o0 = fmul(acc[(mt * DT + d) * 4 + half * 2 + 0], inv);
          Value o1 = fmul(acc[(mt * DT + d) * 4 + half * 2 + 1], inv);
          Value col = add(colBase, ci32(d * 8));
          storeOutputPair(rowPtr, col, o0, o1, /*full=*/(d + 1) * 8 <= g.realHeadDim);
        }
        if (spec.returnLse) {
          Value isLane0 = cmpi(arith::CmpIPredicate::eq, andi(lane, 3), ci32(0));
          ifThen(isLane0, [&] {
            Value lse = softmax->logSumExp(state[MT * DT * 4 + r], total, scaleLog2);
            // lse is [B, H, Sq] contiguous.
            Value numHeads = arg("num_heads");
            Value idx = arith::AddIOp::create(
                b, loc, mul(add(mul(ext64(batch), ext64(numHeads)), ext64(head)), ext64(seqQ)),
                ext64(row));
            Value lsePtr = gepG(arg("lse"), mul(idx, ci64(4)));
            LLVM::StoreOp::create(b, loc, lse, lsePtr, /*alignment=*/4);
          });
        }
      });
    }
  }
  gpu::ReturnOp::create(b, loc);
  return fn.func;
}

//===----------------------------------------------------------------------===//
// The recipe
//===----------------------------------------------------------------------===//

class FlashSm80Recipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "flash-sm80"; }
  bool servesVariant(Variant v) const override { return v == Variant::Flash || v == Variant::Sdpa; }
  int minCapability() const override { return 80; }
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    return flashSm80Config(spec);
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    FlashGeometry g;
    std::string err = FlashGeometry::compute(spec, g);
    if (!err.empty())
      return err;
    out.threads = g.threads;
    out.sharedMemBytes = g.smemBytes;
    out.rowsPerCta = g.blockM;
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    FlashGeometry g;
    std::string err = FlashGeometry::compute(spec, g);
    assert(err.empty() && "emit() after a failed launch()");
    (void)err;
    FlashSm80Emitter(b, loc, spec, g).emit(module);
  }
};

} // namespace

const KernelRecipe &flashSm80Recipe() {
  static const FlashSm80Recipe recipe;
  return recipe;
}

} // namespace attnjit::kernels

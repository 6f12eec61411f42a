//===- FlashSm80.cpp - The sm_80+ flash-attention kernel recipe -----------===//
//
// Part of attnjit.
//
// One CTA computes `blockM` query rows of one (batch, head). Each warp owns
// `mTilesPerWarp` 16-row MMA tiles. Q is copied to shared memory once; K and V
// blocks of `blockN` keys stream through a `stages`-deep cp.async ring. Per
// key block: S = Q K^T (ldmatrix + mma.sync m16n8k16, fp32 accumulators),
// online softmax in the exp2 domain with softmax_scale*log2(e) folded into one
// FMA, P (packed to 16-bit in registers; the accumulator layout of S equals the
// A-operand layout of the next MMA) times V (ldmatrix.trans). Shared memory rows
// are XOR-swizzled in 16-byte chunks so that ldmatrix and cp.async are free of
// bank conflicts.
//
// Sequence lengths, batch, heads and strides are kernel parameters
// (FlashKernelABI.h); tails are handled with zero-filling cp.async and masking,
// so one kernel serves every shape. Causal attention aligns the last query with
// the last key (FlashAttention-2's convention): key j is visible to query i iff
// j <= i + Sk - Sq. Rows with no visible key produce zeros and lse = -inf.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/FlashSm80.h"
#include "attnjit/Runtime/Philox.h"
#include "attnjit/Runtime/SdpaKernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <fmt/format.h>

#include <cassert>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <tuple>

using namespace mlir;

namespace attnjit::kernels {

//===----------------------------------------------------------------------===//
// Geometry and config table
//===----------------------------------------------------------------------===//

int paddedHeadDim(const AttentionSpec &spec) { return (spec.headDim + 15) / 16 * 16; }

KernelConfig defaultFlashSm80Config(const AttentionSpec &spec) {
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
  // Shared memory holds 16-bit elements; f32 inputs are split into a bf16 high
  // and a bf16 low plane (x = hi + lo to 16 bits of mantissa).
  g.planes = spec.dtype == DType::F32 ? 2 : 1;
  g.qPlaneBytes = c.blockM * g.smemPitch * 2;
  g.kvPlaneBytes = c.blockN * g.smemPitch * 2;
  g.qBytes = g.qPlaneBytes * g.planes;
  g.kvTileBytes = g.kvPlaneBytes * g.planes;
  g.smemBytes = g.qBytes + 2 * c.stages * g.kvTileBytes;
  return {};
}

//===----------------------------------------------------------------------===//
// Emitter
//===----------------------------------------------------------------------===//

namespace {

/// How far (log2 units of the scaled scores) a row's max may grow before the
/// running max and O are rescaled; see emitBlock.
constexpr double kRescaleSlack = 8.0;

class FlashSm80Emitter {
public:
  FlashSm80Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const FlashGeometry &g)
      : b(b), loc(loc), spec(spec), g(g), ctx(b.getContext()) {
    i8 = b.getI8Type();
    i32 = b.getI32Type();
    i64 = b.getI64Type();
    f32 = b.getF32Type();
    opElt = spec.dtype == DType::F16 ? Type(b.getF16Type()) : Type(b.getBF16Type());
    elt = spec.dtype == DType::F32 ? f32 : opElt;
    split = g.planes == 2;
    ptrG = LLVM::LLVMPointerType::get(ctx, 1);
    ptrS = LLVM::LLVMPointerType::get(ctx, 3);
    cpr = g.headDim / 8;
    pitchChunks = g.smemPitch / 8;
    isSdpa = spec.variant == Variant::Sdpa;
  }

  gpu::GPUFuncOp emit(gpu::GPUModuleOp module);

private:
  // Fragments of one warp, flattened: acc[mt][ntile][4].
  using Frag = SmallVector<Value>;

  //--- constants and scalar helpers ---------------------------------------//
  Value ci32(int64_t v) { return arith::ConstantIntOp::create(b, loc, i32, v); }
  Value ci64(int64_t v) { return arith::ConstantIntOp::create(b, loc, i64, v); }
  Value cf32(double v) { return arith::ConstantFloatOp::create(b, loc, cast<FloatType>(f32), APFloat(float(v))); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value andi(Value x, int64_t m) { return arith::AndIOp::create(b, loc, x, ci32(m)); }
  Value xori(Value x, Value y) { return arith::XOrIOp::create(b, loc, x, y); }
  Value shrui(Value x, int64_t s) { return arith::ShRUIOp::create(b, loc, x, ci32(s)); }
  Value divui(Value x, int64_t d) { return arith::DivUIOp::create(b, loc, x, ci32(d)); }
  Value remui(Value x, int64_t d) { return arith::RemUIOp::create(b, loc, x, ci32(d)); }
  Value ext64(Value x) { return arith::ExtSIOp::create(b, loc, i64, x); }
  Value cmpi(arith::CmpIPredicate p, Value x, Value y) { return arith::CmpIOp::create(b, loc, p, x, y); }
  Value select(Value c, Value x, Value y) { return arith::SelectOp::create(b, loc, c, x, y); }
  Value minsi(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value maxsi(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, loc, x, y); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, loc, x, y); }
  Value fmax(Value x, Value y) { return LLVM::MaxNumOp::create(b, loc, x, y); }
  /// ex2.approx.ftz: the SFU instruction; the kernel never needs denormals.
  Value exp2(Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", x); }
  Value log2(Value x) { return intrinsic("llvm.nvvm.lg2.approx.ftz.f", x); }
  Value intrinsic(StringRef name, Value x) {
    return LLVM::CallIntrinsicOp::create(b, loc, f32, b.getStringAttr(name), ValueRange{x})
        .getResult(0);
  }
  Value fma(Value x, Value y, Value z) { return LLVM::FMAOp::create(b, loc, x, y, z); }
  Value gepG(Value base, Value byteOff) {
    return LLVM::GEPOp::create(b, loc, ptrG, i8, base, ValueRange{byteOff});
  }
  Value gepS(Value byteOff) {
    return LLVM::GEPOp::create(b, loc, ptrS, i8, smemBase, ValueRange{byteOff});
  }
  Value shflXor(Value v, int offset) {
    auto res = NVVM::ShflOp::create(b, loc, f32, ci32(-1), v, ci32(offset), ci32(0x1f),
                                    NVVM::ShflKind::bfly, UnitAttr());
    return res.getResult();
  }
  /// The value of `v` in lane `srcLane` (same type as v).
  Value shflIdx(Value v, Value srcLane) {
    return NVVM::ShflOp::create(b, loc, v.getType(), ci32(-1), v, srcLane, ci32(0x1f),
                                NVVM::ShflKind::idx, UnitAttr())
        .getResult();
  }

  //--- shared-memory layout ---------------------------------------------//
  /// Byte offset of 16-byte chunk `chunk` in tile row `row` (both runtime).
  Value swizzle(Value row, Value chunk) {
    Value phys;
    if (pitchChunks == 4) {
      phys = xori(chunk, andi(shrui(row, 1), 3));
    } else {
      Value hi = andi(chunk, ~int64_t(7));
      Value lo = andi(xori(chunk, row), 7);
      phys = add(hi, lo);
    }
    return mul(add(mul(row, ci32(pitchChunks)), phys), ci32(16));
  }
  /// Per-lane XOR term for an ldmatrix whose lane row is `row` (runtime, only
  /// its low bits matter) and whose runtime chunk part is `c0` (0 or 1).
  Value ldmXorTerm(Value row, Value c0) {
    if (pitchChunks == 4)
      return xori(c0, andi(shrui(row, 1), 3));
    return andi(xori(c0, row), 7);
  }
  /// ldmatrix addressing of one operand (Q, K or V): each lane reads row
  /// `rowBytes` of the tile at chunk `c0 + k` for compile-time even k. The
  /// XOR swizzle makes the chunk's address depend on the lane, but only
  /// through `k` modulo the swizzle's width, so one per-lane base per even
  /// residue r is computed before the loop (rowBytes + (xor ^ r) * 16, at
  /// index r / 2) and every other offset is a compile-time immediate. This
  /// keeps the loop's live address registers to a handful instead of one per
  /// (k, tile row) pair.
  using LdmBases = SmallVector<Value, 4>;
  int swizzleWidth() const { return pitchChunks == 4 ? 4 : 8; }
  LdmBases ldmBases(Value rowBytes, Value xorTerm) {
    LdmBases bases;
    for (int r = 0; r < swizzleWidth(); r += 2)
      bases.push_back(add(rowBytes, mul(xori(xorTerm, ci32(r)), ci32(16))));
    return bases;
  }
  /// Byte offset of chunk k (even) of tile row rowConst + the lane's row:
  /// tileOff (runtime, may be null) + per-lane base + immediate.
  Value ldmOffset(const LdmBases &bases, Value tileOff, int rowConst, int kConst) {
    assert(kConst % 2 == 0 && "ldmatrix x4 chunks come in pairs");
    int w = swizzleWidth();
    Value v = bases[kConst % w / 2];
    if (tileOff)
      v = add(tileOff, v);
    int imm = (rowConst * pitchChunks + kConst - kConst % w) * 16;
    return imm ? add(v, ci32(imm)) : v;
  }

  //--- warp-level primitives ---------------------------------------------//
  SmallVector<Value, 4> ldmatrix4(Value byteOff, bool trans) {
    auto structTy = LLVM::LLVMStructType::getLiteral(ctx, {i32, i32, i32, i32});
    auto op = NVVM::LdMatrixOp::create(
        b, loc, structTy, gepS(byteOff), 4, trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
        NVVM::LdStMatrixShapeAttr::get(ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
    SmallVector<Value, 4> r;
    for (int i = 0; i < 4; ++i)
      r.push_back(LLVM::ExtractValueOp::create(b, loc, op.getResult(), i));
    return r;
  }
  /// ldmatrix x4 at `off` and, for f32 inputs, of the lo plane `planeBytes`
  /// further on (empty otherwise).
  std::pair<SmallVector<Value, 4>, SmallVector<Value, 4>> ldmatrix4Planes(Value off, bool trans,
                                                                          int planeBytes) {
    SmallVector<Value, 4> hi = ldmatrix4(off, trans), lo;
    if (split)
      lo = ldmatrix4(add(off, ci32(planeBytes)), trans);
    return {hi, lo};
  }
  /// MMA operand register: i32 for bf16, vector<2xf16> for f16.
  Value operand(Value packedI32) {
    if (spec.dtype != DType::F16)
      return packedI32;
    return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, opElt), packedI32);
  }
  /// d = a(16x16) * b(16x8) + c, fp32 accumulate.
  void mma(ArrayRef<Value> a, ArrayRef<Value> bb, MutableArrayRef<Value> c) {
    auto resTy = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
    SmallVector<Value> av, bv;
    for (Value v : a) av.push_back(operand(v));
    for (Value v : bb) bv.push_back(operand(v));
    NVVM::MMATypes t = spec.dtype == DType::F16 ? NVVM::MMATypes::f16 : NVVM::MMATypes::bf16;
    // (f32 inputs multiply their bf16 planes.)
    auto op = NVVM::MmaOp::create(b, loc, resTy, av, bv, SmallVector<Value>(c.begin(), c.end()),
                                  ArrayRef<int64_t>{16, 8, 16}, std::nullopt, std::nullopt,
                                  std::array<NVVM::MMATypes, 2>{t, t},
                                  std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                                 NVVM::MMALayout::col});
    for (int i = 0; i < 4; ++i)
      c[i] = LLVM::ExtractValueOp::create(b, loc, op.getResult(), i);
  }
  /// The 2-element vector (x0, x1) of their type.
  Value vec2(Value x0, Value x1) {
    Value v = LLVM::PoisonOp::create(b, loc, VectorType::get({2}, x0.getType()));
    v = LLVM::InsertElementOp::create(b, loc, v, x0, ci32(0));
    return LLVM::InsertElementOp::create(b, loc, v, x1, ci32(1));
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
      mma(aLo, bb, c);
      mma(a, bbLo, c);
    }
    mma(a, bb, c);
  }
  /// Packs two fp32 values to one 32-bit register of two 16-bit elements.
  Value pack2(Value lo, Value hi) {
    Value t = arith::TruncFOp::create(b, loc, VectorType::get({2}, opElt), vec2(lo, hi));
    return LLVM::BitcastOp::create(b, loc, i32, t);
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
  CopyPlan planCopy(int rows, Value rowStride) {
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
      p.smemOff.push_back(swizzle(row, chunk));
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
  void copyTile(const CopyPlan &p, Value base, Value row0, Value rowLimit, Value rowStride,
                Value smemTileOff, int planeBytes) {
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
        smemOff = add(p.smemOff[k], ci32(wraps * p.period * p.rowsPerRound * pitchChunks * 16));
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
          NVVM::CpAsyncOp::create(b, loc, dst, src, G,
                                  G == 16 ? NVVM::LoadCacheModifierKind::CG
                                          : NVVM::LoadCacheModifierKind::CA,
                                  size);
        } else {
          Value v = LLVM::LoadOp::create(b, loc, b.getI16Type(), src, /*alignment=*/2);
          v = select(ok, v, arith::ConstantIntOp::create(b, loc, b.getI16Type(), 0));
          LLVM::StoreOp::create(b, loc, v, dst, /*alignment=*/2);
        }
      }
    }
  }

  /// f32 inputs: loads the 8 elements of one 16-byte shared-memory chunk
  /// (32 bytes of the row, in accessBytes pieces; zeros past the row's end or
  /// Sk) and stores their bf16 high parts to the tile's first plane and their
  /// bf16 low parts `planeBytes` further on.
  void copySplitChunk(Value chunk, Value rowOk, Value base, Value rowElem, Value dst,
                      int planeBytes) {
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

  /// Byte offsets of ring slot `slot`'s K and V tiles in shared memory.
  Value kSlotOffset(Value slot) { return add(ci32(g.qBytes), mul(slot, ci32(g.kvTileBytes))); }
  Value vSlotOffset(Value slot) {
    return add(ci32(g.qBytes + g.stages * g.kvTileBytes), mul(slot, ci32(g.kvTileBytes)));
  }
  /// When key block `blk` exists (< nEnd), issues its K and V copies into
  /// ring slot `slot`; then commits a cp.async group either way, so that every
  /// thread counts groups alike.
  void loadKVBlockAndCommit(Value blk, Value slot) {
    auto ifOp = scf::IfOp::create(b, loc, cmpi(arith::CmpIPredicate::slt, blk, nEnd), false);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      Value row0 = mul(blk, ci32(g.blockN));
      copyTile(kPlan, kBase, row0, seqK, kRowStride, kSlotOffset(slot), g.kvPlaneBytes);
      copyTile(vPlan, vBase, row0, seqK, vRowStride, vSlotOffset(slot), g.kvPlaneBytes);
    }
    NVVM::CpAsyncCommitGroupOp::create(b, loc);
  }
  /// Query row of this thread's accumulator row `half` (0: lane/4, 1: +8) in m-tile `mt`.
  Value threadRow(int mt, int half) {
    return add(m0, add(mul(warp, ci32(16 * g.mTilesPerWarp)),
                       add(ci32(mt * 16 + half * 8), shrui(lane, 2))));
  }

  /// Stores output columns col, col + 1 (col even) of one row. Pairs move as
  /// one 4-byte store when rows allow it; columns past the real head_dim
  /// (only in the last, partial 8-column tile: `full` false) are skipped.
  void storeOutputPair(Value rowPtr, Value col, Value o0, Value o1, bool full) {
    auto ptrAt = [&](Value c) { return gepG(rowPtr, ext64(mul(c, ci32(g.eltBytes)))); };
    auto guarded = [&](Value c, auto &&body) {
      if (full)
        return body();
      auto ifOp = scf::IfOp::create(b, loc, cmpi(arith::CmpIPredicate::slt, c, ci32(g.realHeadDim)),
                                    false);
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
      body();
    };
    if (g.accessBytes >= 2 * g.eltBytes) {
      guarded(col, [&] {
        Value pair = split ? vec2(o0, o1) : pack2(o0, o1);
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

  //--- SDPA: mask and dropout ---------------------------------------------//
  /// Key column of this thread's accumulator element (n-tile j, element e) in key block n.
  Value keyOf(Value n, int j, int e) {
    return add(add(mul(n, ci32(g.blockN)), mul(andi(lane, 3), ci32(2))), ci32(j * 8 + e));
  }
  /// The caller's mask value at `key` for accumulator row r: an i1 "attend"
  /// for bool masks, mask * log2(e) for additive ones. Rows past Sq read the
  /// last row's entries (maskRowBase); callers clamp keys to Sk - 1 where they
  /// may pass it (such scores are -inf already).
  Value loadMask(Value key, int r) {
    const bool additive = spec.maskKind == MaskKind::Additive;
    Type maskElt = additive ? elt : Type(i8);
    int maskBytes = additive ? g.eltBytes : 1;
    Value colOff = mul(mul(ext64(key), maskColStride), ci64(maskBytes));
    Value m = LLVM::LoadOp::create(b, loc, maskElt, gepG(maskRowBase[r], colOff), maskBytes);
    if (additive)
      return fmul(split ? m : arith::ExtFOp::create(b, loc, f32, m).getResult(),
                  cf32(1.4426950408889634));
    return cmpi(arith::CmpIPredicate::ne, m, arith::ConstantIntOp::create(b, loc, i8, 0));
  }
  /// Per-key masks: a warp needs blockN values per key block, so each lane
  /// loads two adjacent keys per 64 (keys 64c + 2 * lane + {0, 1}) before the
  /// barrier and S = Q K^T, hiding the latency; applyUserMask shuffles them to
  /// the lanes that own those columns. Bool pairs travel as one i32 (bits 0, 1).
  SmallVector<Value> loadKeyMask(Value n) {
    SmallVector<Value> vals;
    Value lastKey = sub(seqK, ci32(1));
    for (int c = 0; c < (g.blockN + 63) / 64; ++c) {
      Value key0 = add(mul(n, ci32(g.blockN)), add(ci32(64 * c), mul(lane, ci32(2))));
      Value m0 = loadMask(minsi(key0, lastKey), 0);
      Value m1 = loadMask(minsi(add(key0, ci32(1)), lastKey), 0);
      if (spec.maskKind == MaskKind::Additive) {
        vals.push_back(m0);
        vals.push_back(m1);
      } else {
        vals.push_back(arith::OrIOp::create(b, loc, select(m0, ci32(1), ci32(0)),
                                            select(m1, ci32(2), ci32(0))));
      }
    }
    return vals;
  }
  /// Applies the caller's mask to the scores of key block n: bool (false ->
  /// -inf) or additive (scores move to the scaled log2 domain: s * scale_log2 +
  /// mask * log2(e); softmaxScale is then 1). `keyMask` holds loadKeyMask's
  /// values for per-key masks; full masks are loaded here, one per score.
  void applyUserMask(Value n, bool masked, ArrayRef<Value> keyMask, SmallVector<Value> &s) {
    const int MT = g.mTilesPerWarp, NT = g.blockN / 8;
    const bool additive = spec.maskKind == MaskKind::Additive;
    Value negInf = cf32(-std::numeric_limits<double>::infinity());
    Value lastKey = sub(seqK, ci32(1));
    for (int j = 0; j < NT; ++j) {
      Value perKey[2];
      if (spec.maskPerKey) {
        // Column 8j + 2 * (lane % 4) + e was loaded by lane 4 * (j % 8) + lane % 4.
        Value src = add(ci32(4 * (j % 8)), andi(lane, 3));
        int c = j / 8;
        for (int e = 0; e < 2; ++e)
          perKey[e] = additive ? shflIdx(keyMask[2 * c + e], src)
                               : cmpi(arith::CmpIPredicate::ne,
                                      andi(shflIdx(keyMask[c], src), 1 << e), ci32(0));
      }
      for (int e = 0; e < 2; ++e)
        for (int r = 0; r < MT * 2; ++r) {
          Value m = perKey[e];
          if (!spec.maskPerKey) {
            Value key = keyOf(n, j, e);
            m = loadMask(masked ? minsi(key, lastKey) : key, r);
          }
          Value &v = s[((r / 2) * NT + j) * 4 + (r % 2) * 2 + e];
          v = additive ? fma(v, scaleLog2, m) : select(m, v, negInf);
        }
    }
  }
  /// Philox4x32-10 (Philox.h) of one 2x2 score block: rows (row, row + 8),
  /// keys (key, key + 1) with row % 16 < 8 and key even.
  SmallVector<Value, 4> philox(Value key, Value row) {
    SmallVector<Value, 4> x = {shrui(key, 1), row, philoxBH, philoxOffLo};
    Value k0 = philoxK0, k1 = philoxK1;
    for (int round = 0; round < 10; ++round) {
      auto p0 = arith::MulUIExtendedOp::create(b, loc, ci32(int32_t(kPhiloxM0)), x[0]);
      auto p1 = arith::MulUIExtendedOp::create(b, loc, ci32(int32_t(kPhiloxM1)), x[2]);
      x = SmallVector<Value, 4>{xori(xori(p1.getHigh(), x[1]), k0), p1.getLow(),
                                xori(xori(p0.getHigh(), x[3]), k1), p0.getLow()};
      if (round < 9) {
        k0 = add(k0, ci32(int32_t(kPhiloxW0)));
        k1 = add(k1, ci32(int32_t(kPhiloxW1)));
      }
    }
    return x;
  }
  /// Dropout words for key block n: [(mt * NT + j) * 4 + half * 2 + e].
  SmallVector<Value> dropoutWords(Value n) {
    const int MT = g.mTilesPerWarp, NT = g.blockN / 8;
    SmallVector<Value> words;
    for (int mt = 0; mt < MT; ++mt)
      for (int j = 0; j < NT; ++j)
        words.append(philox(keyOf(n, j, 0), threadRow(mt, 0)));
    return words;
  }

  //--- one key block -------------------------------------------------------//
  void emitBlock(Value n, bool masked, SmallVector<Value> &acc, SmallVector<Value> &rowMax,
                 SmallVector<Value> &rowSum);

  OpBuilder &b;
  Location loc;
  const AttentionSpec &spec;
  const FlashGeometry &g;
  MLIRContext *ctx;
  Type i8, i32, i64, f32, ptrG, ptrS;
  Type elt;   ///< element type of q, k, v, out in global memory
  Type opElt; ///< MMA operand element type (bf16 for f32 inputs)
  bool split = false; ///< f32 inputs: bf16 hi/lo planes and three MMAs per product
  int cpr = 0, pitchChunks = 0;
  bool isSdpa = false;

  // Values live across the kernel body.
  Value smemBase, tid, lane, warp;
  Value seqQ, seqK, causalOffset, m0, scaleLog2, nEnd;
  /// Multiplies scores in the softmax: scale_log2, or 1 when an additive mask
  /// already moved them into the scaled log2 domain.
  Value softmaxScale;
  // SDPA: mask and dropout.
  Value maskBase, maskColStride;
  SmallVector<Value> maskRowBase; ///< per accumulator row (one entry when per key)
  Value dropThreshold, dropScale, philoxBH, philoxOffLo, philoxK0, philoxK1;
  Value kBase, vBase, kRowStride, vRowStride;
  CopyPlan kPlan, vPlan;
  LdmBases qLdm, kLdm, vLdm; ///< per-lane ldmatrix bases
};

void FlashSm80Emitter::emitBlock(Value n, bool masked, SmallVector<Value> &acc,
                                 SmallVector<Value> &rowMax, SmallVector<Value> &rowSum) {
  const int MT = g.mTilesPerWarp, NT = g.blockN / 8, DT = g.headDim / 8;
  const int KS = g.headDim / 16;

  // Per-key mask values first: their loads overlap the barrier and the MMAs.
  SmallVector<Value> keyMask;
  if (spec.maskPerKey)
    keyMask = loadKeyMask(n);

  // Prefetch block n + stages - 1 into the slot block n - 1 used.
  NVVM::CpAsyncWaitGroupOp::create(b, loc, g.stages - 2);
  NVVM::Barrier0Op::create(b, loc);
  Value next = add(n, ci32(g.stages - 1));
  loadKVBlockAndCommit(next, remui(next, g.stages));

  Value slot = remui(n, g.stages);
  Value kTile = kSlotOffset(slot);
  Value vTile = vSlotOffset(slot);

  // S = Q K^T.
  // f32 inputs: s += q_lo k_hi + q_hi k_lo + q_hi k_hi (small terms first).
  SmallVector<Value> s(MT * NT * 4, cf32(0.0));
  for (int ks = 0; ks < KS; ++ks) {
    SmallVector<std::pair<SmallVector<Value, 4>, SmallVector<Value, 4>>> qa; // (hi, lo)
    for (int mt = 0; mt < MT; ++mt)
      qa.push_back(ldmatrix4Planes(ldmOffset(qLdm, Value(), mt * 16, 2 * ks), false,
                                   g.qPlaneBytes));
    for (int jp = 0; jp < NT / 2; ++jp) {
      auto [kb, kbLo] =
          ldmatrix4Planes(ldmOffset(kLdm, kTile, jp * 16, 2 * ks), false, g.kvPlaneBytes);
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
  Value negInf = cf32(-std::numeric_limits<double>::infinity());
  if (masked) {
    for (int mt = 0; mt < MT; ++mt) {
      for (int half = 0; half < 2; ++half) {
        Value limit = seqK;
        if (spec.causal) {
          // key <= q + causalOffset  <=>  key < q + causalOffset + 1
          Value diag = add(add(threadRow(mt, half), ci32(1)), causalOffset);
          limit = minsi(limit, diag);
        }
        for (int j = 0; j < NT; ++j)
          for (int e = 0; e < 2; ++e) {
            Value ok = cmpi(arith::CmpIPredicate::slt, keyOf(n, j, e), limit);
            Value &v = s[(mt * NT + j) * 4 + half * 2 + e];
            v = select(ok, v, negInf);
          }
      }
    }
  }

  if (spec.maskKind != MaskKind::None)
    applyUserMask(n, masked, keyMask, s);
  SmallVector<Value> keepWords; // dropout: 4 Philox words per (m-tile, n-tile)
  if (spec.dropout)
    keepWords = dropoutWords(n);

  // Online softmax per row (two rows per thread per m-tile: lane/4 and +8).
  // Block maxima first (including the running max), reduced over the quad.
  const int R = MT * 2;
  SmallVector<Value> blockMax(R);
  for (int r = 0; r < R; ++r) {
    int mt = r / 2, half = r % 2;
    Value mx = rowMax[r];
    for (int j = 0; j < NT; ++j)
      for (int e = 0; e < 2; ++e)
        mx = fmax(mx, s[(mt * NT + j) * 4 + half * 2 + e]);
    mx = fmax(mx, shflXor(mx, 1));
    blockMax[r] = fmax(mx, shflXor(mx, 2));
  }
  // Scaled max; 0 when the row has seen no visible key (avoids inf - inf).
  auto scaledMax = [&](Value mx) {
    Value isEmpty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mx, negInf);
    return select(isEmpty, cf32(0.0), fmul(mx, softmaxScale));
  };
  // The running max moves (and O and the row sums are rescaled by
  // alpha = exp2(old - new)) only when some row of the warp grew by more than
  // kRescaleSlack in the scaled log2 domain; otherwise the block's
  // probabilities use the stale max and are at most 2^kRescaleSlack, which
  // fp32 sums and 16-bit P carry without loss of relative precision. With
  // random or trained inputs the max settles after a few blocks, so the 4 *
  // head_dim multiplies per row pair and block are mostly skipped. The
  // branch is warp-uniform (vote.any).
  {
    Value anyGrow;
    for (int r = 0; r < R; ++r) {
      Value grow = fma(blockMax[r], softmaxScale,
                       arith::NegFOp::create(b, loc, fmul(rowMax[r], softmaxScale)));
      // NaN (both -inf) compares false: an empty row never forces a rescale.
      Value g = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, grow, cf32(kRescaleSlack));
      anyGrow = anyGrow ? arith::OrIOp::create(b, loc, anyGrow, g).getResult() : g;
    }
    Value vote = NVVM::VoteSyncOp::create(b, loc, b.getI1Type(), ci32(-1), anyGrow,
                                          NVVM::VoteSyncKind::any);
    SmallVector<Type> types(R * 2 + acc.size(), f32);
    auto ifOp = scf::IfOp::create(b, loc, types, vote, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(&ifOp.getThenRegion().front());
      // Results: R maxima, R row sums, then O.
      auto yieldState = [&](ArrayRef<Value> maxes, ArrayRef<Value> sums, ArrayRef<Value> o) {
        SmallVector<Value> state(maxes.begin(), maxes.end());
        state.append(sums.begin(), sums.end());
        state.append(o.begin(), o.end());
        scf::YieldOp::create(b, loc, state);
      };
      SmallVector<Value> newAcc(acc.begin(), acc.end()), newSum(R);
      for (int r = 0; r < R; ++r) {
        int mt = r / 2, half = r % 2;
        Value alpha = exp2(fma(rowMax[r], softmaxScale,
                               arith::NegFOp::create(b, loc, scaledMax(blockMax[r]))));
        newSum[r] = fmul(rowSum[r], alpha);
        for (int d = 0; d < DT; ++d)
          for (int e = 0; e < 2; ++e) {
            Value &o = newAcc[(mt * DT + d) * 4 + half * 2 + e];
            o = fmul(o, alpha);
          }
      }
      yieldState(blockMax, newSum, newAcc);
      b.setInsertionPointToStart(&ifOp.getElseRegion().front());
      yieldState(rowMax, rowSum, acc);
    }
    for (int r = 0; r < R; ++r) {
      rowMax[r] = ifOp.getResult(r);
      rowSum[r] = ifOp.getResult(R + r);
    }
    for (size_t i = 0; i < acc.size(); ++i)
      acc[i] = ifOp.getResult(2 * R + i);
  }

  SmallVector<Value> p(MT * NT * 2);   // packed 16-bit pairs
  SmallVector<Value> pLo(MT * NT * 2); // f32 inputs: what bf16 rounding of p lost
  for (int r = 0; r < R; ++r) {
    int mt = r / 2, half = r % 2;
    Value negM = arith::NegFOp::create(b, loc, scaledMax(rowMax[r]));
    Value sum;
    for (int j = 0; j < NT; ++j) {
      Value e[2];
      for (int x = 0; x < 2; ++x)
        e[x] = exp2(fma(s[(mt * NT + j) * 4 + half * 2 + x], softmaxScale, negM));
      // The row sum counts every probability; dropout zeroes some in P only.
      Value pairSum = fadd(e[0], e[1]);
      sum = sum ? fadd(sum, pairSum) : pairSum;
      if (spec.dropout)
        for (int x = 0; x < 2; ++x) {
          Value word = keepWords[(mt * NT + j) * 4 + half * 2 + x];
          Value keep = cmpi(arith::CmpIPredicate::uge, word, dropThreshold);
          e[x] = select(keep, e[x], cf32(0.0));
        }
      if (split)
        std::tie(p[(mt * NT + j) * 2 + half], pLo[(mt * NT + j) * 2 + half]) =
            pack2Split(e[0], e[1]);
      else
        p[(mt * NT + j) * 2 + half] = pack2(e[0], e[1]);
    }
    rowSum[r] = fadd(rowSum[r], sum);
  }

  // O += P V (f32 inputs: p_lo v_hi + p_hi v_lo + p_hi v_hi).
  auto aFrag = [&](const SmallVector<Value> &pp, int mt, int ks) {
    return SmallVector<Value, 4>{pp[(mt * NT + 2 * ks) * 2 + 0], pp[(mt * NT + 2 * ks) * 2 + 1],
                                 pp[(mt * NT + 2 * ks + 1) * 2 + 0],
                                 pp[(mt * NT + 2 * ks + 1) * 2 + 1]};
  };
  for (int ks = 0; ks < g.blockN / 16; ++ks) {
    for (int dp = 0; dp < DT / 2; ++dp) {
      auto [vb, vbLo] =
          ldmatrix4Planes(ldmOffset(vLdm, vTile, ks * 16, 2 * dp), true, g.kvPlaneBytes);
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

} // namespace

gpu::GPUFuncOp FlashSm80Emitter::emit(gpu::GPUModuleOp module) {
  const int MT = g.mTilesPerWarp, DT = g.headDim / 8;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());

  // Dynamic shared memory: one external addrspace(3) array.
  std::string smemName = spec.kernelName() + "_smem";
  LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(i8, 0), /*isConstant=*/false,
                         LLVM::Linkage::External, smemName, Attribute(), /*alignment=*/1024,
                         /*addrSpace=*/3);

  // SDPA kernels take the flash parameters followed by the mask and dropout ones.
  SmallVector<AbiParam> params(std::begin(kFlashParams), std::end(kFlashParams));
  if (isSdpa)
    params.append(std::begin(kSdpaExtraParams), std::end(kSdpaExtraParams));
  SmallVector<Type> argTypes;
  for (const AbiParam &p : params) {
    switch (p.type) {
    case AbiType::Ptr: argTypes.push_back(ptrG); break;
    case AbiType::I32: argTypes.push_back(i32); break;
    case AbiType::I64: argTypes.push_back(i64); break;
    case AbiType::F32: argTypes.push_back(f32); break;
    }
  }
  auto fn = gpu::GPUFuncOp::create(b, loc, spec.kernelName(), b.getFunctionType(argTypes, {}));
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({g.threads, 1, 1}));
  fn->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);
  auto arg = [&](const char *name) -> Value {
    for (size_t i = 0; i < params.size(); ++i)
      if (std::string_view(params[i].name) == name)
        return entry.getArgument(i);
    llvm_unreachable("unknown kernel ABI parameter");
  };

  smemBase = LLVM::AddressOfOp::create(b, loc, ptrS, smemName);
  auto toI32 = [&](Value idx) { return arith::IndexCastUIOp::create(b, loc, i32, idx).getResult(); };
  tid = toI32(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x));
  lane = andi(tid, 31);
  warp = shrui(tid, 5);
  Value bx = toI32(gpu::BlockIdOp::create(b, loc, gpu::Dimension::x));
  Value head = toI32(gpu::BlockIdOp::create(b, loc, gpu::Dimension::y));
  Value batch = toI32(gpu::BlockIdOp::create(b, loc, gpu::Dimension::z));
  seqQ = arg("seqlen_q");
  seqK = arg("seqlen_k");
  scaleLog2 = arg("scale_log2");
  // Causal alignment: flash aligns the last query with the last key
  // (FlashAttention-2); sdpa aligns the first ones (torch's is_causal).
  causalOffset = isSdpa ? ci32(0) : sub(seqK, seqQ);
  softmaxScale = spec.maskKind == MaskKind::Additive ? cf32(1.0) : scaleLog2;
  Value numMBlocks = toI32(gpu::GridDimOp::create(b, loc, gpu::Dimension::x));
  // Causal: the heaviest query blocks (last rows) start first.
  Value mBlock = spec.causal ? sub(sub(numMBlocks, ci32(1)), bx) : bx;
  m0 = mul(mBlock, ci32(g.blockM));
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
  Value rowBytes = ci32(pitchChunks * 16);
  Value qRowLocal = andi(lane, 15);
  qLdm = ldmBases(mul(add(mul(warp, ci32(16 * MT)), qRowLocal), rowBytes),
                 ldmXorTerm(qRowLocal, shrui(lane, 4)));
  Value kRowLocal = add(mul(andi(shrui(lane, 4), 1), ci32(8)), andi(lane, 7));
  kLdm = ldmBases(mul(kRowLocal, rowBytes), ldmXorTerm(kRowLocal, andi(shrui(lane, 3), 1)));
  Value vRowLocal = add(mul(andi(shrui(lane, 3), 1), ci32(8)), andi(lane, 7));
  vLdm = ldmBases(mul(vRowLocal, rowBytes), ldmXorTerm(vRowLocal, andi(shrui(lane, 4), 1)));

  if (spec.maskKind != MaskKind::None) {
    int maskBytes = spec.maskKind == MaskKind::Additive ? g.eltBytes : 1;
    Value off = arith::AddIOp::create(b, loc, mul(ext64(batch), arg("mask_batch_stride")),
                                      mul(ext64(head), arg("mask_head_stride")));
    maskBase = gepG(arg("mask"), mul(off, ci64(maskBytes)));
    maskColStride = arg("mask_col_stride");
    if (spec.maskPerKey) {
      maskRowBase.push_back(maskBase);
    } else {
      // Rows past Sq read the last row's entries (their results are not stored).
      Value lastRow = sub(seqQ, ci32(1));
      for (int r = 0; r < MT * 2; ++r) {
        Value row = minsi(threadRow(r / 2, r % 2), lastRow);
        maskRowBase.push_back(
            gepG(maskBase, mul(mul(ext64(row), arg("mask_row_stride")), ci64(maskBytes))));
      }
    }
  }
  if (spec.dropout) {
    auto lo32 = [&](Value v) { return arith::TruncIOp::create(b, loc, i32, v).getResult(); };
    auto hi32 = [&](Value v) {
      return lo32(arith::ShRUIOp::create(b, loc, v, ci64(32)).getResult());
    };
    dropThreshold = arg("dropout_threshold");
    dropScale = arg("dropout_scale");
    philoxBH = add(mul(batch, arg("num_heads")), head);
    philoxOffLo = lo32(arg("offset"));
    philoxK0 = lo32(arg("seed"));
    philoxK1 = xori(hi32(arg("seed")), hi32(arg("offset")));
  }

  // Prologue: Q with key block 0 in group 0, then blocks 1..stages-2.
  copyTile(qPlan, qBase, m0, seqQ, qRowStride, ci32(0), g.qPlaneBytes);
  for (int st = 0; st < g.stages - 1; ++st)
    loadKVBlockAndCommit(ci32(st), ci32(st));

  // Loop state: acc[MT][DT][4], rowMax[MT*2], rowSum[MT*2].
  Value negInf = cf32(-std::numeric_limits<double>::infinity());
  SmallVector<Value> init(MT * DT * 4, cf32(0.0));
  for (int r = 0; r < MT * 2; ++r)
    init.push_back(negInf);
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
  NVVM::CpAsyncWaitGroupOp::create(b, loc, 0);

  // Epilogue: finish row sums across the quad, normalize, store O (and LSE).
  SmallVector<Value> acc(state.begin(), state.begin() + MT * DT * 4);
  for (int mt = 0; mt < MT; ++mt) {
    for (int half = 0; half < 2; ++half) {
      int r = mt * 2 + half;
      Value sum = state[MT * DT * 4 + MT * 2 + r];
      sum = fadd(sum, shflXor(sum, 1));
      sum = fadd(sum, shflXor(sum, 2));
      Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, sum, cf32(0.0));
      Value inv = select(empty, cf32(0.0), arith::DivFOp::create(b, loc, cf32(1.0), sum));
      if (spec.dropout)
        inv = fmul(inv, dropScale);
      Value row = threadRow(mt, half);
      Value inRange = cmpi(arith::CmpIPredicate::slt, row, seqQ);
      auto ifOp = scf::IfOp::create(b, loc, inRange, false);
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
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
        auto lseIf = scf::IfOp::create(b, loc, isLane0, false);
        OpBuilder::InsertionGuard g3(b);
        b.setInsertionPoint(lseIf.thenBlock()->getTerminator());
        Value mx = state[MT * DT * 4 + r];
        Value log2Sum = log2(sum);
        Value lse = fmul(fma(mx, scaleLog2, log2Sum), cf32(std::log(2.0)));
        lse = select(empty, cf32(-std::numeric_limits<double>::infinity()), lse);
        // lse is [B, H, Sq] contiguous.
        Value numHeads = arg("num_heads");
        Value idx = arith::AddIOp::create(
            b, loc, mul(add(mul(ext64(batch), ext64(numHeads)), ext64(head)), ext64(seqQ)),
            ext64(row));
        Value lsePtr = gepG(arg("lse"), mul(idx, ci64(4)));
        LLVM::StoreOp::create(b, loc, lse, lsePtr, /*alignment=*/4);
      }
    }
  }
  gpu::ReturnOp::create(b, loc);
  return fn;
}

gpu::GPUFuncOp emitFlashSm80Kernel(OpBuilder &builder, Location loc, gpu::GPUModuleOp module,
                                   const AttentionSpec &spec) {
  FlashGeometry g;
  std::string err = FlashGeometry::compute(spec, g);
  if (!err.empty())
    llvm::report_fatal_error(llvm::Twine("emitFlashSm80Kernel: ") + err);
  FlashSm80Emitter emitter(builder, loc, spec, g);
  return emitter.emit(module);
}

} // namespace attnjit::kernels

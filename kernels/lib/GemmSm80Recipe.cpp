//===- GemmSm80Recipe.cpp - y = x w^T + bias on the sm_80 layer -----------===//
//
// Part of attnjit.
//
// The projections of the attention layers (GemmKernelABI.h): x [M, K] and
// w [N, K] (torch.nn.Linear's weight), both K-contiguous, give y [M, N] with
// the bias [N] added in the epilogue when has_bias is set. M, N, K and the row
// strides are run-time values; M and N tails are masked, K must be a multiple
// of 8 (one 16-byte chunk of 16-bit elements, the unit the copies move).
//
// f16/bf16: one CTA computes a block_m x block_n tile of y. K streams in
// 32-element slices of x and w through a `stages`-deep cp.async ring
// (zero-filled past M, N and K) into XOR-swizzled shared memory. Warps form a
// (warps / 2) x 2 grid; each owns a (block_m / (warps / 2)) x (block_n / 2)
// sub-tile of m16n8k16 MMAs (ldmatrix for both operands: x rows are the A
// operand, w rows the B operand, exactly as Q and K in the flash recipe's
// S = Q K^T), accumulating in fp32.
//
// f32: a simple, exact path: fp32 FMAs (no TF32 rounding), each thread
// computing 4 x 4 outputs from 16-byte loads of x and w rows that L1 keeps.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/KernelBuilder.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Kernels/SharedLayout.h"
#include "attnjit/Kernels/Sm80Instructions.h"
#include "attnjit/Core/GemmKernelABI.h"

#include "GemmEmitterBase.h"

#include <fmt/format.h>

#include <cassert>

using namespace mlir;

namespace attnjit::kernels {
namespace {

/// K elements per pipeline slice (four 16-byte chunks of 16-bit elements).
constexpr int kSliceK = 32;
constexpr int kChunksPerRow = kSliceK / 8;
constexpr int kSliceRowBytes = kSliceK * 2;
/// Outputs per thread along each dim of the f32 path.
constexpr int kF32ThreadTile = 4;

/// Static shape of one kernel.
struct GemmGeometry {
  bool f32 = false;
  int blockM = 0, blockN = 0, numWarps = 0, stages = 0, threads = 0;
  int warpsM = 0, warpsN = 0; ///< 16-bit: the warp grid
  int mTiles = 0, nTiles = 0; ///< 16-bit: m16 and n8 MMA tiles per warp
  int xTileBytes = 0, wTileBytes = 0, smemBytes = 0;

  static std::string compute(const AttentionSpec &spec, GemmGeometry &g);
};

std::string GemmGeometry::compute(const AttentionSpec &spec, GemmGeometry &g) {
  const KernelConfig &c = spec.config;
  if (!c.isComplete())
    return "config: incomplete (" + c.str() + ")";
  if (spec.variant != Variant::Gemm)
    return fmt::format("variant: the gemm recipe emits gemm kernels, got {}",
                       toString(spec.variant));
  if (spec.dtype != DType::F16 && spec.dtype != DType::BF16 && spec.dtype != DType::F32)
    return fmt::format("dtype: gemm supports f16, bf16 and f32, got {}", toString(spec.dtype));
  g.f32 = spec.dtype == DType::F32;
  g.blockM = c.blockM;
  g.blockN = c.blockN;
  g.numWarps = c.numWarps;
  g.stages = c.stages;
  g.threads = 32 * c.numWarps;
  if (g.f32) {
    // One thread per 4 x 4 outputs; no shared memory, no pipeline.
    if (c.stages != 1)
      return fmt::format("config: the f32 gemm has no pipeline: stages must be 1, got {}",
                         c.stages);
    if (c.blockM % kF32ThreadTile != 0 || c.blockN % kF32ThreadTile != 0 ||
        (c.blockM / kF32ThreadTile) * (c.blockN / kF32ThreadTile) != g.threads)
      return fmt::format("config: the f32 gemm computes 4 x 4 outputs per thread: block_m and "
                         "block_n must be multiples of 4 with (block_m / 4) * (block_n / 4) = "
                         "32 * warps ({}), got {} x {}",
                         g.threads, c.blockM, c.blockN);
    return {};
  }
  if (c.numWarps != 2 && c.numWarps != 4 && c.numWarps != 8)
    return fmt::format("config: gemm takes 2, 4 or 8 warps, got {}", c.numWarps);
  g.warpsN = 2;
  g.warpsM = c.numWarps / 2;
  if (c.blockM % (16 * g.warpsM) != 0 || c.blockM > 256)
    return fmt::format("config: block_m must be a multiple of 16 * warps / 2 ({}) and at most "
                       "256, got {}",
                       16 * g.warpsM, c.blockM);
  if (c.blockN % (16 * g.warpsN) != 0 || c.blockN > 256)
    return fmt::format("config: block_n must be a multiple of 32 (16 per warp column) and at "
                       "most 256, got {}",
                       c.blockN);
  g.mTiles = c.blockM / (16 * g.warpsM);
  g.nTiles = c.blockN / (8 * g.warpsN);
  // Accumulators stay in registers: at most 64 x 64 per warp.
  if (g.mTiles * g.nTiles > 32)
    return fmt::format("config: a warp's tile of {} x {} outputs exceeds 64 x 64 (the "
                       "accumulators live in registers)",
                       16 * g.mTiles, 8 * g.nTiles);
  if (c.stages < 2 || c.stages > 6)
    return fmt::format("config: stages must be 2..6, got {}", c.stages);
  if ((c.blockM * kChunksPerRow) % g.threads != 0 || (c.blockN * kChunksPerRow) % g.threads != 0)
    return fmt::format("config: block_m and block_n times {} chunks must be multiples of the "
                       "{} threads, got {} and {}",
                       kChunksPerRow, g.threads, c.blockM, c.blockN);
  g.xTileBytes = c.blockM * kSliceRowBytes;
  g.wTileBytes = c.blockN * kSliceRowBytes;
  g.smemBytes = c.stages * (g.xTileBytes + g.wTileBytes);
  if (int limit = archMaxSharedBytes(spec.arch); limit > 0 && g.smemBytes > limit)
    return fmt::format("config: {} needs {} bytes of shared memory, {} allows at most {}",
                       c.str(), g.smemBytes, spec.arch, limit);
  return {};
}

/// The config table. 16-bit: 128 x 128 tiles of four 64 x 64 warp tiles and
/// a three-slice ring, the classic Ampere shape: the layer's projections (M =
/// batch * graph = 51200, N = 384 or 768, K = 128 or 256) are bound by reading
/// x and writing y, and this tile reads x N / 128 times from L2 while keeping
/// the MMA pipes busy. f32: 64 x 64 tiles of 4 x 4 per thread.
KernelConfig gemmSm80Config(const AttentionSpec &spec) {
  KernelConfig c = spec.config;
  KernelConfig def =
      spec.dtype == DType::F32 ? KernelConfig{64, 64, 8, 1} : KernelConfig{128, 128, 4, 3};
  if (c.blockM == 0) c.blockM = def.blockM;
  if (c.blockN == 0) c.blockN = def.blockN;
  if (c.numWarps == 0) c.numWarps = def.numWarps;
  if (c.stages == 0) c.stages = def.stages;
  return c;
}

//===----------------------------------------------------------------------===//
// f16/bf16: cp.async ring, ldmatrix, mma.sync
//===----------------------------------------------------------------------===//

class GemmSm80Emitter : public GemmEmitterBase {
public:
  GemmSm80Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const GemmGeometry &g)
      : GemmEmitterBase(b, loc, spec), g(g), sm80(*this), layout(*this, kChunksPerRow) {}

  void emit(gpu::GPUModuleOp module);

private:
  /// One operand's share of a slice copy: per copy round, the thread's shared
  /// offset within the tile, its global row (clamped in range) and whether
  /// that row exists, and its chunk.
  struct CopyPlan {
    Value base; ///< the operand's pointer: what chunks that copy nothing point at
    SmallVector<Value> smemOff, rowPtr, rowOk, colOff;
  };
  CopyPlan planCopy(int rows, Value row0, Value rowLimit, const char *base,
                    const char *rowStride);
  /// Issues the cp.async of slice `kt` (columns kt * 32 ...) of one operand
  /// into the tile at `tileOff`.
  void copySlice(const CopyPlan &p, Value k0, Value tileOff);
  /// Copies slice kt into ring slot kt % stages when kt < numK; commits a
  /// group either way, so every thread counts groups alike.
  void loadSliceAndCommit(Value kt) {
    ifThen(cmpi(arith::CmpIPredicate::slt, kt, numK), [&] {
      Value slot = remui(kt, g.stages);
      Value k0 = mul(kt, ci32(kSliceK));
      copySlice(xPlan, k0, xSlot(slot));
      copySlice(wPlan, k0, wSlot(slot));
    });
    sm80.cpAsyncCommit();
  }
  Value xSlot(Value slot) { return mul(slot, ci32(g.xTileBytes)); }
  Value wSlot(Value slot) {
    return add(ci32(g.stages * g.xTileBytes), mul(slot, ci32(g.wTileBytes)));
  }
  MmaOperand mmaType() const {
    return spec.dtype == DType::F16 ? MmaOperand::F16 : MmaOperand::BF16;
  }

  const GemmGeometry &g;
  Sm80Instructions sm80;
  SwizzledTileLayout layout;
  Value tid, lane, numK;
  CopyPlan xPlan, wPlan;
  SwizzledTileLayout::LdmBases aLdm, bLdm;
};

GemmSm80Emitter::CopyPlan GemmSm80Emitter::planCopy(int rows, Value row0, Value rowLimit,
                                                    const char *base, const char *rowStride) {
  CopyPlan p;
  p.base = arg(base);
  for (int it = 0; it < rows * kChunksPerRow / g.threads; ++it) {
    Value idx = add(tid, ci32(it * g.threads));
    Value row = divui(idx, kChunksPerRow), chunk = remui(idx, kChunksPerRow);
    Value gRow = add(row0, row);
    Value ok = cmpi(arith::CmpIPredicate::slt, gRow, rowLimit);
    // Rows past the end read nothing (size 0) from a valid address.
    Value safeRow = select(ok, gRow, ci32(0));
    p.smemOff.push_back(layout.offset(row, chunk));
    p.colOff.push_back(mul(chunk, ci32(8)));
    p.rowPtr.push_back(elemPtr(base, safeRow, mul(chunk, ci32(8)), rowStride));
    p.rowOk.push_back(ok);
  }
  return p;
}

void GemmSm80Emitter::copySlice(const CopyPlan &p, Value k0, Value tileOff) {
  for (size_t i = 0; i < p.smemOff.size(); ++i) {
    // K is a multiple of 8: a chunk is wholly inside or wholly past it.
    Value ok = arith::AndIOp::create(
        b, loc, p.rowOk[i], cmpi(arith::CmpIPredicate::slt, add(k0, p.colOff[i]), arg("k")));
    // Chunks past M, N or K copy nothing, from the operand's base address.
    Value src = select(ok, gepG(p.rowPtr[i], ext64(mul(k0, ci32(eltBytes)))), p.base);
    sm80.cpAsync(gepS(add(tileOff, p.smemOff[i])), src, 16, select(ok, ci32(16), ci32(0)));
  }
}

void GemmSm80Emitter::emit(gpu::GPUModuleOp module) {
  const int MT = g.mTiles, NT = g.nTiles;
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  std::string smemName = spec.kernelName() + "_smem";
  declareDynamicSmem(smemName);
  fn = createKernel(module, spec.kernelName(), kGemmParams, g.threads);
  bindDynamicSmem(smemName);

  tid = threadIdX();
  lane = andi(tid, 31);
  Value warp = shrui(tid, 5);
  Value warpM = divui(warp, g.warpsN), warpN = remui(warp, g.warpsN);
  Value m0 = mul(blockId(gpu::Dimension::x), ci32(g.blockM));
  Value n0 = mul(blockId(gpu::Dimension::y), ci32(g.blockN));
  numK = arith::CeilDivSIOp::create(b, loc, arg("k"), ci32(kSliceK));

  xPlan = planCopy(g.blockM, m0, arg("m"), "x", "x_row_stride");
  wPlan = planCopy(g.blockN, n0, arg("n"), "w", "w_row_stride");
  // ldmatrix addressing, as Q (A operand) and K (B operand) in the flash recipe.
  Value rowBytes = ci32(layout.rowBytes());
  Value aRowLocal = andi(lane, 15);
  aLdm = layout.ldmBases(mul(add(mul(warpM, ci32(16 * MT)), aRowLocal), rowBytes),
                         layout.ldmXorTerm(aRowLocal, shrui(lane, 4)));
  Value bRowLocal = add(mul(andi(shrui(lane, 4), 1), ci32(8)), andi(lane, 7));
  bLdm = layout.ldmBases(mul(add(mul(warpN, ci32(8 * NT)), bRowLocal), rowBytes),
                         layout.ldmXorTerm(bRowLocal, andi(shrui(lane, 3), 1)));

  // Prologue: slices 0 .. stages - 2.
  for (int st = 0; st < g.stages - 1; ++st)
    loadSliceAndCommit(ci32(st));

  SmallVector<Value> init(MT * NT * 4, cf32(0.0));
  auto loop = scf::ForOp::create(b, loc, ci32(0), numK, ci32(1), init);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPointToStart(loop.getBody());
    Value kt = loop.getInductionVar();
    SmallVector<Value> acc(loop.getRegionIterArgs().begin(), loop.getRegionIterArgs().end());
    // Slice kt has landed, and every warp is done with the slot it replaces.
    sm80.cpAsyncWait(g.stages - 2);
    sm80.barrier();
    loadSliceAndCommit(add(kt, ci32(g.stages - 1)));
    Value slot = remui(kt, g.stages);
    Value xTile = xSlot(slot), wTile = wSlot(slot);
    for (int ks = 0; ks < kSliceK / 16; ++ks) {
      SmallVector<SmallVector<Value, 4>> a;
      for (int mt = 0; mt < MT; ++mt)
        a.push_back(sm80.ldmatrix4(layout.ldmOffset(aLdm, xTile, mt * 16, 2 * ks), false));
      for (int jp = 0; jp < NT / 2; ++jp) {
        SmallVector<Value, 4> bw =
            sm80.ldmatrix4(layout.ldmOffset(bLdm, wTile, jp * 16, 2 * ks), false);
        for (int mt = 0; mt < MT; ++mt)
          for (int h = 0; h < 2; ++h) {
            MutableArrayRef<Value> c(&acc[(mt * NT + 2 * jp + h) * 4], 4);
            sm80.mma(mmaType(), a[mt], {bw[2 * h], bw[2 * h + 1]}, c);
          }
      }
    }
    scf::YieldOp::create(b, loc, acc);
  }
  sm80.cpAsyncWait(0);

  // Epilogue: + bias, round, store (pairs where both columns exist).
  Value rowBase = add(add(m0, mul(warpM, ci32(16 * MT))), shrui(lane, 2));
  Value colBase = add(add(n0, mul(warpN, ci32(8 * NT))), mul(andi(lane, 3), ci32(2)));
  for (int j = 0; j < NT; ++j) {
    Value col = add(colBase, ci32(8 * j));
    Value col1 = add(col, ci32(1));
    Value bias0 = loadBias(col), bias1 = loadBias(col1);
    Value pairOk = cmpi(arith::CmpIPredicate::slt, col1, arg("n"));
    for (int mt = 0; mt < MT; ++mt)
      for (int half = 0; half < 2; ++half) {
        Value row = add(rowBase, ci32(16 * mt + 8 * half));
        Value y0 = fadd(loop.getResult((mt * NT + j) * 4 + 2 * half), bias0);
        Value y1 = fadd(loop.getResult((mt * NT + j) * 4 + 2 * half + 1), bias1);
        auto ifPair = scf::IfOp::create(
            b, loc, arith::AndIOp::create(b, loc, pairOk,
                                          cmpi(arith::CmpIPredicate::slt, row, arg("m"))),
            /*withElse=*/true);
        OpBuilder::InsertionGuard g3(b);
        b.setInsertionPoint(ifPair.thenBlock()->getTerminator());
        LLVM::StoreOp::create(b, loc, sm80.pack2(elt, y0, y1),
                              elemPtr("y", row, col, "y_row_stride"), 4);
        b.setInsertionPoint(ifPair.elseBlock()->getTerminator());
        storeGuarded(row, col, y0); // the last column of an odd N
      }
  }
  gpu::ReturnOp::create(b, loc);
}

//===----------------------------------------------------------------------===//
// f32: fp32 FMA tiles
//===----------------------------------------------------------------------===//

class GemmF32Emitter : public GemmEmitterBase {
public:
  GemmF32Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec, const GemmGeometry &g)
      : GemmEmitterBase(b, loc, spec), g(g) {}

  void emit(gpu::GPUModuleOp module) {
    constexpr int T = kF32ThreadTile;
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    fn = createKernel(module, spec.kernelName(), kGemmParams, g.threads);
    Value tid = threadIdX();
    const int tCols = g.blockN / T;
    Value row0 = add(mul(blockId(gpu::Dimension::x), ci32(g.blockM)),
                     mul(divui(tid, tCols), ci32(T)));
    Value col0 = add(mul(blockId(gpu::Dimension::y), ci32(g.blockN)),
                     mul(remui(tid, tCols), ci32(T)));
    // Rows and columns past M and N read row 0 (in bounds) and store nothing.
    auto rowPtrs = [&](Value first, const char *limit, const char *base, const char *stride) {
      SmallVector<Value> ptrs;
      for (int i = 0; i < T; ++i) {
        Value r = add(first, ci32(i));
        r = select(cmpi(arith::CmpIPredicate::slt, r, arg(limit)), r, ci32(0));
        ptrs.push_back(elemPtr(base, r, ci32(0), stride));
      }
      return ptrs;
    };
    SmallVector<Value> xPtr = rowPtrs(row0, "m", "x", "x_row_stride");
    SmallVector<Value> wPtr = rowPtrs(col0, "n", "w", "w_row_stride");
    auto v4 = VectorType::get({4}, f32);

    SmallVector<Value> init(T * T, cf32(0.0));
    // K is a multiple of 8, so 4-element steps cover it exactly.
    auto loop = scf::ForOp::create(b, loc, ci32(0), arg("k"), ci32(4), init);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(loop.getBody());
      Value kOff = ext64(mul(loop.getInductionVar(), ci32(4)));
      SmallVector<Value> acc(loop.getRegionIterArgs().begin(), loop.getRegionIterArgs().end());
      auto load4 = [&](Value ptr) {
        Value v = LLVM::LoadOp::create(b, loc, v4, gepG(ptr, kOff), 16);
        SmallVector<Value, 4> e;
        for (int i = 0; i < 4; ++i)
          e.push_back(LLVM::ExtractElementOp::create(b, loc, v, ci32(i)));
        return e;
      };
      SmallVector<SmallVector<Value, 4>> xs, ws;
      for (int i = 0; i < T; ++i) {
        xs.push_back(load4(xPtr[i]));
        ws.push_back(load4(wPtr[i]));
      }
      for (int e = 0; e < 4; ++e)
        for (int r = 0; r < T; ++r)
          for (int c = 0; c < T; ++c)
            acc[r * T + c] = fma(xs[r][e], ws[c][e], acc[r * T + c]);
      scf::YieldOp::create(b, loc, acc);
    }
    for (int c = 0; c < T; ++c) {
      Value col = add(col0, ci32(c));
      Value bias = loadBias(col);
      for (int r = 0; r < T; ++r)
        storeGuarded(add(row0, ci32(r)), col, fadd(loop.getResult(r * T + c), bias));
    }
    gpu::ReturnOp::create(b, loc);
  }

private:
  const GemmGeometry &g;
};

//===----------------------------------------------------------------------===//
// The recipe
//===----------------------------------------------------------------------===//

class GemmSm80Recipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "gemm-sm80"; }
  bool servesVariant(Variant v) const override { return v == Variant::Gemm; }
  int minCapability() const override { return 80; }
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    return gemmSm80Config(spec);
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    GemmGeometry g;
    if (std::string err = GemmGeometry::compute(spec, g); !err.empty())
      return err;
    out.threads = g.threads;
    out.sharedMemBytes = g.smemBytes;
    out.rowsPerCta = g.blockM;
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    GemmGeometry g;
    std::string err = GemmGeometry::compute(spec, g);
    assert(err.empty() && "emit() after a failed launch()");
    (void)err;
    if (g.f32)
      GemmF32Emitter(b, loc, spec, g).emit(module);
    else
      GemmSm80Emitter(b, loc, spec, g).emit(module);
  }
};

} // namespace

const KernelRecipe &gemmSm80Recipe() {
  static const GemmSm80Recipe recipe;
  return recipe;
}

} // namespace attnjit::kernels

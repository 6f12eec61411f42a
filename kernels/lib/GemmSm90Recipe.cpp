//===- GemmSm90Recipe.cpp - y = x w^T + bias on the sm_90a layer ----------===//
//
// Part of attnjit.
//
// The projections of the attention layers (GemmKernelABI.h) on Hopper, f16
// and bf16 (f32 stays on gemm-sm80's exact FMA path: servesDtype). With K of
// 128..256 the layer's GEMMs are bound by reading x and writing y, so the
// kernel is built to move each byte once, at full bandwidth, with few
// instructions:
//
//  - Persistent CTAs (the launcher sizes the grid to the SMs) walk the
//    block_m x block_n tiles of y in row-block order: the N tiles of one row
//    block run side by side on neighbouring CTAs, so x is read from memory
//    once and from L2 after that.
//  - One producer thread (warpgroup 0, its registers lowered with setmaxnreg)
//    streams 64-column panels of x and w with TMA into a `stages`-deep ring
//    of 128B-swizzled tiles. The ring runs across tiles: the next tile's
//    panels land while the consumers finish the last one. Each slot has a
//    "full" mbarrier (TMA transaction bytes) and an "empty" one (every
//    consumer thread arrives once it no longer reads the slot).
//  - Each consumer warpgroup computes 64 rows of the tile: m64nNk16 wgmma
//    with both operands K-major in shared memory, fp32 accumulators.
//  - Epilogue: the bias added in fp32, one rounding, the tile written into
//    a 128B-swizzled staging tile (conflict-free 4-byte stores) and stored
//    by TMA in 64 x 64 boxes; rows past M and columns past N are not
//    written. The store drains while the warpgroup computes its next tile;
//    only the rewrite of the staging tile waits for it. When y's address,
//    row stride or row is not a multiple of 16 bytes (TMA needs the first
//    two and clips rows only at 16-byte granularity; y_by_tma = 0) the
//    kernel stores element pairs from registers instead.
//
// TMA zero fills rows past M and N and columns past K, so the main loop
// needs no masking; K must be a multiple of 8 all the same (16-byte row
// strides, as for gemm-sm80).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Core/GemmKernelABI.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Kernels/Sm80Instructions.h"
#include "attnjit/Kernels/Sm90Instructions.h"

#include "GemmEmitterBase.h"

#include <fmt/format.h>

#include <cassert>
#include <tuple>

using namespace mlir;

namespace attnjit::kernels {
namespace {

/// Bytes of one swizzled panel row: 64 16-bit elements (the TMA box width).
constexpr int kPanelRowBytes = kGemmTmaBoxCols * 2;
/// Rows of one consumer warpgroup (wgmma's M).
constexpr int kWgRows = 64;
/// One 64 x 64 panel of a warpgroup's staging tile.
constexpr int kStagingPanelBytes = kWgRows * kPanelRowBytes;

struct GemmSm90Geometry {
  int blockM = 0, blockN = 0, stages = 0, numWarps = 0;
  int consumers = 0; ///< consumer warpgroups, 64 rows each
  int threads = 0;
  int xPanelBytes = 0, wPanelBytes = 0, stageBytes = 0;
  int stagingOff = 0, stagingWgBytes = 0, barOff = 0, smemBytes = 0;
  /// Register budgets after setmaxnreg (0: not used).
  int producerRegs = 0, consumerRegs = 0;

  static std::string compute(const AttentionSpec &spec, GemmSm90Geometry &g);
};

std::string GemmSm90Geometry::compute(const AttentionSpec &spec, GemmSm90Geometry &g) {
  const KernelConfig &c = spec.config;
  if (!c.isComplete())
    return "config: incomplete (" + c.str() + ")";
  if (spec.variant != Variant::Gemm)
    return fmt::format("variant: the sm_90a gemm recipe emits gemm kernels, got {}",
                       toString(spec.variant));
  if (spec.dtype != DType::F16 && spec.dtype != DType::BF16)
    return fmt::format("dtype: the sm_90a gemm recipe supports f16 and bf16 (f32 takes "
                       "gemm-sm80), got {}",
                       toString(spec.dtype));
  g.blockM = c.blockM;
  g.blockN = c.blockN;
  g.stages = c.stages;
  g.numWarps = c.numWarps;
  if (c.blockM != kWgRows && c.blockM != 2 * kWgRows)
    return fmt::format("config: block_m must be 64 or 128 (64 rows per consumer warpgroup), "
                       "got {}",
                       c.blockM);
  g.consumers = c.blockM / kWgRows;
  if (c.numWarps != 4 * (g.consumers + 1))
    return fmt::format("config: block_m {} takes {} consumer warpgroups and one producer, so "
                       "warps must be {}, got {}",
                       c.blockM, g.consumers, 4 * (g.consumers + 1), c.numWarps);
  // Whole 64-column panels: the staging tile is stored in 64 x 64 TMA boxes.
  if (c.blockN % kGemmTmaBoxCols != 0 || c.blockN < 64 || c.blockN > 256)
    return fmt::format("config: block_n must be 64, 128, 192 or 256 (64-column store panels, "
                       "wgmma's N at most 256), got {}",
                       c.blockN);
  if (c.stages < 2 || c.stages > 8)
    return fmt::format("config: stages must be 2..8, got {}", c.stages);
  g.threads = 32 * c.numWarps;
  g.xPanelBytes = c.blockM * kPanelRowBytes;
  g.wPanelBytes = c.blockN * kPanelRowBytes;
  g.stageBytes = g.xPanelBytes + g.wPanelBytes;
  g.stagingOff = c.stages * g.stageBytes;
  g.stagingWgBytes = kWgRows * c.blockN * 2;
  g.barOff = g.stagingOff + g.consumers * g.stagingWgBytes;
  // Barriers: per slot full, then per slot empty.
  g.smemBytes = g.barOff + 8 * 2 * c.stages;
  if (int limit = archMaxSharedBytes(spec.arch); limit > 0 && g.smemBytes > limit)
    return fmt::format("config: {} needs {} bytes of shared memory, {} allows at most {}",
                       c.str(), g.smemBytes, spec.arch, limit);
  // 65536 registers per SM: with two consumer warpgroups (384 threads, 168
  // registers each at most) the producer gives most of its share to the
  // consumers, whose block_n / 2 accumulators need up to 128.
  if (g.consumers == 2) {
    g.producerRegs = 40;
    g.consumerRegs = 232;
  }
  return {};
}

/// The config table, from an H200 sweep of the layer's projections (M =
/// batch * graph = 51200, N = 128..768, K = 128 or 256; docs/MHA.md): two
/// consumer warpgroups of 64 rows, 128 columns and a four-panel ring (two
/// whole tiles at K = 128, so loads run a tile ahead of the MMAs) were the
/// fastest or within 6% of it on every shape. 192 or 256 columns won only
/// at N = 768, K = 128 (by 4-6%) and lost up to 35% elsewhere; 64 columns
/// with six panels lost 2-14%; one consumer warpgroup (64 rows) lost 20-44%
/// (both won only on the launch-bound M = 512 shape, about 12 us).
KernelConfig gemmSm90Config(const AttentionSpec &spec) {
  KernelConfig c = spec.config;
  const KernelConfig def{128, 128, 12, 4};
  if (c.blockM == 0) c.blockM = def.blockM;
  if (c.blockN == 0) c.blockN = def.blockN;
  if (c.numWarps == 0) c.numWarps = 4 * (c.blockM / kWgRows + 1);
  if (c.stages == 0) c.stages = def.stages;
  return c;
}

class GemmSm90Emitter : public GemmEmitterBase {
public:
  GemmSm90Emitter(OpBuilder &b, Location loc, const AttentionSpec &spec,
                  const GemmSm90Geometry &g)
      : GemmEmitterBase(b, loc, spec), g(g), sm80(*this), sm90(*this) {
    wgType = spec.dtype == DType::F16 ? WgmmaOperand::F16 : WgmmaOperand::BF16;
  }

  void emit(gpu::GPUModuleOp module);

private:
  Value bar(int off, Value slot) { return gepS(add(ci32(g.barOff + off), mul(slot, ci32(8)))); }
  Value fullBar(Value slot) { return bar(0, slot); }
  Value emptyBar(Value slot) { return bar(8 * g.stages, slot); }
  Value xSlot(Value slot) { return mul(slot, ci32(g.stageBytes)); }
  Value wSlot(Value slot) { return add(xSlot(slot), ci32(g.xPanelBytes)); }
  /// First row and column of this CTA's i-th tile (tile bid + i * grid,
  /// row-block major).
  std::pair<Value, Value> tileOrigin(Value i) {
    Value t = add(blockId(gpu::Dimension::x), mul(i, gridDim(gpu::Dimension::x)));
    return {mul(arith::DivUIOp::create(b, loc, t, nTiles), ci32(g.blockM)),
            mul(arith::RemUIOp::create(b, loc, t, nTiles), ci32(g.blockN))};
  }
  /// Ring position of panel kt of this CTA's i-th tile: its slot and the
  /// round (how many times the ring wrapped before it).
  std::pair<Value, Value> ringPos(Value i, Value kt) {
    Value it = add(mul(i, numK), kt);
    return {remui(it, g.stages), divui(it, g.stages)};
  }

  void emitProducer();
  void emitConsumer();
  /// Adds the bias, rounds and stores one warpgroup's 64 x block_n tile.
  void emitEpilogue(ArrayRef<Value> acc, Value m0, Value n0);

  const GemmSm90Geometry &g;
  Sm80Instructions sm80;
  Sm90Instructions sm90;
  WgmmaOperand wgType;

  Value tid, numK, nTiles, myTiles, smemAddr;
  Value lane, warpInGroup, cgroup, leader; ///< consumers
};

void GemmSm90Emitter::emitProducer() {
  if (g.producerRegs)
    sm90.setMaxRegisters(g.producerRegs, /*increase=*/false);
  ifThen(cmpi(arith::CmpIPredicate::eq, tid, ci32(0)), [&] {
    auto tiles = scf::ForOp::create(b, loc, ci32(0), myTiles, ci32(1));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tiles.getBody());
    Value i = tiles.getInductionVar();
    Value m0, n0;
    std::tie(m0, n0) = tileOrigin(i);
    auto panels = scf::ForOp::create(b, loc, ci32(0), numK, ci32(1));
    b.setInsertionPointToStart(panels.getBody());
    Value kt = panels.getInductionVar();
    Value slot, round;
    std::tie(slot, round) = ringPos(i, kt);
    // From the second round on, the slot's previous panel must be released
    // (the phase of round - 1 completed).
    ifThen(cmpi(arith::CmpIPredicate::sge, round, ci32(1)),
           [&] { sm90.mbarrierWait(emptyBar(slot), andi(sub(round, ci32(1)), 1)); });
    sm90.mbarrierArriveExpectTx(fullBar(slot), ci32(g.stageBytes));
    Value k0 = mul(kt, ci32(kGemmTmaBoxCols));
    sm90.tmaLoad(gepS(xSlot(slot)), arg("tm_x"), {k0, m0}, fullBar(slot));
    sm90.tmaLoad(gepS(wSlot(slot)), arg("tm_w"), {k0, n0}, fullBar(slot));
  });
}

void GemmSm90Emitter::emitConsumer() {
  if (g.consumerRegs)
    sm90.setMaxRegisters(g.consumerRegs, /*increase=*/true);
  lane = andi(tid, 31);
  Value cwarp = sub(shrui(tid, 5), ci32(4)); // 0 .. 4 * consumers - 1
  cgroup = shrui(cwarp, 2);
  warpInGroup = andi(cwarp, 3);
  leader = cmpi(arith::CmpIPredicate::eq, andi(tid, 127), ci32(0));
  // This warpgroup's 64 rows of each x panel.
  Value xRows = mul(cgroup, ci32(kWgRows * kPanelRowBytes));

  auto tiles = scf::ForOp::create(b, loc, ci32(0), myTiles, ci32(1));
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(tiles.getBody());
    Value i = tiles.getInductionVar();
    Value m0, n0;
    std::tie(m0, n0) = tileOrigin(i);
    SmallVector<Value> init(g.blockN / 2, cf32(0.0));
    auto panels = scf::ForOp::create(b, loc, ci32(0), numK, ci32(1), init);
    {
      OpBuilder::InsertionGuard g2(b);
      b.setInsertionPointToStart(panels.getBody());
      Value kt = panels.getInductionVar();
      SmallVector<Value> acc(panels.getRegionIterArgs().begin(), panels.getRegionIterArgs().end());
      Value slot, round;
      std::tie(slot, round) = ringPos(i, kt);
      sm90.mbarrierWait(fullBar(slot), andi(round, 1));
      // K-major operands, 16 columns per wgmma: a k step moves 32 bytes
      // within the swizzled 128-byte rows.
      Value xAddr = add(smemAddr, add(xSlot(slot), xRows));
      Value wAddr = add(smemAddr, wSlot(slot));
      sm90.wgmmaFence();
      for (int ks = 0; ks < kGemmTmaBoxCols / 16; ++ks) {
        Value descA =
            sm90.wgmmaDescriptor(add(xAddr, ci32(ks * 32)), 16, 1024, SmemSwizzle::Swizzle128B);
        Value descB =
            sm90.wgmmaDescriptor(add(wAddr, ci32(ks * 32)), 16, 1024, SmemSwizzle::Swizzle128B);
        sm90.wgmma(wgType, g.blockN, descA, descB, acc, /*accumulate=*/true);
      }
      sm90.wgmmaCommit();
      sm90.wgmmaWait(0);
      sm90.fenceOperands(acc);
      sm90.mbarrierArrive(emptyBar(slot));
      scf::YieldOp::create(b, loc, acc);
    }
    SmallVector<Value> acc(panels.getResults().begin(), panels.getResults().end());
    emitEpilogue(acc, m0, n0);
  }
  // The last TMA stores must have read the staging tile before the CTA ends.
  ifThen(leader, [&] { sm90.bulkWait(0); });
}

void GemmSm90Emitter::emitEpilogue(ArrayRef<Value> acc, Value m0, Value n0) {
  const int NT = g.blockN / 8;
  Value quad = shrui(lane, 2);             // the row within 8 of the fragment
  Value pairCol = mul(andi(lane, 3), ci32(2)); // its first column within 8
  auto biased = [&](int j, int half, Value bias0, Value bias1) {
    return std::pair<Value, Value>{fadd(acc[j * 4 + 2 * half], bias0),
                                   fadd(acc[j * 4 + 2 * half + 1], bias1)};
  };
  Value byTma = cmpi(arith::CmpIPredicate::ne, arg("y_by_tma"), ci32(0));
  auto ifTma = scf::IfOp::create(b, loc, byTma, /*withElse=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifTma.thenBlock()->getTerminator());
    Value staging = add(ci32(g.stagingOff), mul(cgroup, ci32(g.stagingWgBytes)));
    Value namedBar = add(ci32(1), cgroup);
    // The previous tile's stores have read the staging tile.
    ifThen(leader, [&] { sm90.bulkWait(0, /*readOnly=*/true); });
    sm90.namedBarrierSync(namedBar, 128);
    // Row r of a 64 x 64 panel sits at r * 128 bytes with its 16-byte chunk
    // c at c ^ (r % 8) (TMA's 128B swizzle); a warp's stores of one 8-column
    // block cover 8 rows x 16 bytes in 8 distinct chunks: every bank once.
    for (int j = 0; j < NT; ++j) {
      Value col = add(n0, add(ci32(8 * j), pairCol));
      Value bias0 = loadBias(col), bias1 = loadBias(add(col, ci32(1)));
      for (int half = 0; half < 2; ++half) {
        Value row = add(add(mul(warpInGroup, ci32(16)), quad), ci32(8 * half));
        Value chunk = xori(ci32(j % 8), andi(row, 7));
        Value off = add(add(staging, ci32((j / 8) * kStagingPanelBytes)),
                        add(mul(row, ci32(kPanelRowBytes)),
                            add(mul(chunk, ci32(16)), mul(andi(lane, 3), ci32(4)))));
        auto [y0, y1] = biased(j, half, bias0, bias1);
        LLVM::StoreOp::create(b, loc, sm80.pack2(elt, y0, y1), gepS(off), 4);
      }
    }
    // The generic-proxy writes before the async-proxy (TMA) reads.
    sm90.fenceProxyAsyncShared();
    sm90.namedBarrierSync(namedBar, 128);
    ifThen(leader, [&] {
      Value row0 = add(m0, mul(cgroup, ci32(kWgRows)));
      ifThen(cmpi(arith::CmpIPredicate::slt, row0, arg("m")), [&] {
        for (int p = 0; p < g.blockN / kGemmTmaBoxCols; ++p) {
          Value col0 = add(n0, ci32(p * kGemmTmaBoxCols));
          ifThen(cmpi(arith::CmpIPredicate::slt, col0, arg("n")), [&] {
            sm90.tmaStore(arg("tm_y"), gepS(add(staging, ci32(p * kStagingPanelBytes))),
                          {col0, row0});
          });
        }
        sm90.bulkCommit();
      });
    });

    // y not TMA-aligned: element pairs straight from the fragment.
    b.setInsertionPoint(ifTma.elseBlock()->getTerminator());
    Value rowBase = add(add(m0, mul(cgroup, ci32(kWgRows))),
                        add(mul(warpInGroup, ci32(16)), quad));
    for (int j = 0; j < NT; ++j) {
      Value col = add(n0, add(ci32(8 * j), pairCol));
      Value bias0 = loadBias(col), bias1 = loadBias(add(col, ci32(1)));
      for (int half = 0; half < 2; ++half) {
        auto [y0, y1] = biased(j, half, bias0, bias1);
        storePairGuarded(sm80, add(rowBase, ci32(8 * half)), col, y0, y1);
      }
    }
  }
}

void GemmSm90Emitter::emit(gpu::GPUModuleOp module) {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  std::string smemName = spec.kernelName() + "_smem";
  declareDynamicSmem(smemName, 1024);
  SmallVector<AbiParam> params(std::begin(kGemmParams), std::end(kGemmParams));
  params.append(std::begin(kGemmTmaParams), std::end(kGemmTmaParams));
  fn = createKernel(module, spec.kernelName(), params, g.threads);
  bindDynamicSmem(smemName);
  smemAddr = sm90.sharedAddress(smemBase);
  tid = threadIdX();

  numK = arith::CeilDivSIOp::create(b, loc, arg("k"), ci32(kGemmTmaBoxCols));
  Value mTiles = arith::CeilDivSIOp::create(b, loc, arg("m"), ci32(g.blockM));
  nTiles = arith::CeilDivSIOp::create(b, loc, arg("n"), ci32(g.blockN));
  // Tiles bid, bid + grid, ...: this CTA's count.
  Value left = maxsi(sub(mul(mTiles, nTiles), blockId(gpu::Dimension::x)), ci32(0));
  myTiles = arith::CeilDivSIOp::create(b, loc, left, gridDim(gpu::Dimension::x));

  // Barriers, initialized by one thread and made visible to TMA and the CTA.
  ifThen(cmpi(arith::CmpIPredicate::eq, tid, ci32(0)), [&] {
    for (int st = 0; st < g.stages; ++st) {
      sm90.mbarrierInit(fullBar(ci32(st)), 1);
      sm90.mbarrierInit(emptyBar(ci32(st)), 128 * g.consumers);
    }
    sm90.fenceMbarrierInit();
  });
  sm80.barrier();

  auto ifOp = scf::IfOp::create(b, loc, cmpi(arith::CmpIPredicate::ult, tid, ci32(128)),
                                /*withElse=*/true);
  {
    OpBuilder::InsertionGuard g2(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    emitProducer();
    b.setInsertionPoint(ifOp.elseBlock()->getTerminator());
    emitConsumer();
  }
  gpu::ReturnOp::create(b, loc);
}

class GemmSm90Recipe final : public KernelRecipe {
public:
  std::string_view name() const override { return "gemm-sm90a"; }
  bool servesVariant(Variant v) const override { return v == Variant::Gemm; }
  int minCapability() const override { return 90; }
  /// wgmma and setmaxnreg exist only on sm_90a.
  bool servesArch(std::string_view arch) const override { return arch == "sm_90a"; }
  /// wgmma takes 16-bit operands here; f32 GEMMs stay on gemm-sm80, whose
  /// FMA path is exact (a TF32 wgmma would round x and w).
  bool servesDtype(DType d) const override { return d == DType::F16 || d == DType::BF16; }
  KernelConfig defaultConfig(const AttentionSpec &spec) const override {
    return gemmSm90Config(spec);
  }
  std::string launch(const AttentionSpec &spec, RecipeLaunch &out) const override {
    GemmSm90Geometry g;
    if (std::string err = GemmSm90Geometry::compute(spec, g); !err.empty())
      return err;
    out.threads = g.threads;
    out.sharedMemBytes = g.smemBytes;
    out.rowsPerCta = g.blockM;
    out.tensorMaps = true;
    return {};
  }
  void emit(OpBuilder &b, Location loc, gpu::GPUModuleOp module,
            const AttentionSpec &spec) const override {
    GemmSm90Geometry g;
    std::string err = GemmSm90Geometry::compute(spec, g);
    assert(err.empty() && "emit() after a failed launch()");
    (void)err;
    GemmSm90Emitter(b, loc, spec, g).emit(module);
  }
};

} // namespace

const KernelRecipe &gemmSm90Recipe() {
  static const GemmSm90Recipe recipe;
  return recipe;
}

} // namespace attnjit::kernels

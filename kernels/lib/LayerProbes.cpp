//===- LayerProbes.cpp - Tiny kernels that prove an instruction layer -----===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/LayerProbes.h"
#include "attnjit/Kernels/Fragments.h"
#include "attnjit/Kernels/SharedLayout.h"
#include "attnjit/Kernels/Sm80Instructions.h"
#include "attnjit/Kernels/Sm90Instructions.h"

#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

namespace attnjit::kernels {

namespace {
constexpr int kBoxBytes = kProbeBoxRows * kProbeBoxRowBytes; // 8 KB, 1024-byte aligned
constexpr int kThreads = 128;                                 // one warpgroup

WgmmaOperand probeOperand(LayerProbe p) {
  switch (p) {
  case LayerProbe::WgmmaF16: return WgmmaOperand::F16;
  case LayerProbe::WgmmaBF16: return WgmmaOperand::BF16;
  case LayerProbe::WgmmaS8: return WgmmaOperand::S8;
  case LayerProbe::WgmmaE4M3: return WgmmaOperand::E4M3;
  default: break;
  }
  llvm_unreachable("not a wgmma probe");
}

class ProbeEmitter : public KernelBuilder {
public:
  ProbeEmitter(OpBuilder &b, Location loc, LayerProbe probe, const ProbeShape &shape)
      : KernelBuilder(b, loc), probe(probe), shape(shape), sm90(*this) {}

  void emit(gpu::GPUModuleOp module) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToEnd(module.getBody());
    std::string smem = shape.entry + "_smem";
    declareDynamicSmem(smem);
    fn = createKernel(module, shape.entry, shape.params, shape.threads);
    bindDynamicSmem(smem);
    tid = threadIdX();
    isThread0 = cmpi(arith::CmpIPredicate::eq, tid, ci32(0));
    switch (probe) {
    case LayerProbe::TmaRoundTrip: emitTmaRoundTrip(); break;
    case LayerProbe::TensorMapEcho: emitTensorMapEcho(); break;
    case LayerProbe::ClusterRank: emitClusterRank(); break;
    case LayerProbe::MmaSyncS8: emitMmaSync(MmaOperand::S8); break;
    case LayerProbe::MmaSyncE4M3: emitMmaSync(MmaOperand::E4M3); break;
    default: emitWgmma(); break;
    }
    gpu::ReturnOp::create(b, loc);
  }

private:
  /// One thread initializes the mbarrier at `bar` for one arrival; everyone
  /// waits for that at a CTA barrier.
  void initBarrier(Value bar) {
    ifThen(isThread0, [&] {
      sm90.mbarrierInit(bar, 1);
      sm90.fenceMbarrierInit();
    });
    NVVM::Barrier0Op::create(b, loc);
  }

  void emitTmaRoundTrip() {
    Value box = gepS(ci32(0)), bar = gepS(ci32(kBoxBytes));
    initBarrier(bar);
    ifThen(isThread0, [&] {
      sm90.mbarrierArriveExpectTx(bar, ci32(kBoxBytes));
      sm90.tmaLoad(box, fn.arg("in"), {fn.arg("x"), fn.arg("y")}, bar);
    });
    sm90.mbarrierWait(bar, ci32(0));
    // Read the box back through SharedLayout's swizzle: it must agree with
    // what TMA's 128B swizzle wrote.
    SwizzledTileLayout layout(*this, kProbeBoxRowBytes / 16);
    auto v4 = VectorType::get({4}, i32);
    for (int it = 0; it < kBoxBytes / 16 / kThreads; ++it) {
      Value idx = add(tid, ci32(it * kThreads));
      Value row = divui(idx, 8), chunk = remui(idx, 8);
      Value v = LLVM::LoadOp::create(b, loc, v4, gepS(layout.offset(row, chunk)), 16);
      Value dense = add(mul(row, ci32(kProbeBoxRowBytes)), mul(chunk, ci32(16)));
      LLVM::StoreOp::create(b, loc, v, gepG(fn.arg("plain"), ext64(dense)), 16);
    }
    // And back to global memory by TMA (async proxy to async proxy: the box
    // was written by TMA and only read by the threads, so no proxy fence).
    ifThen(isThread0, [&] {
      sm90.tmaStore(fn.arg("out"), box, {ci32(0), ci32(0)});
      sm90.bulkCommit();
      sm90.bulkWait(0);
    });
  }

  /// Stores the i32 `v` at byte `off` of `base` (global).
  void store32(Value base, int64_t off, Value v) {
    LLVM::StoreOp::create(b, loc, v, gepG(base, ci64(off)), 4);
  }

  void emitTensorMapEcho() {
    Value first = arith::AndIOp::create(
        b, loc, isThread0,
        cmpi(arith::CmpIPredicate::eq, blockId(gpu::Dimension::x), ci32(0)));
    ifThen(first, [&] {
      Value map = fn.arg("map"), out = fn.arg("out");
      for (int w = 0; w < 16; ++w) {
        Value src = LLVM::GEPOp::create(b, loc, map.getType(), i8, map, ValueRange{ci64(8 * w)});
        Value word = LLVM::LoadOp::create(b, loc, i64, src, 8);
        LLVM::StoreOp::create(b, loc, word, gepG(out, ci64(8 * w)), 8);
      }
      store32(out, 128, fn.arg("tag"));
    });
  }

  void emitClusterRank() {
    ifThen(isThread0, [&] {
      Value out = fn.arg("out");
      Value tag = LLVM::LoadOp::create(b, loc, i32, gepG(out, ci64(128)), 4);
      Value row = gepG(out, ext64(add(ci32(256), mul(blockId(gpu::Dimension::x), ci32(16)))));
      store32(row, 0, sm90.clusterRank());
      store32(row, 4, sm90.clusterSize());
      store32(row, 8, tag);
    });
  }

  /// m16n8k32 with 8-bit operands: lane (g, t) = (lane / 4, lane % 4) holds
  /// A rows g and g + 8, bytes 4t..4t+3 and 16 + 4t..; B column g, the same
  /// bytes; C rows g and g + 8, columns 2t and 2t + 1.
  void emitMmaSync(MmaOperand type) {
    Sm80Instructions sm80(*this);
    Value lane = andi(tid, 31), g = shrui(lane, 2), t = andi(lane, 3);
    auto word = [&](const char *ptr, Value row, int k0) {
      Value off = add(mul(row, ci32(kProbeMmaK)), add(ci32(k0), mul(t, ci32(4))));
      return LLVM::LoadOp::create(b, loc, i32, gepG(fn.arg(ptr), ext64(off)), 4).getResult();
    };
    Value g8 = add(g, ci32(8));
    SmallVector<Value> a = {word("a", g, 0), word("a", g8, 0), word("a", g, 16), word("a", g8, 16)};
    SmallVector<Value> bb = {word("b", g, 0), word("b", g, 16)};
    const bool isInt = type == MmaOperand::S8;
    SmallVector<Value> c(4, isInt ? ci32(0) : cf32(0.0));
    sm80.mma(type, a, bb, c);
    for (int i = 0; i < 4; ++i) {
      Value row = i < 2 ? g : g8;
      Value col = add(mul(t, ci32(2)), ci32(i % 2));
      Value off = mul(add(mul(row, ci32(kProbeMmaN)), col), ci32(4));
      LLVM::StoreOp::create(b, loc, c[i], gepG(fn.arg("d"), ext64(off)), 4);
    }
  }

  void emitWgmma() {
    const WgmmaOperand type = probeOperand(probe);
    const bool isInt = type == WgmmaOperand::S8;
    Value aTile = gepS(ci32(0)), bTile = gepS(ci32(kBoxBytes)), bar = gepS(ci32(2 * kBoxBytes));
    initBarrier(bar);
    ifThen(isThread0, [&] {
      sm90.mbarrierArriveExpectTx(bar, ci32(2 * kBoxBytes));
      sm90.tmaLoad(aTile, fn.arg("a"), {ci32(0), ci32(0)}, bar);
      sm90.tmaLoad(bTile, fn.arg("b"), {ci32(0), ci32(0)}, bar);
    });
    sm90.mbarrierWait(bar, ci32(0));

    AccFragment frag{1, kProbeN / 8};
    SmallVector<Value> acc(frag.size(), isInt ? ci32(0) : cf32(0.0));
    Value aAddr = sm90.sharedAddress(aTile), bAddr = sm90.sharedAddress(bTile);
    sm90.wgmmaFence();
    // K-major tiles with the 128B swizzle: 8-row groups 1024 bytes apart; each
    // k step (16 f16/bf16 or 32 s8/e4m3 = 32 bytes) moves the start address
    // within the swizzled row, and the hardware applies the swizzle.
    constexpr int kStepBytes = 32;
    for (int s = 0; s < kProbeBoxRowBytes / kStepBytes; ++s) {
      Value descA = sm90.wgmmaDescriptor(add(aAddr, ci32(s * kStepBytes)), 16, 1024,
                                         SmemSwizzle::Swizzle128B);
      Value descB = sm90.wgmmaDescriptor(add(bAddr, ci32(s * kStepBytes)), 16, 1024,
                                         SmemSwizzle::Swizzle128B);
      sm90.wgmma(type, kProbeN, descA, descB, acc, /*accumulate=*/s > 0);
    }
    sm90.wgmmaCommit();
    sm90.wgmmaWait(0);

    // D[64 x N] row-major, 4-byte elements, from the accumulator fragment.
    Value lane = andi(tid, 31), warp = shrui(tid, 5);
    for (int r = 0; r < frag.rows(); ++r)
      for (int j = 0; j < frag.nTiles; ++j)
        for (int e = 0; e < 2; ++e) {
          Value row = add(mul(warp, ci32(16)), add(shrui(lane, 2), ci32(frag.rowOffset(r))));
          Value col = add(mul(andi(lane, 3), ci32(2)), ci32(8 * j + e));
          Value off = mul(add(mul(row, ci32(kProbeN)), col), ci32(4));
          LLVM::StoreOp::create(b, loc, acc[frag.index(r, j, e)],
                                gepG(fn.arg("d"), ext64(off)), 4);
        }
  }

  LayerProbe probe;
  const ProbeShape &shape;
  Sm90Instructions sm90;
  KernelFunction fn;
  Value tid, isThread0;
};
} // namespace

std::string_view toString(LayerProbe p) {
  switch (p) {
  case LayerProbe::TmaRoundTrip: return "tma_roundtrip";
  case LayerProbe::WgmmaF16: return "wgmma_f16";
  case LayerProbe::WgmmaBF16: return "wgmma_bf16";
  case LayerProbe::WgmmaS8: return "wgmma_s8";
  case LayerProbe::WgmmaE4M3: return "wgmma_e4m3";
  case LayerProbe::TensorMapEcho: return "tensormap_echo";
  case LayerProbe::ClusterRank: return "cluster_rank";
  case LayerProbe::MmaSyncS8: return "mma_sync_s8";
  case LayerProbe::MmaSyncE4M3: return "mma_sync_e4m3";
  }
  return "?";
}

ProbeShape probeShape(LayerProbe p) {
  ProbeShape s;
  s.entry = "attnjit_probe_" + std::string(toString(p));
  s.threads = kThreads;
  if (p == LayerProbe::MmaSyncS8 || p == LayerProbe::MmaSyncE4M3) {
    s.threads = 32;
    s.params = {{"a", AbiType::Ptr}, {"b", AbiType::Ptr}, {"d", AbiType::Ptr}};
  } else if (p == LayerProbe::TensorMapEcho || p == LayerProbe::ClusterRank) {
    s.threads = 32;
    if (p == LayerProbe::TensorMapEcho)
      s.params = {{"map", AbiType::TensorMap}, {"out", AbiType::Ptr}, {"tag", AbiType::I32}};
    else
      s.params = {{"out", AbiType::Ptr}};
  } else if (p == LayerProbe::TmaRoundTrip) {
    s.sharedMemBytes = kBoxBytes + 8;
    s.params = {{"in", AbiType::TensorMap},
                {"out", AbiType::TensorMap},
                {"plain", AbiType::Ptr},
                {"x", AbiType::I32},
                {"y", AbiType::I32}};
  } else {
    s.sharedMemBytes = 2 * kBoxBytes + 8;
    s.params = {{"a", AbiType::TensorMap}, {"b", AbiType::TensorMap}, {"d", AbiType::Ptr}};
  }
  return s;
}

void emitProbe(OpBuilder &b, Location loc, gpu::GPUModuleOp module, LayerProbe p) {
  ProbeShape shape = probeShape(p);
  ProbeEmitter(b, loc, p, shape).emit(module);
}

} // namespace attnjit::kernels

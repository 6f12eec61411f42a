//===- Sm90Instructions.cpp - The sm_90a instruction layer ----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/Sm90Instructions.h"

#include <cassert>
#include <string>

using namespace mlir;

namespace attnjit::kernels {

void Sm90Instructions::mbarrierInit(Value bar, int count) {
  NVVM::MBarrierInitOp::create(kb.b, kb.loc, bar, kb.ci32(count), Value());
}

void Sm90Instructions::fenceMbarrierInit() { NVVM::FenceMbarrierInitOp::create(kb.b, kb.loc); }

void Sm90Instructions::mbarrierArriveExpectTx(Value bar, Value bytes) {
  NVVM::MBarrierArriveExpectTxOp::create(kb.b, kb.loc, Type(), bar, bytes,
                                         NVVM::MemScopeKind::CTA, /*relaxed=*/false, Value());
}

void Sm90Instructions::mbarrierArrive(Value bar) {
  NVVM::MBarrierArriveOp::create(kb.b, kb.loc, Type(), bar, Value(), NVVM::MemScopeKind::CTA,
                                 /*relaxed=*/false);
}

void Sm90Instructions::mbarrierWait(Value bar, Value parity) {
  // The op loops on try_wait until the phase completed; the tick count is the
  // suspend-time hint of each try (10 ms, as CUTLASS and MLIR's examples use).
  NVVM::MBarrierTryWaitParityOp::create(kb.b, kb.loc, bar, parity, kb.ci32(10000000));
}

void Sm90Instructions::tmaLoad(Value dst, Value tmap, ArrayRef<Value> coords, Value bar) {
  // sm_90's form writes a shared::cluster address; this CTA's shared window
  // is part of it (address space 7).
  Value clusterDst = LLVM::AddrSpaceCastOp::create(
      kb.b, kb.loc, LLVM::LLVMPointerType::get(kb.ctx, 7), dst);
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      kb.b, kb.loc, clusterDst, tmap, coords, bar, /*im2colOffsets=*/ValueRange(),
      /*multicastMask=*/Value(), /*l2CacheHint=*/Value(), NVVM::TMALoadMode::TILE,
      /*isCTAOnly=*/false, NVVM::CTAGroupKindAttr(), /*predicate=*/Value());
}

void Sm90Instructions::tmaStore(Value tmap, Value src, ArrayRef<Value> coords) {
  NVVM::CpAsyncBulkTensorSharedCTAToGlobalOp::create(kb.b, kb.loc, tmap, src, coords,
                                                     /*l2CacheHint=*/Value(),
                                                     NVVM::TMAStoreMode::TILE, Value());
}

void Sm90Instructions::bulkCommit() { NVVM::CpAsyncBulkCommitGroupOp::create(kb.b, kb.loc); }

void Sm90Instructions::bulkWait(int pending, bool readOnly) {
  NVVM::CpAsyncBulkWaitGroupOp::create(kb.b, kb.loc, pending,
                                       readOnly ? kb.b.getUnitAttr() : UnitAttr());
}

void Sm90Instructions::fenceProxyAsyncShared() {
  NVVM::FenceProxyOp::create(kb.b, kb.loc, NVVM::ProxyKind::async_shared,
                             NVVM::SharedSpaceAttr::get(kb.ctx, NVVM::SharedSpace::shared_cta));
}

Value Sm90Instructions::sharedAddress(Value ptr) {
  return LLVM::PtrToIntOp::create(kb.b, kb.loc, kb.i32, ptr);
}

Value Sm90Instructions::wgmmaDescriptor(Value smemAddr, int leadingBytes, int strideBytes,
                                        SmemSwizzle swizzle) {
  // Bits 0-13: address >> 4; 16-29: leading byte offset >> 4; 32-45: stride
  // byte offset >> 4; 49-51: base offset (0: tiles are 1024-byte aligned);
  // 62-63: swizzle (1: 128B, 2: 64B, 3: 32B).
  int64_t mode = swizzle == SmemSwizzle::Swizzle128B  ? 1
                 : swizzle == SmemSwizzle::Swizzle64B ? 2
                 : swizzle == SmemSwizzle::Swizzle32B ? 3
                                                      : 0;
  int64_t fixed = (int64_t((leadingBytes >> 4) & 0x3fff) << 16) |
                  (int64_t((strideBytes >> 4) & 0x3fff) << 32) | (mode << 62);
  Value addr = arith::ExtUIOp::create(kb.b, kb.loc, kb.i64,
                                      arith::AndIOp::create(kb.b, kb.loc, kb.shrui(smemAddr, 4),
                                                            kb.ci32(0x3fff)));
  return arith::OrIOp::create(kb.b, kb.loc, addr, kb.ci64(fixed));
}

void Sm90Instructions::wgmmaFence() { NVVM::WgmmaFenceAlignedOp::create(kb.b, kb.loc); }
void Sm90Instructions::wgmmaCommit() { NVVM::WgmmaGroupSyncAlignedOp::create(kb.b, kb.loc); }
void Sm90Instructions::wgmmaWait(int pending) {
  NVVM::WgmmaWaitGroupSyncOp::create(kb.b, kb.loc, pending);
}

void Sm90Instructions::wgmma(WgmmaOperand type, int n, Value descA, Value descB,
                             SmallVectorImpl<Value> &acc, bool accumulate) {
  OpBuilder &b = kb.b;
  const bool isInt = type == WgmmaOperand::S8;
  Type accTy = isInt ? kb.i32 : kb.f32;
  assert(int(acc.size()) == n / 2 && "m64nN keeps N / 2 accumulators per thread");
  SmallVector<Type> fields(n / 2, accTy);
  auto structTy = LLVM::LLVMStructType::getLiteral(kb.ctx, fields);
  // Without accumulation (scale-d 0) the accumulators in are not read: they
  // stay poison. Zeros would be register moves that LLVM may place after the
  // warpgroup's wgmma.fence, where ptxas serializes every wgmma of the kernel
  // (C7513: "non wgmma instructions defining input registers").
  Value in = LLVM::PoisonOp::create(b, kb.loc, structTy);
  if (accumulate)
    for (int i = 0; i < n / 2; ++i)
      in = LLVM::InsertValueOp::create(b, kb.loc, in, acc[i], i);
  NVVM::WGMMATypes t = type == WgmmaOperand::F16    ? NVVM::WGMMATypes::f16
                       : type == WgmmaOperand::BF16 ? NVVM::WGMMATypes::bf16
                       : type == WgmmaOperand::S8   ? NVVM::WGMMATypes::s8
                                                    : NVVM::WGMMATypes::e4m3;
  NVVM::WGMMATypes d = isInt ? NVVM::WGMMATypes::s32 : NVVM::WGMMATypes::f32;
  int k = (type == WgmmaOperand::F16 || type == WgmmaOperand::BF16) ? 16 : 32;
  auto shape = NVVM::MMAShapeAttr::get(kb.ctx, 64, n, k);
  auto op = NVVM::WgmmaMmaAsyncOp::create(
      b, kb.loc, structTy, in, descA, descB, shape, t, t, d,
      accumulate ? NVVM::WGMMAScaleOut::one : NVVM::WGMMAScaleOut::zero,
      NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
      // K-major A (row) and B (col), the only layout s8 and e4m3 allow.
      NVVM::MMALayout::row, NVVM::MMALayout::col,
      isInt ? NVVM::MMAIntOverflowAttr::get(kb.ctx, NVVM::MMAIntOverflow::wrapped)
            : NVVM::MMAIntOverflowAttr());
  for (int i = 0; i < n / 2; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, kb.loc, op.getResult(), i);
}

void Sm90Instructions::wgmmaRegA(WgmmaOperand type, int n, ArrayRef<Value> a, Value descB,
                                 SmallVectorImpl<Value> &acc, bool transB, bool accumulate) {
  assert((type == WgmmaOperand::F16 || type == WgmmaOperand::BF16) &&
         "register A is taken for 16-bit operands only");
  assert(a.size() == 4 && int(acc.size()) == n / 2 && n % 8 == 0 && n >= 8 && n <= 256);
  OpBuilder &b = kb.b;
  const int nAcc = n / 2;
  SmallVector<Type> fields(nAcc, kb.f32);
  auto structTy = LLVM::LLVMStructType::getLiteral(kb.ctx, fields);
  // $0..$(nAcc-1): D; then A (4 x b32), B's descriptor; the accumulators in
  // are tied to D.
  std::string d, constraints;
  for (int i = 0; i < nAcc; ++i) {
    d += (i ? ", $" : "$") + std::to_string(i);
    constraints += "=f,";
  }
  // scale-d is a predicate operand, set from immediates as NVVM's own wgmma
  // does: a register operand would be a move that LLVM may place after the
  // warpgroup's wgmma.fence, where ptxas serializes every wgmma of the kernel
  // (C7513). Without accumulation the accumulators in stay poison, for the
  // same reason (see wgmma()).
  const int a0 = nAcc, desc = nAcc + 4;
  std::string asmStr = std::string("{\n.reg .pred p;\nsetp.ne.b32 p, ") + (accumulate ? "1" : "0") + ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(n) +
                       "k16.f32." + (type == WgmmaOperand::F16 ? "f16.f16" : "bf16.bf16") +
                       " {" + d + "}, {$" + std::to_string(a0) + ", $" + std::to_string(a0 + 1) +
                       ", $" + std::to_string(a0 + 2) + ", $" + std::to_string(a0 + 3) + "}, $" +
                       std::to_string(desc) + ", p, 1, 1, " + (transB ? "1" : "0") + ";\n}";
  constraints += "r,r,r,r,l";
  for (int i = 0; i < nAcc; ++i)
    constraints += "," + std::to_string(i);
  SmallVector<Value> operands(a.begin(), a.end());
  operands.push_back(descB);
  if (accumulate) {
    operands.append(acc.begin(), acc.end());
  } else {
    Value poison = LLVM::PoisonOp::create(b, kb.loc, kb.f32);
    operands.append(nAcc, poison);
  }
  auto asmOp = LLVM::InlineAsmOp::create(b, kb.loc, structTy, operands, asmStr, constraints,
                                         /*has_side_effects=*/true, /*is_align_stack=*/false,
                                         LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                                         ArrayAttr());
  for (int i = 0; i < nAcc; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, kb.loc, asmOp.getResult(0), i);
}

void Sm90Instructions::fenceOperands(SmallVectorImpl<Value> &values) {
  if (values.empty())
    return;
  SmallVector<Type> types;
  std::string constraints, tied;
  for (size_t i = 0; i < values.size(); ++i) {
    types.push_back(values[i].getType());
    constraints += (i ? "," : "") + std::string(values[i].getType().isF32() ? "=f" : "=r");
    tied += "," + std::to_string(i);
  }
  auto structTy = LLVM::LLVMStructType::getLiteral(kb.ctx, types);
  auto asmOp = LLVM::InlineAsmOp::create(kb.b, kb.loc, structTy, values, "", constraints + tied,
                                         /*has_side_effects=*/true, /*is_align_stack=*/false,
                                         LLVM::TailCallKind::None, LLVM::AsmDialectAttr(),
                                         ArrayAttr());
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = LLVM::ExtractValueOp::create(kb.b, kb.loc, asmOp.getResult(0), i);
}

void Sm90Instructions::namedBarrierSync(Value id, int threads) {
  NVVM::BarrierOp::create(kb.b, kb.loc, TypeRange{}, id, kb.ci32(threads),
                          NVVM::BarrierReductionAttr(), Value());
}

void Sm90Instructions::namedBarrierArrive(Value id, int threads) {
  NVVM::BarrierArriveOp::create(kb.b, kb.loc, id, kb.ci32(threads));
}

void Sm90Instructions::setMaxRegisters(int count, bool increase) {
  NVVM::SetMaxRegisterOp::create(kb.b, kb.loc, count,
                                 increase ? NVVM::SetMaxRegisterAction::increase
                                          : NVVM::SetMaxRegisterAction::decrease);
}

Value Sm90Instructions::electOne() {
  return NVVM::ElectSyncOp::create(kb.b, kb.loc, kb.i1, Value());
}

Value Sm90Instructions::clusterRank() { return NVVM::ClusterId::create(kb.b, kb.loc, kb.i32); }

Value Sm90Instructions::clusterSize() { return NVVM::ClusterDim::create(kb.b, kb.loc, kb.i32); }

} // namespace attnjit::kernels

//===- Sm80Instructions.cpp - The sm_80 instruction layer -----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/Sm80Instructions.h"

#include "llvm/Support/ErrorHandling.h"

using namespace mlir;

namespace attnjit::kernels {

void Sm80Instructions::cpAsync(Value dst, Value src, int bytes, Value srcSize) {
  NVVM::CpAsyncOp::create(kb.b, kb.loc, dst, src, bytes,
                          bytes == 16 ? NVVM::LoadCacheModifierKind::CG
                                      : NVVM::LoadCacheModifierKind::CA,
                          srcSize);
}

void Sm80Instructions::cpAsyncCommit() { NVVM::CpAsyncCommitGroupOp::create(kb.b, kb.loc); }

void Sm80Instructions::cpAsyncWait(int pending) {
  NVVM::CpAsyncWaitGroupOp::create(kb.b, kb.loc, pending);
}

void Sm80Instructions::barrier() { NVVM::Barrier0Op::create(kb.b, kb.loc); }

SmallVector<Value, 4> Sm80Instructions::ldmatrix4(Value byteOff, bool trans) {
  Type i32 = kb.i32;
  auto structTy = LLVM::LLVMStructType::getLiteral(kb.ctx, {i32, i32, i32, i32});
  auto op = NVVM::LdMatrixOp::create(
      kb.b, kb.loc, structTy, kb.gepS(byteOff), 4,
      trans ? NVVM::MMALayout::col : NVVM::MMALayout::row,
      NVVM::LdStMatrixShapeAttr::get(kb.ctx, 8, 8), NVVM::LdStMatrixEltType::B16);
  SmallVector<Value, 4> r;
  for (int i = 0; i < 4; ++i)
    r.push_back(LLVM::ExtractValueOp::create(kb.b, kb.loc, op.getResult(), i));
  return r;
}

void Sm80Instructions::mma(MmaOperand type, ArrayRef<Value> a, ArrayRef<Value> bb,
                           MutableArrayRef<Value> c) {
  OpBuilder &b = kb.b;
  Location loc = kb.loc;
  if (type == MmaOperand::E4M3) {
    // NVVM's mma.sync has no fp8 form for sm_89/sm_90 (only the sparse and
    // block-scaled ones), so this one instruction is inline asm, as NVVM
    // itself lowers such instructions. PTX has it from ISA 8.4.
    kb.requirePtxVersion(84);
    auto resTy = LLVM::LLVMStructType::getLiteral(kb.ctx, {kb.f32, kb.f32, kb.f32, kb.f32});
    SmallVector<Value> operands(a.begin(), a.end());
    operands.append(bb.begin(), bb.end());
    operands.append(c.begin(), c.end());
    auto asmOp = LLVM::InlineAsmOp::create(
        b, loc, resTy, operands,
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {$0, $1, $2, $3}, "
        "{$4, $5, $6, $7}, {$8, $9}, {$10, $11, $12, $13};",
        "=f,=f,=f,=f,r,r,r,r,r,r,f,f,f,f", /*has_side_effects=*/false, /*is_align_stack=*/false,
        LLVM::TailCallKind::None, LLVM::AsmDialectAttr(), ArrayAttr());
    for (int i = 0; i < 4; ++i)
      c[i] = LLVM::ExtractValueOp::create(b, loc, asmOp.getResult(0), i);
    return;
  }
  const bool isInt = type == MmaOperand::S8;
  Type accTy = isInt ? kb.i32 : kb.f32;
  auto resTy = LLVM::LLVMStructType::getLiteral(kb.ctx, {accTy, accTy, accTy, accTy});
  // f16 operands are vector<2xf16>; bf16, s8 stay packed in i32.
  auto operand = [&](Value packedI32) -> Value {
    if (type != MmaOperand::F16)
      return packedI32;
    return LLVM::BitcastOp::create(b, loc, VectorType::get({2}, b.getF16Type()), packedI32);
  };
  SmallVector<Value> av, bv;
  for (Value v : a) av.push_back(operand(v));
  for (Value v : bb) bv.push_back(operand(v));
  NVVM::MMATypes t = type == MmaOperand::F16    ? NVVM::MMATypes::f16
                     : type == MmaOperand::BF16 ? NVVM::MMATypes::bf16
                                                : NVVM::MMATypes::s8;
  std::optional<NVVM::MMAIntOverflow> overflow;
  if (isInt)
    overflow = NVVM::MMAIntOverflow::wrapped;
  int64_t k = isInt ? 32 : 16;
  auto op = NVVM::MmaOp::create(b, loc, resTy, av, bv, SmallVector<Value>(c.begin(), c.end()),
                                ArrayRef<int64_t>{16, 8, k}, std::nullopt, overflow,
                                std::array<NVVM::MMATypes, 2>{t, t},
                                std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                                               NVVM::MMALayout::col});
  for (int i = 0; i < 4; ++i)
    c[i] = LLVM::ExtractValueOp::create(b, loc, op.getResult(), i);
}

Value Sm80Instructions::pack2(Type elt, Value lo, Value hi) {
  Value t = arith::TruncFOp::create(kb.b, kb.loc, VectorType::get({2}, elt), kb.vec2(lo, hi));
  return LLVM::BitcastOp::create(kb.b, kb.loc, kb.i32, t);
}

Value Sm80Instructions::cvtE4m3x2(Value lo, Value hi) {
  // The intrinsic's first operand lands in the high byte (PTX's cvt order).
  return LLVM::CallIntrinsicOp::create(kb.b, kb.loc, kb.i16,
                                       kb.b.getStringAttr("llvm.nvvm.ff.to.e4m3x2.rn"),
                                       ValueRange{hi, lo})
      .getResult(0);
}

Value Sm80Instructions::packE4m3x4(Value x0, Value x1, Value x2, Value x3) {
  return packI16x2(cvtE4m3x2(x0, x1), cvtE4m3x2(x2, x3));
}

Value Sm80Instructions::packI16x2(Value lo, Value hi) {
  Value l = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32, lo);
  Value h = arith::ExtUIOp::create(kb.b, kb.loc, kb.i32, hi);
  h = arith::ShLIOp::create(kb.b, kb.loc, h, kb.ci32(16));
  return arith::OrIOp::create(kb.b, kb.loc, l, h);
}

std::pair<Value, Value> Sm80Instructions::e4m3x2ToF32(Value packed) {
  auto v2f16 = VectorType::get({2}, kb.b.getF16Type());
  Value h = LLVM::CallIntrinsicOp::create(kb.b, kb.loc, v2f16,
                                          kb.b.getStringAttr("llvm.nvvm.e4m3x2.to.f16x2.rn"),
                                          ValueRange{packed})
                .getResult(0);
  Value f = arith::ExtFOp::create(kb.b, kb.loc, VectorType::get({2}, kb.f32), h);
  return {LLVM::ExtractElementOp::create(kb.b, kb.loc, f, kb.ci32(0)),
          LLVM::ExtractElementOp::create(kb.b, kb.loc, f, kb.ci32(1))};
}

} // namespace attnjit::kernels

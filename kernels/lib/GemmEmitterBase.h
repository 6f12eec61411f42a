//===- GemmEmitterBase.h - What the GEMM emitters share ----------*- C++ -*-===//
//
// Part of attnjit. Internal to the kernels library: argument access, the bias
// load and the guarded stores of the GEMM kernels (GemmKernelABI.h), shared
// by the sm_80 emitters (GemmSm80Recipe.cpp) and the sm_90a one
// (GemmSm90Recipe.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_LIB_GEMMEMITTERBASE_H
#define ATTNJIT_KERNELS_LIB_GEMMEMITTERBASE_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Kernels/KernelBuilder.h"
#include "attnjit/Kernels/Sm80Instructions.h"

namespace attnjit::kernels {

class GemmEmitterBase : public KernelBuilder {
public:
  GemmEmitterBase(mlir::OpBuilder &b, mlir::Location loc, const AttentionSpec &spec)
      : KernelBuilder(b, loc), spec(spec) {
    elt = spec.dtype == DType::F16    ? mlir::Type(b.getF16Type())
          : spec.dtype == DType::BF16 ? mlir::Type(b.getBF16Type())
                                      : mlir::Type(f32);
    eltBytes = dtypeSize(spec.dtype);
  }

protected:
  mlir::Value arg(const char *name) { return fn.arg(name); }
  /// Address of element (row, col) of a row-major operand.
  mlir::Value elemPtr(const char *base, mlir::Value row, mlir::Value col, const char *rowStride) {
    mlir::Value off =
        mlir::arith::AddIOp::create(b, loc, mul(ext64(row), arg(rowStride)), ext64(col));
    return gepG(arg(base), mul(off, ci64(eltBytes)));
  }
  /// bias[col] as fp32 when has_bias is set and col < N, else 0 (nothing read).
  mlir::Value loadBias(mlir::Value col) {
    using mlir::arith::CmpIPredicate;
    mlir::Value use = mlir::arith::AndIOp::create(b, loc,
                                                  cmpi(CmpIPredicate::ne, arg("has_bias"), ci32(0)),
                                                  cmpi(CmpIPredicate::slt, col, arg("n")));
    auto ifOp = mlir::scf::IfOp::create(b, loc, mlir::TypeRange{f32}, use, /*withElse=*/true);
    {
      mlir::OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      mlir::Value v = mlir::LLVM::LoadOp::create(
          b, loc, elt, gepG(arg("bias"), mul(ext64(col), ci64(eltBytes))), eltBytes);
      if (elt != f32)
        v = mlir::arith::ExtFOp::create(b, loc, f32, v);
      mlir::scf::YieldOp::create(b, loc, v);
      b.setInsertionPointToStart(ifOp.elseBlock());
      mlir::scf::YieldOp::create(b, loc, cf32(0.0));
    }
    return ifOp.getResult(0);
  }
  /// Stores y[row, col] = v when row < M and col < N.
  void storeGuarded(mlir::Value row, mlir::Value col, mlir::Value v) {
    using mlir::arith::CmpIPredicate;
    mlir::Value ok = mlir::arith::AndIOp::create(b, loc, cmpi(CmpIPredicate::slt, row, arg("m")),
                                                 cmpi(CmpIPredicate::slt, col, arg("n")));
    ifThen(ok, [&] {
      mlir::Value x =
          elt == f32 ? v : mlir::arith::TruncFOp::create(b, loc, elt, v).getResult();
      mlir::LLVM::StoreOp::create(b, loc, x, elemPtr("y", row, col, "y_row_stride"), eltBytes);
    });
  }
  /// 16-bit y: stores y[row, col .. col + 1] = (y0, y1) as one 4-byte pair
  /// when row < M and col + 1 < N (col even), else y0 alone when it exists
  /// (the last column of an odd N).
  void storePairGuarded(Sm80Instructions &sm80, mlir::Value row, mlir::Value col, mlir::Value y0,
                        mlir::Value y1) {
    using mlir::arith::CmpIPredicate;
    mlir::Value pairOk = cmpi(CmpIPredicate::slt, add(col, ci32(1)), arg("n"));
    auto ifPair = mlir::scf::IfOp::create(
        b, loc,
        mlir::arith::AndIOp::create(b, loc, pairOk, cmpi(CmpIPredicate::slt, row, arg("m"))),
        /*withElse=*/true);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifPair.thenBlock()->getTerminator());
    mlir::LLVM::StoreOp::create(b, loc, sm80.pack2(elt, y0, y1),
                                elemPtr("y", row, col, "y_row_stride"), 4);
    b.setInsertionPoint(ifPair.elseBlock()->getTerminator());
    storeGuarded(row, col, y0);
  }

  const AttentionSpec &spec;
  KernelFunction fn;
  mlir::Type elt;
  int eltBytes = 2;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_LIB_GEMMEMITTERBASE_H

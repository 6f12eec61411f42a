//===- KernelBuilder.h - The builder library every recipe uses ---*- C++ -*-===//
//
// Part of attnjit. The lowest kernel layer: scalar and index arithmetic,
// fp32 math on the SFU, global/shared pointer arithmetic, warp shuffles and
// votes, structured control flow helpers, and the kernel function itself (its
// signature built from an ABI table, its dynamic shared memory). Nothing here
// knows an architecture's matrix instructions (Sm80Instructions.h,
// Sm90Instructions.h) or an attention algorithm (OnlineSoftmax.h, recipes).
//
// Recipes derive from KernelBuilder (or hold one) so that the schedule reads
// as `add(row, ci32(8))` rather than as builder boilerplate.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_KERNELBUILDER_H
#define ATTNJIT_KERNELS_KERNELBUILDER_H

#include "attnjit/Core/FlashKernelABI.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace attnjit::kernels {

/// Kernel function attribute: the indices (array<i32>) of its by-value
/// tensor-map parameters, made byval + nvvm.grid_constant after the
/// GPU-to-NVVM lowering.
inline constexpr llvm::StringLiteral kTensorMapArgsAttr = "attnjit.tensor_map_args";

/// gpu.module attribute: the lowest PTX ISA version (e.g. 84 for 8.4) an
/// instruction in the module needs; PTX emission targets at least that (8.0
/// otherwise).
inline constexpr llvm::StringLiteral kMinPtxVersionAttr = "attnjit.min_ptx_version";

/// A kernel function under construction: its entry block arguments by ABI name.
struct KernelFunction {
  mutable mlir::gpu::GPUFuncOp func;
  llvm::SmallVector<AbiParam> params;
  /// The argument named `name` (a kernel ABI parameter); aborts on an unknown
  /// name, which is a bug in the recipe, not bad input.
  mlir::Value arg(const char *name) const;
};

class KernelBuilder {
public:
  KernelBuilder(mlir::OpBuilder &b, mlir::Location loc);

  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::MLIRContext *ctx;
  mlir::Type i1, i8, i16, i32, i64, f32;
  mlir::Type ptrG; ///< global pointer (addrspace 1)
  mlir::Type ptrS; ///< shared pointer (addrspace 3)
  /// Base of the kernel's dynamic shared memory (set by declareDynamicSmem).
  mlir::Value smemBase;

  //--- kernel function ----------------------------------------------------//
  /// Appends `gpu.func @name` (a kernel) to `module` with one argument per ABI
  /// parameter, `threads` as nvvm.maxntid and nvvm.minctasm = 1, and leaves
  /// the insertion point at the start of its body. The caller restores the
  /// insertion point (an InsertionGuard) when done.
  KernelFunction createKernel(mlir::gpu::GPUModuleOp module, const std::string &name,
                              llvm::ArrayRef<AbiParam> params, int threads);
  /// Declares the external addrspace(3) array `<kernel>_smem` at the end of
  /// `module` (the insertion point must be in the module body).
  void declareDynamicSmem(const std::string &symbol, int alignment = 1024);
  /// Loads smemBase from the symbol (inside the kernel).
  void bindDynamicSmem(const std::string &symbol);
  /// threadIdx.x / blockIdx.{x,y,z} / gridDim.x as i32.
  mlir::Value threadIdX();
  mlir::Value blockId(mlir::gpu::Dimension d);
  mlir::Value gridDim(mlir::gpu::Dimension d);

  //--- integers -------------------------------------------------------------//
  mlir::Value ci32(int64_t v) { return mlir::arith::ConstantIntOp::create(b, loc, i32, v); }
  mlir::Value ci64(int64_t v) { return mlir::arith::ConstantIntOp::create(b, loc, i64, v); }
  mlir::Value add(mlir::Value x, mlir::Value y) { return mlir::arith::AddIOp::create(b, loc, x, y); }
  mlir::Value sub(mlir::Value x, mlir::Value y) { return mlir::arith::SubIOp::create(b, loc, x, y); }
  mlir::Value mul(mlir::Value x, mlir::Value y) { return mlir::arith::MulIOp::create(b, loc, x, y); }
  mlir::Value andi(mlir::Value x, int64_t m) { return mlir::arith::AndIOp::create(b, loc, x, ci32(m)); }
  mlir::Value xori(mlir::Value x, mlir::Value y) { return mlir::arith::XOrIOp::create(b, loc, x, y); }
  mlir::Value shrui(mlir::Value x, int64_t s) { return mlir::arith::ShRUIOp::create(b, loc, x, ci32(s)); }
  mlir::Value divui(mlir::Value x, int64_t d) { return mlir::arith::DivUIOp::create(b, loc, x, ci32(d)); }
  mlir::Value remui(mlir::Value x, int64_t d) { return mlir::arith::RemUIOp::create(b, loc, x, ci32(d)); }
  mlir::Value ext64(mlir::Value x) { return mlir::arith::ExtSIOp::create(b, loc, i64, x); }
  mlir::Value cmpi(mlir::arith::CmpIPredicate p, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpIOp::create(b, loc, p, x, y);
  }
  mlir::Value select(mlir::Value c, mlir::Value x, mlir::Value y) {
    return mlir::arith::SelectOp::create(b, loc, c, x, y);
  }
  mlir::Value minsi(mlir::Value x, mlir::Value y) { return mlir::arith::MinSIOp::create(b, loc, x, y); }
  mlir::Value maxsi(mlir::Value x, mlir::Value y) { return mlir::arith::MaxSIOp::create(b, loc, x, y); }
  /// Index (from gpu ids) to i32.
  mlir::Value toI32(mlir::Value index);

  //--- fp32 -----------------------------------------------------------------//
  mlir::Value cf32(double v);
  mlir::Value negInf();
  mlir::Value fmul(mlir::Value x, mlir::Value y) { return mlir::arith::MulFOp::create(b, loc, x, y); }
  mlir::Value fadd(mlir::Value x, mlir::Value y) { return mlir::arith::AddFOp::create(b, loc, x, y); }
  mlir::Value fneg(mlir::Value x) { return mlir::arith::NegFOp::create(b, loc, x); }
  mlir::Value fmax(mlir::Value x, mlir::Value y) { return mlir::LLVM::MaxNumOp::create(b, loc, x, y); }
  mlir::Value fma(mlir::Value x, mlir::Value y, mlir::Value z) {
    return mlir::LLVM::FMAOp::create(b, loc, x, y, z);
  }
  mlir::Value cmpf(mlir::arith::CmpFPredicate p, mlir::Value x, mlir::Value y) {
    return mlir::arith::CmpFOp::create(b, loc, p, x, y);
  }
  /// ex2.approx.ftz / lg2.approx.ftz: the SFU instructions; kernels never need
  /// denormals there.
  mlir::Value exp2(mlir::Value x) { return intrinsic("llvm.nvvm.ex2.approx.ftz.f32", x); }
  mlir::Value log2(mlir::Value x) { return intrinsic("llvm.nvvm.lg2.approx.ftz.f", x); }
  mlir::Value intrinsic(llvm::StringRef name, mlir::Value x);

  //--- pointers ---------------------------------------------------------------//
  /// base + byteOff (global).
  mlir::Value gepG(mlir::Value base, mlir::Value byteOff) {
    return mlir::LLVM::GEPOp::create(b, loc, ptrG, i8, base, mlir::ValueRange{byteOff});
  }
  /// smemBase + byteOff (shared).
  mlir::Value gepS(mlir::Value byteOff) {
    return mlir::LLVM::GEPOp::create(b, loc, ptrS, i8, smemBase, mlir::ValueRange{byteOff});
  }

  //--- vectors ----------------------------------------------------------------//
  /// The 2-element vector (x0, x1) of their type.
  mlir::Value vec2(mlir::Value x0, mlir::Value x1);

  //--- warps ------------------------------------------------------------------//
  /// Butterfly shuffle of an f32 over the full warp.
  mlir::Value shflXor(mlir::Value v, int offset);
  /// The value of `v` in lane `srcLane` (same type as v).
  mlir::Value shflIdx(mlir::Value v, mlir::Value srcLane);
  /// vote.any over the full warp (warp-uniform i1).
  mlir::Value voteAny(mlir::Value pred);

  /// Records that the kernel being built needs PTX ISA `version` (e.g. 84) or
  /// newer, on the enclosing gpu.module (kMinPtxVersionAttr).
  void requirePtxVersion(int version);

  //--- control flow -----------------------------------------------------------//
  /// Emits `scf.if cond` and runs `body` inside its then-block.
  template <class F> void ifThen(mlir::Value cond, F &&body) {
    auto ifOp = mlir::scf::IfOp::create(b, loc, cond, false);
    mlir::OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_KERNELBUILDER_H

//===- Sm80Instructions.h - The sm_80 instruction layer ----------*- C++ -*-===//
//
// Part of attnjit. The Ampere warp-level instructions every sm_80+ recipe
// uses: cp.async (with zero fill) and its groups, ldmatrix, and mma.sync
// (m16n8k16 f16/bf16, m16n8k32 s8 and e4m3, fp32 or s32 accumulators).
// Fragment layouts of these instructions are described in Fragments.h.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_SM80INSTRUCTIONS_H
#define ATTNJIT_KERNELS_SM80INSTRUCTIONS_H

#include "attnjit/Kernels/KernelBuilder.h"

#include <utility>

namespace attnjit::kernels {

/// Element types of an mma.sync operand.
enum class MmaOperand { F16, BF16, S8, E4M3 };

class Sm80Instructions {
public:
  explicit Sm80Instructions(KernelBuilder &kb) : kb(kb) {}

  /// cp.async of `bytes` (4, 8 or 16) from global `src` to shared `dst`,
  /// copying `srcSize` bytes (i32; 0..bytes) and zero filling the rest. 16-byte
  /// copies bypass L1 (.cg).
  void cpAsync(mlir::Value dst, mlir::Value src, int bytes, mlir::Value srcSize);
  void cpAsyncCommit();
  /// Waits until at most `pending` committed groups are in flight.
  void cpAsyncWait(int pending);
  /// bar.sync 0.
  void barrier();

  /// ldmatrix .x4 of 8x8 b16 matrices at shared byte offset `byteOff`
  /// (transposed with `trans`): four i32 registers.
  llvm::SmallVector<mlir::Value, 4> ldmatrix4(mlir::Value byteOff, bool trans);

  /// c += a * b with mma.sync.m16n8k16 (f16/bf16 operands: a four i32
  /// registers, b two) or m16n8k32 (s8/e4m3: a four, b two i32 registers of
  /// four elements), fp32 accumulators (s32 for s8) in c (four values).
  void mma(MmaOperand type, llvm::ArrayRef<mlir::Value> a, llvm::ArrayRef<mlir::Value> b,
           llvm::MutableArrayRef<mlir::Value> c);

  /// Packs two fp32 values to one i32 of two 16-bit `elt` (f16/bf16) elements.
  mlir::Value pack2(mlir::Type elt, mlir::Value lo, mlir::Value hi);
  /// cvt.rn.satfinite.e4m3x2.f32 (sm_89+): two fp32 values as FP8 e4m3 in
  /// one i16, `lo` in the low byte.
  mlir::Value cvtE4m3x2(mlir::Value lo, mlir::Value hi);
  /// Four fp32 values as FP8 e4m3 in one i32, x[0] in the low byte: the
  /// packing of an 8-bit MMA operand register.
  mlir::Value packE4m3x4(mlir::Value x0, mlir::Value x1, mlir::Value x2, mlir::Value x3);
  /// cvt.rn.f16x2.e4m3x2 (sm_89+) then to fp32: the two values of an i16 of
  /// FP8 e4m3 (low byte first), exactly.
  std::pair<mlir::Value, mlir::Value> e4m3x2ToF32(mlir::Value packed);
  /// Two i16 as one i32, `lo` in the low half.
  mlir::Value packI16x2(mlir::Value lo, mlir::Value hi);

private:
  KernelBuilder &kb;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_SM80INSTRUCTIONS_H

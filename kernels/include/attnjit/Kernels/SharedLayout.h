//===- SharedLayout.h - Swizzled shared-memory tile layouts ------*- C++ -*-===//
//
// Part of attnjit. Tiles of 16-bit rows in shared memory, stored in 16-byte
// chunks whose position within a row is XOR-swizzled by the row, so that the
// eight rows an ldmatrix (or a cp.async round) touches hit distinct banks.
// Rows of 4 chunks swizzle with (row / 2) % 4; wider rows with row % 8 within
// each group of 8 chunks (the 128-byte swizzle that TMA also implements).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_SHAREDLAYOUT_H
#define ATTNJIT_KERNELS_SHAREDLAYOUT_H

#include "attnjit/Kernels/KernelBuilder.h"

namespace attnjit::kernels {

class SwizzledTileLayout {
public:
  /// `pitchChunks`: 16-byte chunks per row, 4 or a multiple of 8.
  SwizzledTileLayout(KernelBuilder &kb, int pitchChunks) : kb(kb), pitchChunks(pitchChunks) {}

  int chunksPerRow() const { return pitchChunks; }
  int rowBytes() const { return pitchChunks * 16; }
  /// The period (in chunks) of the swizzle along a row.
  int swizzleWidth() const { return pitchChunks == 4 ? 4 : 8; }

  /// Byte offset of 16-byte chunk `chunk` of tile row `row` (both runtime i32).
  mlir::Value offset(mlir::Value row, mlir::Value chunk);

  /// ldmatrix addressing of one operand tile: each lane reads row `rowBytes`
  /// of the tile at chunk `c0 + k` for compile-time even k. The XOR swizzle
  /// makes the chunk's address depend on the lane, but only through `k` modulo
  /// the swizzle's width, so one per-lane base per even residue r is computed
  /// before the loop (rowBytes + (xor ^ r) * 16, at index r / 2) and every
  /// other offset is a compile-time immediate. This keeps the loop's live
  /// address registers to a handful instead of one per (k, tile row) pair.
  using LdmBases = llvm::SmallVector<mlir::Value, 4>;
  /// Per-lane XOR term for a lane whose row is `row` (only its low bits
  /// matter) and whose runtime chunk part is `c0` (0 or 1).
  mlir::Value ldmXorTerm(mlir::Value row, mlir::Value c0);
  LdmBases ldmBases(mlir::Value rowBytes, mlir::Value xorTerm);
  /// Byte offset of chunk k (even) of tile row rowConst + the lane's row:
  /// tileOff (runtime, may be null) + per-lane base + immediate.
  mlir::Value ldmOffset(const LdmBases &bases, mlir::Value tileOff, int rowConst, int kConst);

private:
  KernelBuilder &kb;
  int pitchChunks;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_SHAREDLAYOUT_H

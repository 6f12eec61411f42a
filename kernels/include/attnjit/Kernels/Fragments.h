//===- Fragments.h - Accumulator fragments of the tensor-core MMAs -*- C++ -*-===//
//
// Part of attnjit. Where each fp32 accumulator element of a thread sits in its
// warp's tile. mma.sync m16n8 and wgmma m64nN (each warp of the warpgroup
// owning 16 of the 64 rows) share one per-warp shape: a thread holds rows
// lane / 4 and lane / 4 + 8 of every 16-row group, and columns
// 8 j + 2 (lane % 4) + {0, 1} of every 8-column tile j. The online softmax,
// masking, dropout and epilogues are written against this description, so the
// same code serves both instruction sets.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_FRAGMENTS_H
#define ATTNJIT_KERNELS_FRAGMENTS_H

#include "attnjit/Kernels/KernelBuilder.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace attnjit::kernels {

struct AccFragment {
  int mTiles = 0; ///< 16-row groups of the warp's tile
  int nTiles = 0; ///< 8-column tiles

  /// Row slots per thread: two per 16-row group.
  int rows() const { return mTiles * 2; }
  /// Accumulator values per thread.
  int size() const { return mTiles * nTiles * 4; }
  /// Flat index of element e (0, 1) of column tile j in row slot r.
  int index(int r, int j, int e) const { return ((r / 2) * nTiles + j) * 4 + (r % 2) * 2 + e; }
  /// Row of slot r within the warp's tile, less lane / 4: 16 (r / 2) + 8 (r % 2).
  int rowOffset(int r) const { return (r / 2) * 16 + (r % 2) * 8; }
  /// Lanes that share a row hold adjacent column pairs: a row reduction is a
  /// butterfly over lane bits 0 and 1 (shuffle xor 1, then 2).
  static constexpr int kRowLaneMasks[2] = {1, 2};
};

/// Where a thread's fragment elements sit in the attention matrix: query rows
/// of a CTA tile starting at m0, whose warps own consecutive 16 * mTiles rows,
/// and key columns of key block n (blockN keys).
struct FragmentCoords {
  KernelBuilder &kb;
  AccFragment frag;
  mlir::Value lane, warp, m0;
  int blockN = 0;

  /// Key column of element (j, e) in key block n.
  mlir::Value key(mlir::Value n, int j, int e) {
    return kb.add(kb.add(kb.mul(n, kb.ci32(blockN)), kb.mul(kb.andi(lane, 3), kb.ci32(2))),
                  kb.ci32(j * 8 + e));
  }
  /// Query row of row slot r.
  mlir::Value row(int r) {
    return kb.add(m0, kb.add(kb.mul(warp, kb.ci32(16 * frag.mTiles)),
                             kb.add(kb.ci32(frag.rowOffset(r)), kb.shrui(lane, 2))));
  }
};

/// Sets each score s[frag.index(r, j, e)] whose key column is >= limit(r) to
/// -inf: sequence tails and causal diagonals.
void maskColumnsFrom(KernelBuilder &kb, FragmentCoords &at, mlir::Value n,
                     llvm::SmallVectorImpl<mlir::Value> &s,
                     llvm::function_ref<mlir::Value(int r)> limit);

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_FRAGMENTS_H

//===- OnlineSoftmax.h - The exp2-domain online softmax ----------*- C++ -*-===//
//
// Part of attnjit. One key block's step of the online softmax over a thread's
// score fragment S and output fragment O (Fragments.h), and the epilogue's row
// normalization and log-sum-exp. Scores are turned into the scaled log2 domain
// by one FMA (score * scale * log2(e) - max), so probabilities are one SFU
// exp2 each.
//
// The running max moves (and O and the row sums are rescaled by
// alpha = exp2(old - new)) only when some row of the warp grew by more than
// `rescaleSlack` in the scaled log2 domain; otherwise the block's
// probabilities use the stale max and are at most 2^slack, which fp32 sums and
// 16-bit P carry without loss of relative precision. With random or trained
// inputs the max settles after a few blocks, so the 4 * head_dim multiplies per
// row pair and block are mostly skipped. The branch is warp-uniform (vote.any).
// The log-sum-exp stays exact: the stored max is the one the sums were
// computed against.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_ONLINESOFTMAX_H
#define ATTNJIT_KERNELS_ONLINESOFTMAX_H

#include "attnjit/Kernels/Fragments.h"

#include "llvm/ADT/STLFunctionalExtras.h"

namespace attnjit::kernels {

/// How far (log2 units of the scaled scores) a row's max may grow before the
/// running max and O are rescaled.
inline constexpr double kRescaleSlack = 8.0;

class OnlineSoftmax {
public:
  /// `s`: the score fragment; `o`: the output fragment (same rows);
  /// `softmaxScale`: multiplies scores (scale * log2(e), or 1 when scores are
  /// already in the scaled log2 domain). `rescaleSlack`: kRescaleSlack, or 0
  /// for a consumer that needs every probability in [0, 1] (Sage scales P to
  /// FP8's range, which a stale max could overflow).
  OnlineSoftmax(KernelBuilder &kb, AccFragment s, AccFragment o, mlir::Value softmaxScale,
                double rescaleSlack = kRescaleSlack)
      : kb(kb), sf(s), of(o), scale(softmaxScale), slack(rescaleSlack) {}

  /// Per row slot: the max over the block's scores and the running max,
  /// reduced over the lanes that share the row.
  llvm::SmallVector<mlir::Value> blockMax(llvm::ArrayRef<mlir::Value> s,
                                          llvm::ArrayRef<mlir::Value> rowMax);
  /// Moves the running max to `blockMax` and rescales `rowSum` and `acc` when
  /// some row of the warp grew by more than the slack (warp-uniform).
  void rescale(llvm::ArrayRef<mlir::Value> blockMax, llvm::SmallVectorImpl<mlir::Value> &rowMax,
               llvm::SmallVectorImpl<mlir::Value> &rowSum, llvm::SmallVectorImpl<mlir::Value> &acc);
  /// The same decision as rescale(), for pipelines whose output tile is still
  /// being written by an asynchronous MMA: moves the running max and rescales
  /// `rowSum` now, and returns each row slot's factor for the output (1 where
  /// nothing was rescaled), which the caller applies with scaleRows() once
  /// the MMA completed.
  llvm::SmallVector<mlir::Value> rescaleDeferred(llvm::ArrayRef<mlir::Value> blockMax,
                                                 llvm::SmallVectorImpl<mlir::Value> &rowMax,
                                                 llvm::SmallVectorImpl<mlir::Value> &rowSum);
  /// acc (the output fragment) *= factor of its row slot.
  void scaleRows(llvm::ArrayRef<mlir::Value> factor, llvm::SmallVectorImpl<mlir::Value> &acc);
  /// Probabilities exp2(s * scale - max) of each row slot r and column tile j,
  /// handed to `sink(r, j, p)` (p[0], p[1]: the tile's two columns, which the
  /// sink may change, e.g. for dropout, before packing them). Their sum
  /// (before the sink: the row sum counts every probability) is added to
  /// rowSum[r], the thread's partial sum.
  void exponentiate(llvm::ArrayRef<mlir::Value> s, llvm::ArrayRef<mlir::Value> rowMax,
                    llvm::SmallVectorImpl<mlir::Value> &rowSum,
                    llvm::function_ref<void(int r, int j, mlir::Value (&p)[2])> sink);

  /// The row's max in the scaled log2 domain; 0 when the row has seen no
  /// visible key (avoids inf - inf).
  mlir::Value scaledMax(mlir::Value mx);

  /// Epilogue of one row slot: the row's total sum (the thread's partial sum
  /// reduced over the row's lanes), whether it is empty (no visible key) and
  /// 1 / sum (0 for an empty row, whose output is zeros).
  struct RowTotal {
    mlir::Value sum, empty, inv;
  };
  RowTotal finish(mlir::Value partialSum);
  /// Natural-log log-sum-exp of a finished row; -inf when empty. `scaleLog2`
  /// is the kernel's softmax_scale * log2(e) (the max is unscaled).
  mlir::Value logSumExp(mlir::Value rowMax, const RowTotal &t, mlir::Value scaleLog2);

private:
  /// Whether some row of the warp grew by more than kRescaleSlack (warp-uniform).
  mlir::Value rescaleVote(llvm::ArrayRef<mlir::Value> blockMax, llvm::ArrayRef<mlir::Value> rowMax);

  KernelBuilder &kb;
  AccFragment sf, of;
  mlir::Value scale;
  double slack;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_ONLINESOFTMAX_H

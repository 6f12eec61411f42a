//===- SdpaScoreMods.h - SDPA masks and dropout on score fragments -*- C++ -*-===//
//
// Part of attnjit. What torch's scaled_dot_product_attention adds to the flash
// recipe, written against the score fragment (Fragments.h): the caller's bool
// or additive mask (one value per score, or one per key for key-padding masks,
// loaded early and shuffled to the owning lanes), and Philox dropout (Philox.h)
// whose stream depends only on (seed, offset, batch * heads + head, row, key),
// never on the tiling. A recipe holds one of these when its spec is an sdpa
// spec with a mask or dropout; flash specs have none.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_SDPASCOREMODS_H
#define ATTNJIT_KERNELS_SDPASCOREMODS_H

#include "attnjit/Kernels/Fragments.h"
#include "attnjit/Core/AttentionSpec.h"

namespace attnjit::kernels {

class SdpaScoreMods {
public:
  /// `elt`: the dtype of an additive mask (q's); `eltBytes` its size.
  SdpaScoreMods(KernelBuilder &kb, FragmentCoords &at, const AttentionSpec &spec, mlir::Type elt,
                int eltBytes)
      : kb(kb), at(at), spec(spec), elt(elt), eltBytes(eltBytes) {}

  bool hasMask() const { return spec.maskKind != MaskKind::None; }
  bool additive() const { return spec.maskKind == MaskKind::Additive; }
  bool hasDropout() const { return spec.dropout; }

  /// Kernel prologue: per-thread mask row pointers and the Philox key, from
  /// the kernel's arguments (SdpaKernelABI.h) and the CTA's batch and head.
  void init(const KernelFunction &fn, mlir::Value batch, mlir::Value head, mlir::Value seqQ,
            mlir::Value seqK, mlir::Value scaleLog2);

  /// Per-key masks: a warp needs blockN values per key block, so each lane
  /// loads two adjacent keys per 64 (keys 64c + 2 * lane + {0, 1}) before the
  /// barrier and S = Q K^T, hiding the latency; applyMask shuffles them to the
  /// lanes that own those columns. Bool pairs travel as one i32 (bits 0, 1).
  llvm::SmallVector<mlir::Value> loadKeyMask(mlir::Value n);
  /// Applies the caller's mask to the scores of key block n: bool (false ->
  /// -inf) or additive (scores move to the scaled log2 domain: s * scale_log2 +
  /// mask * log2(e); the softmax scale is then 1). `keyMask` holds
  /// loadKeyMask's values for per-key masks; full masks are loaded here, one
  /// per score (keys clamped to Sk - 1 in `masked` blocks).
  void applyMask(mlir::Value n, bool masked, llvm::ArrayRef<mlir::Value> keyMask,
                 llvm::SmallVectorImpl<mlir::Value> &s);

  /// Dropout words for key block n: [(mt * nTiles + j) * 4 + half * 2 + e],
  /// i.e. indexed like the score fragment.
  llvm::SmallVector<mlir::Value> dropoutWords(mlir::Value n);
  /// p if its word keeps it, else 0.
  mlir::Value dropout(mlir::Value p, mlir::Value word);
  /// 1 / (1 - dropout_p): multiplies the normalized output.
  mlir::Value dropoutScale() const { return dropScale; }

private:
  mlir::Value loadMask(mlir::Value key, int r);
  llvm::SmallVector<mlir::Value, 4> philox(mlir::Value key, mlir::Value row);

  KernelBuilder &kb;
  FragmentCoords &at;
  const AttentionSpec &spec;
  mlir::Type elt;
  int eltBytes;
  mlir::Value seqK, scaleLog2;
  mlir::Value maskColStride;
  llvm::SmallVector<mlir::Value> maskRowBase; ///< per row slot (one entry when per key)
  mlir::Value dropThreshold, dropScale, philoxBH, philoxOffLo, philoxK0, philoxK1;
};

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_SDPASCOREMODS_H

//===- FlashSm80.h - The sm_80+ flash-attention kernel recipe ----*- C++ -*-===//
//
// Part of attnjit. Emits the FlashAttention-2-structured forward kernel
// (cp.async multi-stage K/V pipeline, ldmatrix + mma.sync m16n8k16, online
// softmax in the exp2 domain) as kernel IR: a gpu.func using the gpu, nvvm, scf,
// arith and llvm dialects. Runs on every sm_80+ GPU, Hopper included.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_FLASHSM80_H
#define ATTNJIT_KERNELS_FLASHSM80_H

#include "attnjit/Runtime/AttentionSpec.h"

#include <string>

namespace mlir {
class OpBuilder;
class Location;
namespace gpu {
class GPUModuleOp;
class GPUFuncOp;
} // namespace gpu
} // namespace mlir

namespace attnjit::kernels {

/// Static shape of one flash kernel: tile sizes and the shared-memory plan.
struct FlashGeometry {
  int headDim = 0;     ///< padded to a multiple of 16 (the MMA k width)
  int realHeadDim = 0; ///< the spec's head_dim; columns beyond it are zero in shared memory
  int eltBytes = 2;
  int accessBytes = 16; ///< bytes per global access of a row (sdpaAccessBytes)
  int smemPitch = 0;   ///< elements per shared-memory row (>= headDim, swizzle-friendly)
  int blockM = 0, blockN = 0, numWarps = 0, stages = 0;
  int mTilesPerWarp = 0; ///< 16-row MMA tiles each warp owns
  int threads = 0;
  int planes = 1; ///< 2 for f32 inputs: bf16 hi and lo planes per tile
  int qPlaneBytes = 0, kvPlaneBytes = 0;
  int qBytes = 0, kvTileBytes = 0, smemBytes = 0;

  /// Computes the geometry; returns a message naming the problem when the
  /// config cannot be used (empty on success).
  static std::string compute(const AttentionSpec &spec, FlashGeometry &out);
};

/// head_dim rounded up to a multiple of 16: SDPA head sizes are padded in
/// registers and shared memory (zero-filled), never in the caller's tensors.
int paddedHeadDim(const AttentionSpec &spec);

/// The config-table entry for a flash or sdpa spec on its arch.
KernelConfig defaultFlashSm80Config(const AttentionSpec &spec);

/// Emits the kernel for `spec` (flash or sdpa; config complete) at the end of
/// `module`. SDPA kernels are this recipe with padded head sizes, narrower
/// global accesses where rows are not 16-byte multiples, a bool or additive
/// mask, top-left causal alignment and Philox dropout (Philox.h).
mlir::gpu::GPUFuncOp emitFlashSm80Kernel(mlir::OpBuilder &builder, mlir::Location loc,
                                         mlir::gpu::GPUModuleOp module,
                                         const AttentionSpec &spec);

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_FLASHSM80_H

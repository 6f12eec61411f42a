//===- LayerProbes.h - Tiny kernels that prove an instruction layer -*- C++ -*-===//
//
// Part of attnjit. Before a recipe stands on an instruction layer, these
// kernels, generated through the same layers, check on a GPU that each piece
// does what the layer says (tests/gpu/InstructionLayerTest.cpp):
//   - TmaRoundTrip: a 64 x 64 bf16 box loaded by TMA (128B swizzle) into
//     shared memory, completing on an mbarrier with an expected transaction
//     count; the threads read it back through SharedLayout's swizzle and store
//     it densely (`plain`), and a TMA store writes the same box to a second
//     tensor. Boxes past the input's bounds read zeros.
//   - Wgmma*: one warpgroup's D[64 x 64] = A[64 x K] B[64 x K]^T with A and B
//     TMA-loaded (128B swizzle, K = 128 bytes: 64 f16/bf16 or 128 s8/e4m3),
//     four wgmma steps over K with shared-memory descriptors, D (fp32, s32 for
//     s8) stored from the accumulator fragment (Fragments.h).
//   - TensorMapEcho: thread 0 of CTA 0 copies the 16 words of its by-value
//     CUtensorMap parameter and an i32 tag to `out` (the parameter reaches
//     the kernel intact).
//   - ClusterRank: thread 0 of each CTA writes (cluster rank, CTAs per
//     cluster, the tag at out + 128) at out + 256 + 16 * blockIdx.x (cluster
//     launches; reading the tag shows the plan's kernels ran in order).
//   - MmaSync*: the sm_80 layer's 8-bit mma.sync (m16n8k32, s8 and e4m3):
//     one warp's D[16 x 8] = A[16 x 32] B[8 x 32]^T, fragments loaded from
//     global memory in the instruction's documented layout.
// They are test kernels, not recipes: no spec, no cache.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_KERNELS_LAYERPROBES_H
#define ATTNJIT_KERNELS_LAYERPROBES_H

#include "attnjit/Core/FlashKernelABI.h"

#include <string>
#include <string_view>
#include <vector>

namespace mlir {
class OpBuilder;
class Location;
namespace gpu {
class GPUModuleOp;
} // namespace gpu
} // namespace mlir

namespace attnjit::kernels {

enum class LayerProbe {
  TmaRoundTrip,
  WgmmaF16,
  WgmmaBF16,
  WgmmaS8,
  WgmmaE4M3,
  TensorMapEcho,
  ClusterRank,
  MmaSyncS8,
  MmaSyncE4M3
};

std::string_view toString(LayerProbe p);

/// How a probe is launched: one CTA of `threads`, `sharedMemBytes` dynamic
/// shared memory, parameters in order.
struct ProbeShape {
  std::string entry;
  int threads = 0;
  int sharedMemBytes = 0;
  std::vector<AbiParam> params;
};

/// The probe's shape (no IR is built).
ProbeShape probeShape(LayerProbe p);
/// Appends the probe kernel to `module`.
void emitProbe(mlir::OpBuilder &b, mlir::Location loc, mlir::gpu::GPUModuleOp module,
               LayerProbe p);

/// Probe geometry, shared with the tests.
inline constexpr int kProbeBoxRows = 64;     ///< rows of every box (A, B, the round trip)
inline constexpr int kProbeBoxRowBytes = 128; ///< one 128B-swizzle row
inline constexpr int kProbeN = 64;           ///< wgmma N
inline constexpr int kProbeMmaM = 16, kProbeMmaN = 8, kProbeMmaK = 32; ///< m16n8k32

} // namespace attnjit::kernels

#endif // ATTNJIT_KERNELS_LAYERPROBES_H

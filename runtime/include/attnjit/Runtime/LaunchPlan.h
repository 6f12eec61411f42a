//===- LaunchPlan.h - How a compiled kernel is launched ----------*- C++ -*-===//
//
// Part of attnjit. A CompiledKernel is a launch plan: one or more kernels of
// one module, launched in order on the caller's stream (Sage: quantize, then
// attend; split-KV: attend, then merge). Each kernel says how its grid follows
// from the launch shape, its cluster, its shared memory and the kinds of its
// parameters; the plan says how much device workspace its kernels share. Like
// CompiledKernel it holds no CUDA or LLVM types, so it is stored in cache
// entries and bundles and read by a runtime without LLVM.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LAUNCHPLAN_H
#define ATTNJIT_RUNTIME_LAUNCHPLAN_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/FlashKernelABI.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

/// Kind of one kernel parameter, as the launcher packs it.
enum class ParamKind : uint8_t {
  Ptr,       ///< a global pointer (8 bytes)
  I32,       ///< int32 / uint32
  I64,       ///< int64 / uint64
  F32,       ///< float
  TensorMap, ///< a CUtensorMap by value: 128 bytes aligned to 64 (`.param .align 64 .b8 [128]`)
};

/// Bytes of a tensor map (CU_TENSOR_MAP_NUM_QWORDS * 8) and their alignment;
/// Driver.h checks them against cuda.h's CUtensorMap.
inline constexpr size_t kTensorMapBytes = 128;
inline constexpr size_t kTensorMapAlign = 64;

/// Size in the kernel's parameter space.
constexpr size_t paramSize(ParamKind k) {
  switch (k) {
  case ParamKind::Ptr: return 8;
  case ParamKind::I32: return 4;
  case ParamKind::I64: return 8;
  case ParamKind::F32: return 4;
  case ParamKind::TensorMap: return kTensorMapBytes;
  }
  return 0;
}
/// Alignment in the kernel's parameter space (natural for scalars).
constexpr size_t paramAlign(ParamKind k) {
  return k == ParamKind::TensorMap ? kTensorMapAlign : paramSize(k);
}
/// The plan's kind for an ABI table entry (FlashKernelABI.h).
constexpr ParamKind toParamKind(AbiType t) {
  switch (t) {
  case AbiType::Ptr: return ParamKind::Ptr;
  case AbiType::I32: return ParamKind::I32;
  case AbiType::I64: return ParamKind::I64;
  case AbiType::F32: return ParamKind::F32;
  case AbiType::TensorMap: return ParamKind::TensorMap;
  }
  return ParamKind::Ptr;
}

/// "ptr", "i32", "i64", "f32", "tensormap" (the spelling stored on disk).
std::string_view toString(ParamKind k);
std::optional<ParamKind> parseParamKind(std::string_view s);

/// Parameter kinds of the generated kernel of `variant` from its ABI table:
/// kFlashParams for flash, kFlashParams + kSdpaExtraParams for SDPA,
/// kMergeParams for merge, kGemmParams for gemm, kSageParams for each of the
/// four kernels of a Sage plan (SageKernelABI.h).
/// `tensorMaps`: the flash table followed by kFlashSm90Params (the sm_90a
/// flash recipe's signature: tensor maps and the batch size), the gemm table
/// followed by kGemmTmaParams (the sm_90a GEMM recipe's); flash and gemm only.
std::vector<ParamKind> abiParamKinds(Variant variant, bool tensorMaps = false);
/// The ABI version of `variant`'s table (kFlashAbiVersion, kSdpaAbiVersion,
/// kMergeAbiVersion; 0 without a table). A cached kernel of another version is
/// not launched.
int abiVersion(Variant variant);

/// Byte offsets of each parameter in the kernel's parameter space (each aligned
/// to paramAlign), and the total size. The order is the signature's.
struct ParamLayout {
  std::vector<size_t> offsets;
  size_t totalBytes = 0;
};
ParamLayout layoutParams(const std::vector<ParamKind> &kinds);

/// The largest parameter space a kernel may have: 32764 bytes from CUDA 12.1
/// on Volta and newer (4 KB before). Plans are checked against it.
inline constexpr size_t kMaxParamBytes = 32764;

//===----------------------------------------------------------------------===//
// Grids and clusters
//===----------------------------------------------------------------------===//

/// How a kernel's grid follows from the launch shape. New policies are added
/// here, in computeGrid and in the stored spelling (toString/parseGridPolicy).
enum class GridPolicy : uint8_t {
  /// (ceil(rows / blockRows), heads, batch): one CTA per tile of rows of one
  /// head of one batch entry (today's flash and SDPA kernels).
  TileGrid,
  /// (smCount * ctasPerSm, 1, 1), at most one CTA per tile when blockRows is
  /// set (ceil(rows / blockRows) * heads * batch tiles), rounded down to a multiple of the cluster's
  /// x: the kernel loops over the tiles itself (heaviest causal tiles first).
  Persistent,
};
/// "tile", "persistent".
std::string_view toString(GridPolicy g);
std::optional<GridPolicy> parseGridPolicy(std::string_view s);

/// Thread-block cluster (sm_90+). 1x1x1 is an ordinary launch.
struct ClusterShape {
  int x = 1, y = 1, z = 1;
  bool isUnit() const { return x == 1 && y == 1 && z == 1; }
  int64_t size() const { return int64_t(x) * y * z; }
  bool operator==(const ClusterShape &o) const { return x == o.x && y == o.y && z == o.z; }
  bool operator!=(const ClusterShape &o) const { return !(*this == o); }
};

/// The most CTAs a cluster may have: 8 portably, 16 with the non-portable
/// opt-in on H100. attnjit asks for no opt-in, so plans stay within 8.
inline constexpr int64_t kMaxPortableClusterSize = 8;

/// The most threads a CTA may have (every arch attnjit targets), and the most
/// CTAs of one kernel an SM holds at once (sm_80 and newer). Plans are checked
/// against them.
inline constexpr int kMaxThreadsPerBlock = 1024;
inline constexpr int kMaxCtasPerSm = 32;

/// The run-time shape a plan's grids are computed from.
struct LaunchDims {
  int64_t rows = 0; ///< rows tiled along x by TileGrid kernels (query rows)
  int heads = 1;
  int batch = 1;
};

/// A grid; unsigned like the driver's.
struct GridDims {
  unsigned x = 1, y = 1, z = 1;
  bool operator==(const GridDims &o) const { return x == o.x && y == o.y && z == o.z; }
};

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

/// One kernel of a plan.
struct KernelLaunchInfo {
  std::string entryName;   ///< kernel symbol in the plan's module
  int threadsPerBlock = 0; ///< block (threadsPerBlock, 1, 1)
  int sharedMemBytes = 0;  ///< dynamic shared memory per CTA
  GridPolicy grid = GridPolicy::TileGrid;
  int blockRows = 0;       ///< TileGrid: rows per CTA along x; Persistent: rows per tile (0: unknown)
  int ctasPerSm = 0;       ///< Persistent: CTAs per SM (unused otherwise)
  ClusterShape cluster;
  std::vector<ParamKind> params; ///< the kernel's signature, in order

  bool operator==(const KernelLaunchInfo &o) const;
  bool operator!=(const KernelLaunchInfo &o) const { return !(*this == o); }
};

/// Device scratch memory shared by a plan's kernels (Sage's quantized Q and K,
/// split-KV partial outputs), obtained by the caller of a launch from
/// KernelRuntime::workspace (or its own memory) and passed as a Ptr parameter.
/// The plan knows only the part that does not depend on the shape; what does
/// (e.g. B * H * Sq * D bytes of int8 Q) is computed by the entry point that
/// knows the shape and the recipe's layout, which the plan says with perLaunch.
struct WorkspaceRequirement {
  uint64_t fixedBytes = 0; ///< needed by every launch, whatever the shape
  bool perLaunch = false;  ///< the entry point adds a shape-dependent size per launch
  bool needed() const { return fixedBytes > 0 || perLaunch; }
  bool operator==(const WorkspaceRequirement &o) const {
    return fixedBytes == o.fixedBytes && perLaunch == o.perLaunch;
  }
};

/// The kernels of one module, launched in this order, and their workspace.
struct LaunchPlan {
  std::vector<KernelLaunchInfo> kernels;
  WorkspaceRequirement workspace;

  /// Empty when the plan can be launched, else what is wrong, naming the
  /// kernel (index and entry) and the field, with the value found.
  std::string validate() const;
  /// One line per kernel, for logs and tools, e.g.
  /// `flash_d128_bf16_sm90a: tile(rows/128, heads, batch), 128 threads,
  /// 49152 B smem, cluster 1x1x1, 22 params (ptr x5, i32 x4, i64 x12, f32 x1)`.
  std::string summary() const;
  bool operator==(const LaunchPlan &o) const {
    return kernels == o.kernels && workspace == o.workspace;
  }
};

/// The one-kernel TileGrid plan of today's flash and SDPA kernels.
LaunchPlan singleTileGridPlan(std::string entryName, int threadsPerBlock, int sharedMemBytes,
                              int blockRows, std::vector<ParamKind> params);
/// The one-kernel Persistent plan of the sm_90a flash recipe: `ctasPerSm` CTAs
/// per SM, no more than the tiles of `blockRows` rows.
LaunchPlan singlePersistentPlan(std::string entryName, int threadsPerBlock, int sharedMemBytes,
                                int blockRows, int ctasPerSm, std::vector<ParamKind> params);

/// The grid of `k` for `dims` on a device with `smCount` SMs. Throws
/// Error(InvalidArgument) naming the kernel, the shape and the limit when the
/// shape is not launchable (rows, heads or batch <= 0; y or z beyond 65535; x
/// beyond 2^31 - 1; a grid not divisible by the cluster).
GridDims computeGrid(const KernelLaunchInfo &k, const LaunchDims &dims, int smCount);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_LAUNCHPLAN_H

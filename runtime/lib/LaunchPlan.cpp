//===- LaunchPlan.cpp - How a compiled kernel is launched -----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/LaunchPlan.h"
#include "attnjit/Core/GemmKernelABI.h"
#include "attnjit/Core/MergeKernelABI.h"
#include "attnjit/Core/SageKernelABI.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Core/SdpaKernelABI.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <iterator>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

std::string_view toString(ParamKind k) {
  switch (k) {
  case ParamKind::Ptr: return "ptr";
  case ParamKind::I32: return "i32";
  case ParamKind::I64: return "i64";
  case ParamKind::F32: return "f32";
  case ParamKind::TensorMap: return "tensormap";
  }
  return "?";
}

std::optional<ParamKind> parseParamKind(std::string_view s) {
  for (ParamKind k : {ParamKind::Ptr, ParamKind::I32, ParamKind::I64, ParamKind::F32,
                      ParamKind::TensorMap})
    if (toString(k) == s)
      return k;
  return std::nullopt;
}

std::vector<ParamKind> abiParamKinds(Variant variant, bool tensorMaps) {
  std::vector<ParamKind> kinds;
  auto fromTable = [&](const auto &table) {
    for (const AbiParam &p : table)
      kinds.push_back(toParamKind(p.type));
    return kinds;
  };
  if (variant == Variant::Merge)
    return fromTable(kMergeParams);
  if (variant == Variant::Gemm) {
    fromTable(kGemmParams);
    return tensorMaps ? fromTable(kGemmTmaParams) : kinds;
  }
  if (variant == Variant::Sage)
    return fromTable(kSageParams);
  if (variant != Variant::Flash && variant != Variant::Sdpa)
    return kinds;
  for (const AbiParam &p : kFlashParams)
    kinds.push_back(toParamKind(p.type));
  if (variant == Variant::Sdpa)
    for (const AbiParam &p : kSdpaExtraParams)
      kinds.push_back(toParamKind(p.type));
  if (tensorMaps && variant == Variant::Flash)
    for (const AbiParam &p : kFlashSm90Params)
      kinds.push_back(toParamKind(p.type));
  return kinds;
}

int abiVersion(Variant variant) {
  switch (variant) {
  case Variant::Flash: return kFlashAbiVersion;
  case Variant::Sdpa: return kSdpaAbiVersion;
  case Variant::Merge: return kMergeAbiVersion;
  case Variant::Gemm: return kGemmAbiVersion;
  case Variant::Sage: return kSageAbiVersion;
  }
  return 0;
}

ParamLayout layoutParams(const std::vector<ParamKind> &kinds) {
  ParamLayout l;
  l.offsets.reserve(kinds.size());
  size_t at = 0;
  for (ParamKind k : kinds) {
    size_t align = paramAlign(k);
    at = (at + align - 1) / align * align;
    l.offsets.push_back(at);
    at += paramSize(k);
  }
  l.totalBytes = at;
  return l;
}

//===----------------------------------------------------------------------===//
// Grids
//===----------------------------------------------------------------------===//

std::string_view toString(GridPolicy g) {
  switch (g) {
  case GridPolicy::TileGrid: return "tile";
  case GridPolicy::Persistent: return "persistent";
  }
  return "?";
}

std::optional<GridPolicy> parseGridPolicy(std::string_view s) {
  for (GridPolicy g : {GridPolicy::TileGrid, GridPolicy::Persistent})
    if (toString(g) == s)
      return g;
  return std::nullopt;
}

GridDims computeGrid(const KernelLaunchInfo &k, const LaunchDims &dims, int smCount) {
  // The hardware limits: x < 2^31, y and z <= 65535.
  constexpr int64_t kMaxX = INT_MAX, kMaxYZ = 65535;
  auto bad = [&](const std::string &why) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("launch of kernel '{}' ({} grid): {}; got rows {}, heads {}, "
                             "batch {}",
                             k.entryName, toString(k.grid), why, dims.rows, dims.heads,
                             dims.batch));
  };
  int64_t x = 0, y = 1, z = 1;
  switch (k.grid) {
  case GridPolicy::TileGrid:
    if (dims.rows <= 0 || dims.heads <= 0 || dims.heads > kMaxYZ || dims.batch <= 0 ||
        dims.batch > kMaxYZ)
      throw bad("expected rows > 0, 0 < heads <= 65535 and 0 < batch <= 65535");
    if (k.blockRows <= 0)
      throw bad(fmt::format("its blockRows must be > 0, got {}", k.blockRows));
    x = (dims.rows + k.blockRows - 1) / k.blockRows;
    y = dims.heads;
    z = dims.batch;
    break;
  case GridPolicy::Persistent:
    if (smCount <= 0 || k.ctasPerSm <= 0)
      throw bad(fmt::format("expected smCount > 0 and ctasPerSm > 0, got smCount {}, "
                            "ctasPerSm {}",
                            smCount, k.ctasPerSm));
    x = int64_t(smCount) * k.ctasPerSm;
    // With rows per tile known, no more CTAs than tiles.
    if (k.blockRows > 0 && dims.rows > 0 && dims.heads > 0 && dims.batch > 0)
      x = std::min<int64_t>(x, (dims.rows + k.blockRows - 1) / k.blockRows * dims.heads *
                                   dims.batch);
    // A persistent grid is as large as the machine holds; fewer CTAs only
    // lengthen each one's loop, so round down to whole clusters.
    if (k.cluster.x > 1)
      x = std::max<int64_t>(k.cluster.x, x / k.cluster.x * k.cluster.x);
    break;
  }
  if (x > kMaxX)
    throw bad(fmt::format("grid x would be {}, beyond the limit of {}", x, kMaxX));
  if (x % k.cluster.x != 0 || y % k.cluster.y != 0 || z % k.cluster.z != 0)
    throw bad(fmt::format("grid ({}, {}, {}) is not a multiple of the cluster {}x{}x{}", x, y,
                          z, k.cluster.x, k.cluster.y, k.cluster.z));
  return GridDims{static_cast<unsigned>(x), static_cast<unsigned>(y), static_cast<unsigned>(z)};
}

//===----------------------------------------------------------------------===//
// The plan
//===----------------------------------------------------------------------===//

bool KernelLaunchInfo::operator==(const KernelLaunchInfo &o) const {
  return entryName == o.entryName && threadsPerBlock == o.threadsPerBlock &&
         sharedMemBytes == o.sharedMemBytes && grid == o.grid && blockRows == o.blockRows &&
         ctasPerSm == o.ctasPerSm && cluster == o.cluster && params == o.params;
}

std::string LaunchPlan::validate() const {
  if (kernels.empty())
    return "the launch plan has no kernels";
  for (size_t i = 0; i < kernels.size(); ++i) {
    const KernelLaunchInfo &k = kernels[i];
    std::string which = fmt::format("plan kernel {} ('{}')", i, k.entryName);
    if (k.entryName.empty())
      return fmt::format("plan kernel {}: its entry name is empty", i);
    if (k.threadsPerBlock <= 0 || k.threadsPerBlock > kMaxThreadsPerBlock)
      return fmt::format("{}: threadsPerBlock must be in 1..{}, got {}", which,
                         kMaxThreadsPerBlock, k.threadsPerBlock);
    if (k.sharedMemBytes < 0)
      return fmt::format("{}: sharedMemBytes must be >= 0, got {}", which, k.sharedMemBytes);
    switch (k.grid) {
    case GridPolicy::TileGrid:
      if (k.blockRows <= 0 || k.blockRows > kMaxConfigValue)
        return fmt::format("{}: a tile grid needs blockRows in 1..{}, got {}", which,
                           kMaxConfigValue, k.blockRows);
      break;
    case GridPolicy::Persistent:
      if (k.ctasPerSm <= 0 || k.ctasPerSm > kMaxCtasPerSm)
        return fmt::format("{}: a persistent grid needs ctasPerSm in 1..{}, got {}", which,
                           kMaxCtasPerSm, k.ctasPerSm);
      break;
    default:
      return fmt::format("{}: unknown grid policy {}", which, static_cast<int>(k.grid));
    }
    const ClusterShape &c = k.cluster;
    if (c.x < 1 || c.y < 1 || c.z < 1 || c.size() > kMaxPortableClusterSize)
      return fmt::format("{}: cluster {}x{}x{} must have every dimension >= 1 and at most {} "
                         "CTAs",
                         which, c.x, c.y, c.z, kMaxPortableClusterSize);
    size_t bytes = layoutParams(k.params).totalBytes;
    if (bytes > kMaxParamBytes)
      return fmt::format("{}: {} bytes of parameters, beyond the limit of {}", which, bytes,
                         kMaxParamBytes);
  }
  return {};
}

std::string LaunchPlan::summary() const {
  std::string out;
  for (const KernelLaunchInfo &k : kernels) {
    if (!out.empty())
      out += "\n";
    std::string grid = k.grid == GridPolicy::TileGrid
                           ? fmt::format("tile(rows/{}, heads, batch)", k.blockRows)
                           : fmt::format("persistent({} per SM)", k.ctasPerSm);
    // Parameter kinds in order of first appearance, with their counts.
    std::string params;
    std::vector<std::pair<ParamKind, int>> counts;
    for (ParamKind p : k.params) {
      auto it = std::find_if(counts.begin(), counts.end(),
                             [&](const auto &e) { return e.first == p; });
      if (it == counts.end())
        counts.emplace_back(p, 1);
      else
        ++it->second;
    }
    for (const auto &[kind, n] : counts)
      params += fmt::format("{}{} x{}", params.empty() ? "" : ", ", toString(kind), n);
    out += fmt::format("{}: {}, {} threads, {} B smem, cluster {}x{}x{}, {} params ({})",
                       k.entryName, grid, k.threadsPerBlock, k.sharedMemBytes, k.cluster.x,
                       k.cluster.y, k.cluster.z, k.params.size(), params);
  }
  if (workspace.needed())
    out += fmt::format("\nworkspace: {} B{}", workspace.fixedBytes,
                       workspace.perLaunch ? " + per launch" : "");
  return out;
}

LaunchPlan singleTileGridPlan(std::string entryName, int threadsPerBlock, int sharedMemBytes,
                              int blockRows, std::vector<ParamKind> params) {
  KernelLaunchInfo k;
  k.entryName = std::move(entryName);
  k.threadsPerBlock = threadsPerBlock;
  k.sharedMemBytes = sharedMemBytes;
  k.grid = GridPolicy::TileGrid;
  k.blockRows = blockRows;
  k.params = std::move(params);
  LaunchPlan plan;
  plan.kernels.push_back(std::move(k));
  return plan;
}

LaunchPlan singlePersistentPlan(std::string entryName, int threadsPerBlock, int sharedMemBytes,
                                int blockRows, int ctasPerSm, std::vector<ParamKind> params) {
  LaunchPlan plan = singleTileGridPlan(std::move(entryName), threadsPerBlock, sharedMemBytes,
                                       blockRows, std::move(params));
  plan.kernels.front().grid = GridPolicy::Persistent;
  plan.kernels.front().ctasPerSm = ctasPerSm;
  return plan;
}

} // namespace attnjit

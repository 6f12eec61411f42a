//===- LayerProbes.h - Compile the instruction-layer probe kernels -*- C++ -*-===//
//
// Part of attnjit. The probe kernels of kernels/LayerProbes.h (TMA round trip,
// wgmma tile products) through the same lowering as every recipe, for the GPU
// tests that prove an instruction layer before a recipe uses it.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_LAYERPROBES_H
#define ATTNJIT_COMPILER_LAYERPROBES_H

#include "attnjit/Runtime/LaunchPlan.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attnjit {

struct ProbeKernel {
  /// One kernel per probe, in the order asked: TileGrid of one row per CTA
  /// (LaunchDims.rows = CTAs), no cluster; tests may change the grid policy.
  LaunchPlan plan;
  std::string ptx;
  std::vector<uint8_t> cubin; ///< empty when ptxas was not found
};

/// Names: tma_roundtrip, wgmma_f16, wgmma_bf16, wgmma_s8, wgmma_e4m3,
/// tensormap_echo, cluster_rank, mma_sync_s8, mma_sync_e4m3.
std::vector<std::string> layerProbeNames();
/// Compiles the probes `names` into one module for `arch` (sm_90a for all of
/// today's probes). Throws Error(InvalidArgument) for an unknown or repeated
/// name, Error(Compile) when a stage fails.
ProbeKernel compileLayerProbes(const std::vector<std::string> &names, const std::string &arch);
/// The same for one probe.
ProbeKernel compileLayerProbe(std::string_view name, const std::string &arch);

} // namespace attnjit

#endif // ATTNJIT_COMPILER_LAYERPROBES_H

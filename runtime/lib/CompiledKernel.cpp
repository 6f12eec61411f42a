//===- CompiledKernel.cpp - Kernel metadata as JSON -----------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/CompiledKernel.h"

#include "KernelRecord.h"

#include <nlohmann/json.hpp>

namespace attnjit {

const KernelLaunchInfo &CompiledKernel::firstKernel() const {
  static const KernelLaunchInfo kNone;
  return plan.kernels.empty() ? kNone : plan.kernels.front();
}

std::string CompiledKernel::metadataJson() const {
  nlohmann::json j;
  j["spec"] = spec.canonical();
  j["plan"] = detail::launchPlanToJson(plan);
  j["abi_version"] = abiVersion;
  j["arch"] = spec.arch;
  j["ptx_bytes"] = ptx.size();
  j["cubin_bytes"] = cubin.size();
  j["compile_ms"] = compileMs;
  j["registers"] = registers;
  j["spill_bytes"] = spillBytes;
  return j.dump();
}

} // namespace attnjit

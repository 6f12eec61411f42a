//===- CompiledKernel.cpp - Kernel metadata as JSON -----------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/CompiledKernel.h"

#include <nlohmann/json.hpp>

namespace attnjit {

std::string CompiledKernel::metadataJson() const {
  nlohmann::json j;
  j["spec"] = spec.canonical();
  j["entry"] = entryName;
  j["threads_per_block"] = threadsPerBlock;
  j["shared_mem_bytes"] = sharedMemBytes;
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

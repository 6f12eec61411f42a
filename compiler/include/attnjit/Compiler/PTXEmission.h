//===- PTXEmission.h - LLVM dialect -> LLVM IR -> PTX -> cubin ---*- C++ -*-===//
//
// Part of attnjit. The back half of the pipeline: translate a lowered
// gpu.module to LLVM IR, optimize at O3 for NVPTX, emit PTX with LLVM's NVPTX
// backend, and (optionally) assemble it with ptxas.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_PTXEMISSION_H
#define ATTNJIT_COMPILER_PTXEMISSION_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace attnjit {

/// LLVM IR text of a lowered gpu.module, before (optimized=false) or after O3.
/// Returns false and sets `error` on failure.
bool emitLLVMIR(mlir::gpu::GPUModuleOp module, const std::string &arch, bool optimized,
                std::string &out, std::string &error);

/// PTX for a lowered gpu.module targeting `arch` (sm_80, sm_90a, ...).
bool emitPTX(mlir::gpu::GPUModuleOp module, const std::string &arch, std::string &ptx,
             std::string &error);

/// Path of ptxas ($ATTNJIT_PTXAS, then PATH, then /usr/local/cuda/bin), if any.
std::optional<std::string> findPtxas();

/// Result of assembling PTX with ptxas.
struct PtxasResult {
  std::vector<uint8_t> cubin;
  std::string log;      ///< ptxas -v output
  int registers = -1;   ///< per thread (the most of the module's kernels)
  int spillStores = -1; ///< bytes (all of the module's kernels)
  int spillLoads = -1;  ///< bytes
};
bool runPtxas(const std::string &ptxasPath, const std::string &ptx, const std::string &arch,
              PtxasResult &result, std::string &error);

} // namespace attnjit

#endif // ATTNJIT_COMPILER_PTXEMISSION_H

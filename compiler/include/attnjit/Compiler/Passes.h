//===- Passes.h - attnjit compiler passes ------------------------*- C++ -*-===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_PASSES_H
#define ATTNJIT_COMPILER_PASSES_H

#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

#include <memory>

namespace mlir {
class ModuleOp;
} // namespace mlir

namespace attnjit {

#define GEN_PASS_DECL
#include "Passes.h.inc"
#define GEN_PASS_REGISTRATION
#include "Passes.h.inc"

/// Lowers the kernel IR in every gpu.module (gpu/nvvm/scf/arith/llvm) to the
/// LLVM dialect: scf -> cf, then gpu/arith/cf/math -> llvm+nvvm, canonicalize.
void buildLowerKernelToLLVMPipeline(mlir::OpPassManager &pm);

/// Registers attnjit's passes (registerAttnjitPasses, generated) and the
/// `attnjit-lower-kernel-to-llvm` pipeline, for attnjit-opt.
void registerAttnjitPassesAndPipelines();

} // namespace attnjit

#endif // ATTNJIT_COMPILER_PASSES_H

//===- LowerKernelToLLVM.cpp - kernel IR -> LLVM dialect pipeline ---------===//
//
// Part of attnjit. The kernel IR already uses nvvm/llvm ops for the GPU-specific
// instructions; this pipeline lowers the structured parts (scf, arith, gpu ids)
// with upstream conversions.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Passes.h"

#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace attnjit {

void buildLowerKernelToLLVMPipeline(OpPassManager &pm) {
  OpPassManager &gpuPm = pm.nest<gpu::GPUModuleOp>();
  gpuPm.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions opts;
  opts.indexBitwidth = 32;
  gpuPm.addPass(createConvertGpuOpsToNVVMOps(opts));
  gpuPm.addPass(createMarkGridConstants());
  // NVVM ops without an LLVM intrinsic (mbarrier try_wait loops, among the
  // sm_90a layer's) become inline PTX here.
  gpuPm.addPass(createConvertNVVMToLLVMPass());
  gpuPm.addPass(createCanonicalizerPass());
  gpuPm.addPass(createCSEPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void registerAttnjitPassesAndPipelines() {
  registerAttnjitPasses();
  PassPipelineRegistration<>("attnjit-lower-kernel-to-llvm",
                             "Lower attnjit kernel IR (gpu.module) to the LLVM dialect",
                             buildLowerKernelToLLVMPipeline);
}

} // namespace attnjit

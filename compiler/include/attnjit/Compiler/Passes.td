//===- Passes.td - attnjit compiler passes -----------------*- tablegen -*-===//
//
// Part of attnjit. The stages of the data flow (DESIGN.md): attn ops -> kernel IR
// (gpu/nvvm/scf/arith/llvm) -> LLVM dialect. LLVM IR and PTX come after, in
// the pipeline (compiler/lib/PTXEmission.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_PASSES_TD
#define ATTNJIT_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToKernel : Pass<"attnjit-convert-attn-to-kernel", "mlir::ModuleOp"> {
  let summary = "Lower attn.flash/sdpa/sage ops to GPU kernel IR";
  let description = [{
    For every attn op, emits a `gpu.module` holding the kernel that computes it
    (built by the kernel recipe for the op's variant and the module's target
    arch, `attn.target`, default sm_90a) and replaces the op with a
    `gpu.launch_func` of that kernel. The kernel IR uses the gpu, nvvm, scf,
    arith and llvm dialects; its parameter list is attnjit's flash kernel ABI.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::NVVM::NVVMDialect",
                           "mlir::scf::SCFDialect", "mlir::arith::ArithDialect",
                           "mlir::LLVM::LLVMDialect", "mlir::func::FuncDialect",
                           "mlir::memref::MemRefDialect"];
}

#endif // ATTNJIT_COMPILER_PASSES_TD

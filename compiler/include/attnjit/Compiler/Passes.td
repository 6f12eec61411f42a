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
    (built by the kernel recipe for the op's variant and the target arch,
    `attn.target` of the nearest module that has one, default sm_90a) into the
    nearest enclosing builtin.module, which gets `gpu.container_module`. Ops
    with equal specs share one gpu.module. The op is erased and its kernel,
    `@<module>::@<kernel>`, appended to the `attnjit.kernels` array attribute
    of the enclosing function (any FunctionOpInterface op): the host side is
    attnjit's runtime, which launches the kernel through the driver API. The
    kernel IR uses the gpu, nvvm, scf, arith and llvm dialects; its parameter
    list is attnjit's flash kernel ABI.

    An op that cannot be lowered (no enclosing function, a spec no recipe
    builds, such as any attn.sage today) gets an error naming it and the
    reason, and the pass fails.
  }];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::NVVM::NVVMDialect",
                           "mlir::scf::SCFDialect", "mlir::arith::ArithDialect",
                           "mlir::LLVM::LLVMDialect", "mlir::func::FuncDialect",
                           "mlir::memref::MemRefDialect"];
}

def MarkGridConstants : Pass<"attnjit-mark-grid-constants", "mlir::gpu::GPUModuleOp"> {
  let summary = "Mark by-value tensor-map kernel parameters nvvm.grid_constant";
  let description = [{
    Kernel recipes list the indices of a kernel's by-value CUtensorMap
    parameters (generic pointer arguments) in the function attribute
    `attnjit.tensor_map_args`: NVVM accepts `nvvm.grid_constant` only on
    arguments of an `nvvm.kernel` llvm.func, which a gpu.func becomes in the
    GPU-to-NVVM lowering, and that lowering does not carry `llvm.byval`
    argument attributes over. This pass runs after it and gives each listed
    argument `llvm.byval = !llvm.array<128 x i8>`, `llvm.align = 64` and
    `nvvm.grid_constant` (`.param .align 64 .b8 p[128]` in PTX), so that the
    kernel reads the parameter in place (the TMA unit needs its address)
    instead of copying it to local memory. A list on a function that is not
    a kernel, or naming an argument that is not a pointer, is an error.
  }];
  let dependentDialects = ["mlir::NVVM::NVVMDialect", "mlir::LLVM::LLVMDialect"];
}

#endif // ATTNJIT_COMPILER_PASSES_TD

//===- OptMain.cpp - attnjit-opt and the text-level dialect bridge --------===//
//
// Part of attnjit. Lives in libattnjit_compiler so that the attnjit-opt binary
// and the unit tests need no MLIR symbols of their own (they are hidden in the
// library).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/OptMain.h"
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Compiler/PTXEmission.h"
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Dialect/Attn/AttnDialect.h"
#include "attnjit/Dialect/Attn/AttnOps.h"
#include "attnjit/Dialect/Attn/AttnSpecBridge.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Pipelines/Passes.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
#include "mlir/Dialect/NVGPU/Transforms/Passes.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace attnjit {

namespace {

void registerOptDialects(DialectRegistry &registry) {
  registerAttnDialect(registry);
  registry.insert<arith::ArithDialect, cf::ControlFlowDialect, func::FuncDialect,
                  gpu::GPUDialect, index::IndexDialect, LLVM::LLVMDialect,
                  math::MathDialect, memref::MemRefDialect, NVVM::NVVMDialect,
                  nvgpu::NVGPUDialect, scf::SCFDialect, vector::VectorDialect>();
  // What convert-to-llvm, gpu-module-to-binary and the NVVM pipeline need.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertFuncToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  registerBuiltinDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
}

void registerOptPasses() {
  registerTransformsPasses();
  registerConversionPasses();
  registerGPUPasses();
  gpu::registerGPUToNVVMPipeline();
  registerNVGPUPasses();
  registerSCFPasses();
  memref::registerMemRefPasses();
  arith::registerArithPasses();
  registerAttnjitPassesAndPipelines();
}

/// A context with the attn dialect whose diagnostics are collected in `out`.
struct CapturingContext {
  MLIRContext ctx;
  std::string diagnostics;
  ScopedDiagnosticHandler handler;

  explicit CapturingContext(bool withKernelDialects = false)
      : ctx(MLIRContext::Threading::DISABLED),
        handler(&ctx, [this](Diagnostic &diag) {
          llvm::raw_string_ostream os(diagnostics);
          os << diag.getLocation() << ": " << diag << "\n";
          for (const Diagnostic &note : diag.getNotes())
            os << note.getLocation() << ": note: " << note << "\n";
          return success();
        }) {
    DialectRegistry registry;
    registerAttnDialect(registry);
    if (withKernelDialects)
      registerKernelDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.loadAllAvailableDialects();
  }

  void reportTo(std::string *error, StringRef fallback) const {
    if (error)
      *error = diagnostics.empty() ? fallback.str() : diagnostics;
  }
};

} // namespace

int optMain(int argc, char **argv) {
  DialectRegistry registry;
  registerOptDialects(registry);
  registerOptPasses();
  return asMainReturnCode(
      MlirOptMain(argc, argv, "attnjit optimizer driver (attn dialect and passes)\n", registry));
}

std::string printAttnModule(const AttentionSpec &spec, std::string *error) {
  CapturingContext c;
  OwningOpRef<ModuleOp> module = buildAttnModule(c.ctx, spec);
  if (!module) {
    c.reportTo(error, "buildAttnModule failed");
    return {};
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

std::optional<AttentionSpec> parseSpecFromAttnText(const std::string &mlirText,
                                                   std::string *error) {
  CapturingContext c;
  // parseSourceString verifies the parsed module.
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(mlirText, &c.ctx);
  if (!module) {
    c.reportTo(error, "failed to parse the attn module");
    return std::nullopt;
  }
  SmallVector<Operation *> attnOps;
  module->walk([&](Operation *op) {
    if (isa<attn::FlashOp, attn::SdpaOp, attn::SageOp>(op))
      attnOps.push_back(op);
  });
  if (attnOps.size() != 1) {
    if (error)
      *error = "expected exactly one attn.flash, attn.sdpa or attn.sage op, found " +
               std::to_string(attnOps.size());
    return std::nullopt;
  }
  FailureOr<AttentionSpec> spec = specFromOp(attnOps.front());
  if (failed(spec)) {
    c.reportTo(error, "specFromOp failed");
    return std::nullopt;
  }
  return *spec;
}

std::optional<std::string> lowerAttnText(const std::string &mlirText, std::string *error) {
  CapturingContext c(/*withKernelDialects=*/true);
  // parseSourceString verifies the parsed module.
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(mlirText, &c.ctx);
  if (!module) {
    c.reportTo(error, "failed to parse the module");
    return std::nullopt;
  }
  PassManager toKernel(&c.ctx);
  toKernel.addPass(createConvertAttnToKernel());
  if (failed(toKernel.run(*module))) {
    c.reportTo(error, "attnjit-convert-attn-to-kernel failed");
    return std::nullopt;
  }
  PassManager toLLVM(&c.ctx);
  buildLowerKernelToLLVMPipeline(toLLVM);
  if (failed(toLLVM.run(*module))) {
    c.reportTo(error, "attnjit-lower-kernel-to-llvm failed");
    return std::nullopt;
  }
  std::string text;
  llvm::raw_string_ostream os(text);
  module->print(os);
  return text;
}

std::optional<std::string> ptxFromLLVMDialectText(const std::string &mlirText,
                                                  const std::string &arch, std::string *error) {
  CapturingContext c(/*withKernelDialects=*/true);
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(mlirText, &c.ctx);
  if (!module) {
    c.reportTo(error, "failed to parse the module");
    return std::nullopt;
  }
  SmallVector<gpu::GPUModuleOp> gpuModules;
  module->walk([&](gpu::GPUModuleOp m) { gpuModules.push_back(m); });
  if (gpuModules.size() != 1) {
    if (error)
      *error = "expected one gpu.module, found " + std::to_string(gpuModules.size());
    return std::nullopt;
  }
  std::string ptx, emitError;
  if (!emitPTX(gpuModules.front(), arch, ptx, emitError)) {
    if (error)
      *error = emitError;
    return std::nullopt;
  }
  return ptx;
}

} // namespace attnjit

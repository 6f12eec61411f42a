//===- KernelModule.cpp - Kernel IR for a spec ----------------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Kernels/Recipe.h"
#include "attnjit/Runtime/Logging.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/NVVMToLLVM/NVVMToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Index/IR/IndexDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/UB/IR/UBOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

using namespace mlir;

namespace attnjit {

void registerKernelDialects(DialectRegistry &registry) {
  registry.insert<arith::ArithDialect, cf::ControlFlowDialect, func::FuncDialect,
                  gpu::GPUDialect, index::IndexDialect, LLVM::LLVMDialect, NVVM::NVVMDialect,
                  math::MathDialect, memref::MemRefDialect, scf::SCFDialect, ub::UBDialect,
                  vector::VectorDialect>();
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  index::registerConvertIndexToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  registerConvertNVVMToLLVMInterface(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
}

AttentionSpec withDefaultConfig(const AttentionSpec &spec) {
  AttentionSpec out = spec;
  if (const kernels::KernelRecipe *recipe = kernels::selectRecipe(spec, nullptr))
    out.config = recipe->defaultConfig(spec);
  return out;
}

std::string recipeName(const AttentionSpec &spec) {
  const kernels::KernelRecipe *recipe = kernels::selectRecipe(spec, nullptr);
  return recipe ? std::string(recipe->name()) : std::string();
}

/// The recipe for `spec`, with the recipes it was preferred over logged at
/// debug level; null with `error` set when none serves it.
static const kernels::KernelRecipe *recipeFor(const AttentionSpec &spec, std::string &error) {
  std::vector<std::string> skipped;
  const kernels::KernelRecipe *recipe = kernels::selectRecipe(spec, &error, &skipped);
  if (recipe && !skipped.empty())
    logger().debug("{}: recipe {} chosen over {}", spec.kernelName(), recipe->name(),
                   fmt::join(skipped, ", "));
  return recipe;
}

bool computeLaunchShape(const AttentionSpec &spec, LaunchShape &shape, std::string &error) {
  const kernels::KernelRecipe *recipe = recipeFor(spec, error);
  if (!recipe)
    return false;
  kernels::RecipeLaunch launch;
  error = recipe->launch(spec, launch);
  if (!error.empty())
    return false;
  shape.threads = launch.threads;
  shape.sharedMemBytes = launch.sharedMemBytes;
  shape.rowsPerCta = launch.rowsPerCta;
  shape.recipe = std::string(recipe->name());
  shape.tensorMaps = launch.tensorMaps;
  shape.ctasPerSm = launch.ctasPerSm;
  shape.planKernels.clear();
  for (const kernels::RecipeKernel &k : launch.kernels) {
    KernelLaunchInfo info;
    info.entryName = spec.kernelName() + k.entrySuffix;
    info.threadsPerBlock = k.threads;
    info.sharedMemBytes = k.sharedMemBytes;
    info.grid = GridPolicy::TileGrid;
    info.blockRows = k.rowsPerCta;
    info.params = abiParamKinds(spec.variant);
    shape.planKernels.push_back(std::move(info));
  }
  return true;
}

gpu::GPUModuleOp emitKernelModule(ModuleOp parent, Location loc, const AttentionSpec &spec,
                                  std::string &error) {
  if (std::string err = spec.validate(); !err.empty()) {
    error = err;
    return {};
  }
  const kernels::KernelRecipe *recipe = recipeFor(spec, error);
  if (!recipe)
    return {};
  kernels::RecipeLaunch launch;
  error = recipe->launch(spec, launch);
  if (!error.empty())
    return {};
  OpBuilder b(parent.getContext());
  b.setInsertionPointToEnd(parent.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, loc, spec.kernelName() + "_gpu");
  recipe->emit(b, loc, gpuModule, spec);
  return gpuModule;
}

} // namespace attnjit

//===- KernelModule.cpp - Kernel IR for a spec ----------------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Kernels/FlashSm80.h"

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
  if (spec.variant == Variant::Flash || spec.variant == Variant::Sdpa)
    out.config = kernels::defaultFlashSm80Config(spec);
  return out;
}

bool computeLaunchShape(const AttentionSpec &spec, LaunchShape &shape, std::string &error) {
  if (spec.variant == Variant::Sage) {
    error = "variant: sage kernels are not implemented yet";
    return false;
  }
  kernels::FlashGeometry g;
  error = kernels::FlashGeometry::compute(spec, g);
  if (!error.empty())
    return false;
  shape.threads = g.threads;
  shape.sharedMemBytes = g.smemBytes;
  return true;
}

gpu::GPUModuleOp emitKernelModule(ModuleOp parent, Location loc, const AttentionSpec &spec,
                                  std::string &error) {
  if (std::string err = spec.validate(); !err.empty()) {
    error = err;
    return {};
  }
  LaunchShape shape;
  if (!computeLaunchShape(spec, shape, error))
    return {};
  OpBuilder b(parent.getContext());
  b.setInsertionPointToEnd(parent.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, loc, spec.kernelName() + "_gpu");
  kernels::emitFlashSm80Kernel(b, loc, gpuModule, spec);
  return gpuModule;
}

} // namespace attnjit

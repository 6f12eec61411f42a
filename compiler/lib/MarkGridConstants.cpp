//===- MarkGridConstants.cpp - tensor-map parameters -> nvvm.grid_constant ===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Kernels/KernelBuilder.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace attnjit {
#define GEN_PASS_DEF_MARKGRIDCONSTANTS
#include "Passes.h.inc"
} // namespace attnjit

using namespace mlir;

namespace attnjit {
namespace {

struct MarkGridConstantsPass : public impl::MarkGridConstantsBase<MarkGridConstantsPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    auto listAttr = StringAttr::get(ctx, kernels::kTensorMapArgsAttr);
    getOperation().walk([&](LLVM::LLVMFuncOp fn) {
      auto list = fn->getAttrOfType<DenseI32ArrayAttr>(listAttr);
      if (!list)
        return;
      if (!fn->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName())) {
        fn.emitOpError() << "lists tensor-map parameters (" << listAttr
                         << ") but is not an nvvm.kernel";
        return signalPassFailure();
      }
      for (int32_t i : list.asArrayRef()) {
        if (i < 0 || unsigned(i) >= fn.getNumArguments() ||
            !isa<LLVM::LLVMPointerType>(fn.getArgumentTypes()[i])) {
          fn.emitOpError() << listAttr << " names argument " << i
                           << ", which is not a pointer argument";
          return signalPassFailure();
        }
        // byval [128 x i8] aligned to 64 (a CUtensorMap), read in place.
        fn.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), 128)));
        fn.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                      IntegerAttr::get(IntegerType::get(ctx, 64), 64));
        fn.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(), UnitAttr::get(ctx));
      }
      fn->removeAttr(listAttr);
    });
  }
};

} // namespace
} // namespace attnjit

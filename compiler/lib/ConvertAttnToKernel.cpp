//===- ConvertAttnToKernel.cpp - attn ops -> GPU kernel IR ----------------===//
//
// Part of attnjit. The pass only finds attn ops and asks the kernel recipe for
// the op's variant to emit the kernel; the recipes live in kernels/.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Dialect/Attn/AttnOps.h"
#include "attnjit/Dialect/Attn/AttnSpecBridge.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "attnjit-convert-attn-to-kernel"

namespace attnjit {
#define GEN_PASS_DEF_CONVERTATTNTOKERNEL
#include "Passes.h.inc"
} // namespace attnjit

using namespace mlir;

namespace attnjit {
namespace {

struct ConvertAttnToKernelPass
    : public impl::ConvertAttnToKernelBase<ConvertAttnToKernelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<Operation *> attnOps;
    module.walk([&](Operation *op) {
      if (isa<attn::FlashOp, attn::SdpaOp, attn::SageOp>(op))
        attnOps.push_back(op);
    });
    for (Operation *op : attnOps) {
      FailureOr<AttentionSpec> spec = specFromOp(op);
      if (failed(spec))
        return signalPassFailure();
      std::string err;
      AttentionSpec full = withDefaultConfig(*spec);
      gpu::GPUModuleOp gpuModule = emitKernelModule(module, op->getLoc(), full, err);
      if (!gpuModule) {
        op->emitOpError() << "cannot be lowered to a kernel: " << err;
        return signalPassFailure();
      }
      LLVM_DEBUG(llvm::dbgs() << "emitted kernel module " << gpuModule.getName() << " for "
                              << full.canonical() << "\n");
      // The host side is attnjit's runtime (it launches through the driver API
      // with the kernel ABI); the attn op is replaced by a reference to its kernel.
      op->getParentOfType<func::FuncOp>()->setAttr(
          "attnjit.kernel", SymbolRefAttr::get(gpuModule.getNameAttr(),
                                             {FlatSymbolRefAttr::get(op->getContext(),
                                                                     full.kernelName())}));
      op->erase();
    }
    if (!attnOps.empty())
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), UnitAttr::get(&getContext()));
  }
};

} // namespace
} // namespace attnjit

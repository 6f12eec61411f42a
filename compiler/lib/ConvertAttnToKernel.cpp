//===- ConvertAttnToKernel.cpp - attn ops -> GPU kernel IR ----------------===//
//
// Part of attnjit. One conversion pattern per attn op: it reads the op's spec
// and asks the kernel recipes (emitKernelModule, kernels/) for the kernel; the
// pass only assembles the patterns and runs the conversion driver.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Dialect/Attn/AttnOps.h"
#include "attnjit/Dialect/Attn/AttnSpecBridge.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Transforms/DialectConversion.h"

#include "llvm/Support/Debug.h"

#include <map>
#include <string>
#include <utility>

#define DEBUG_TYPE "attnjit-convert-attn-to-kernel"

namespace attnjit {
#define GEN_PASS_DEF_CONVERTATTNTOKERNEL
#include "Passes.h.inc"
} // namespace attnjit

using namespace mlir;

namespace attnjit {
namespace {

/// The function attribute listing, in op order, the kernel (@module::@kernel)
/// of every attn op the function held: the host side is attnjit's runtime,
/// which launches the kernels through the driver API with the kernel ABI.
constexpr StringLiteral kKernelsAttrName = "attnjit.kernels";

/// Kernels emitted so far, by the module holding them and the canonical text
/// of their spec: attn ops with equal specs share one gpu.module.
using KernelTable = std::map<std::pair<Operation *, std::string>, SymbolRefAttr>;

/// What the patterns of one pass run share.
struct LoweringState {
  KernelTable kernels;
  /// Ops whose pattern failed, after emitting why.
  DenseSet<Operation *> givenUp;
};

/// Emits the reason on `op`, so that the pass fails with an error naming the
/// op and why, and gives it to the driver as the match failure.
LogicalResult cannotLower(Operation *op, ConversionPatternRewriter &rewriter,
                          LoweringState &state, const Twine &reason) {
  op->emitOpError() << "cannot be lowered to a kernel: " << reason;
  state.givenUp.insert(op);
  return rewriter.notifyMatchFailure(op, reason);
}

/// `base`, or `base` with the first free suffix `_<n>` when `module` has a
/// symbol of that name already (a kernel of a spec that differs only in its
/// tiling has the same kernel name; so does one of an earlier run).
std::string freeSymbolName(ModuleOp module, StringRef base) {
  std::string name = base.str();
  for (unsigned n = 1; SymbolTable::lookupSymbolIn(module, name); ++n)
    name = (base + "_" + Twine(n)).str();
  return name;
}

/// The kernel of `spec` in `module`: emitted on first use (into a scratch
/// module, then moved in through the rewriter so that the driver tracks it),
/// else the one emitted before. Fails with the recipe's reason.
FailureOr<SymbolRefAttr> getOrEmitKernel(Operation *op, ModuleOp module,
                                         const AttentionSpec &spec, KernelTable &kernels,
                                         ConversionPatternRewriter &rewriter,
                                         std::string &error) {
  auto key = std::make_pair(module.getOperation(), spec.canonical());
  if (auto it = kernels.find(key); it != kernels.end())
    return it->second;

  OpBuilder detached(op->getContext());
  OwningOpRef<ModuleOp> scratch = ModuleOp::create(detached, op->getLoc());
  gpu::GPUModuleOp gpuModule = emitKernelModule(*scratch, op->getLoc(), spec, error);
  if (!gpuModule)
    return failure();
  gpuModule.setName(freeSymbolName(module, gpuModule.getName()));
  rewriter.setInsertionPointToEnd(module.getBody());
  for (Operation &emitted : llvm::make_early_inc_range(scratch->getBody()->getOperations())) {
    emitted.remove();
    rewriter.insert(&emitted);
  }
  StringAttr containerAttr =
      rewriter.getStringAttr(gpu::GPUDialect::getContainerModuleAttrName());
  if (!module->hasAttr(containerAttr))
    rewriter.modifyOpInPlace(module,
                             [&] { module->setAttr(containerAttr, rewriter.getUnitAttr()); });
  auto kernel = SymbolRefAttr::get(gpuModule.getNameAttr(),
                                   {FlatSymbolRefAttr::get(op->getContext(), spec.kernelName())});
  LLVM_DEBUG(llvm::dbgs() << "emitted kernel " << kernel << " for " << spec.canonical() << "\n");
  kernels.emplace(key, kernel);
  return kernel;
}

/// attn.flash, attn.sdpa, attn.sage, attn.lse_merge, attn.gemm -> a gpu.module with the kernel (shared by
/// ops with equal specs) and a reference to it on the enclosing function.
template <typename OpTy>
class AttnOpToKernel : public OpConversionPattern<OpTy> {
public:
  AttnOpToKernel(MLIRContext *ctx, LoweringState &state)
      : OpConversionPattern<OpTy>(ctx), state(state) {}

  LogicalResult matchAndRewrite(OpTy op, typename OpTy::Adaptor,
                                ConversionPatternRewriter &rewriter) const override {
    // Any function-like parent (func.func, gpu.func, llvm.func) can carry the
    // reference; without one the kernel would have no caller to belong to.
    auto function = op->template getParentOfType<FunctionOpInterface>();
    if (!function)
      return cannotLower(op, rewriter, state,
                         "it is not inside a function (an op with FunctionOpInterface) "
                         "to carry the reference to its kernel");
    // The kernel joins the symbol table of the nearest module, the one the
    // function's symbol references resolve in. (The pass is anchored on a
    // builtin.module, so there is one; the check keeps the pattern safe to
    // reuse elsewhere.)
    auto module = op->template getParentOfType<ModuleOp>();
    if (!module)
      return cannotLower(op, rewriter, state, "it is not inside a builtin.module");

    FailureOr<AttentionSpec> spec = specFromOp(op); // emits its error on the op
    if (failed(spec)) {
      state.givenUp.insert(op);
      return rewriter.notifyMatchFailure(op, "cannot read the spec off the op");
    }
    AttentionSpec full = withDefaultConfig(*spec);
    std::string error;
    FailureOr<SymbolRefAttr> kernel =
        getOrEmitKernel(op, module, full, state.kernels, rewriter, error);
    if (failed(kernel))
      return cannotLower(op, rewriter, state, error);

    SmallVector<Attribute> refs;
    if (auto existing = function->template getAttrOfType<ArrayAttr>(kKernelsAttrName))
      refs.assign(existing.begin(), existing.end());
    refs.push_back(*kernel);
    rewriter.modifyOpInPlace(function, [&] {
      function->setAttr(kKernelsAttrName, rewriter.getArrayAttr(refs));
    });
    rewriter.eraseOp(op);
    return success();
  }

private:
  LoweringState &state;
};

struct ConvertAttnToKernelPass
    : public impl::ConvertAttnToKernelBase<ConvertAttnToKernelPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    SmallVector<Operation *> attnOps;
    getOperation().walk([&](Operation *op) {
      if (isa<attn::FlashOp, attn::SdpaOp, attn::SageOp, attn::LseMergeOp, attn::GemmOp>(op))
        attnOps.push_back(op);
    });
    if (attnOps.empty())
      return;

    LoweringState state;
    RewritePatternSet patterns(ctx);
    patterns.add<AttnOpToKernel<attn::FlashOp>, AttnOpToKernel<attn::SdpaOp>,
                 AttnOpToKernel<attn::SageOp>, AttnOpToKernel<attn::LseMergeOp>,
                 AttnOpToKernel<attn::GemmOp>>(ctx, state);

    ConversionTarget target(*ctx);
    // Everything else is legal as it is: the emitted kernels (never looked
    // into), and the functions and modules the patterns update in place.
    target.markUnknownOpDynamicallyLegal([](Operation *) { return true; });
    target.addLegalOp<gpu::GPUModuleOp>();
    target.markOpRecursivelyLegal<gpu::GPUModuleOp>();
    // An attn op is illegal until its pattern has given up on it, having
    // emitted why: the driver then leaves it and goes on, so every op that
    // cannot be lowered gets its error (not only the first), and the pass
    // fails below.
    target.addDynamicallyLegalOp<attn::FlashOp, attn::SdpaOp, attn::SageOp, attn::LseMergeOp,
                                 attn::GemmOp>(
        [&](Operation *op) { return state.givenUp.contains(op); });
    ConversionConfig config;
    config.foldingMode = DialectConversionFoldingMode::Never;
    if (failed(applyPartialConversion(attnOps, target, std::move(patterns), config)) ||
        !state.givenUp.empty())
      signalPassFailure();
  }
};

} // namespace
} // namespace attnjit

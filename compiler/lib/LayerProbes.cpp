//===- LayerProbes.cpp - Compile the instruction-layer probe kernels ------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/LayerProbes.h"
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Compiler/PTXEmission.h"
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Kernels/LayerProbes.h"
#include "attnjit/Runtime/Error.h"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

using namespace mlir;

namespace attnjit {

namespace {
constexpr kernels::LayerProbe kProbes[] = {
    kernels::LayerProbe::TmaRoundTrip, kernels::LayerProbe::WgmmaF16,
    kernels::LayerProbe::WgmmaBF16, kernels::LayerProbe::WgmmaS8,
    kernels::LayerProbe::WgmmaE4M3};
} // namespace

std::vector<std::string> layerProbeNames() {
  std::vector<std::string> names;
  for (kernels::LayerProbe p : kProbes)
    names.emplace_back(kernels::toString(p));
  return names;
}

ProbeKernel compileLayerProbe(std::string_view name, const std::string &arch) {
  const kernels::LayerProbe *probe = nullptr;
  for (const kernels::LayerProbe &p : kProbes)
    if (kernels::toString(p) == name)
      probe = &p;
  if (!probe)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("layer probe: unknown name '{}' (expected one of {})", name,
                            fmt::join(layerProbeNames(), ", ")));
  MLIRContext ctx;
  DialectRegistry registry;
  registerKernelDialects(registry);
  ctx.appendDialectRegistry(registry);
  ctx.disableMultithreading();
  ctx.loadAllAvailableDialects();
  std::string diagnostics;
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    llvm::raw_string_ostream os(diagnostics);
    os << d << "\n";
    return success();
  });
  auto fail = [&](const std::string &what) {
    throw Error(ErrorKind::Compile, fmt::format("layer probe {} for {}: {}{}{}", name, arch, what,
                                                diagnostics.empty() ? "" : "\n", diagnostics));
  };

  Location loc = UnknownLoc::get(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(&ctx);
  b.setInsertionPointToEnd(module->getBody());
  kernels::ProbeShape shape = kernels::probeShape(*probe);
  auto gpuModule = gpu::GPUModuleOp::create(b, loc, shape.entry + "_gpu");
  kernels::emitProbe(b, loc, gpuModule, *probe);
  (*module)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(), b.getUnitAttr());
  if (failed(verify(*module)))
    fail("the generated kernel IR does not verify");
  PassManager toLLVM(&ctx);
  buildLowerKernelToLLVMPipeline(toLLVM);
  if (failed(toLLVM.run(*module)))
    fail("attnjit-lower-kernel-to-llvm failed");
  gpu::GPUModuleOp lowered;
  module->walk([&](gpu::GPUModuleOp m) { lowered = m; });

  ProbeKernel k;
  std::string err;
  if (!emitPTX(lowered, arch, k.ptx, err))
    fail(err);
  if (auto ptxasPath = findPtxas()) {
    PtxasResult r;
    if (!runPtxas(*ptxasPath, k.ptx, arch, r, err))
      fail(err);
    k.cubin = std::move(r.cubin);
  }
  std::vector<ParamKind> kinds;
  for (const AbiParam &p : shape.params)
    kinds.push_back(toParamKind(p.type));
  k.plan = singleTileGridPlan(shape.entry, shape.threads, shape.sharedMemBytes, /*blockRows=*/1,
                              std::move(kinds));
  return k;
}

} // namespace attnjit

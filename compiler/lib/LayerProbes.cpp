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
#include <fmt/ranges.h>

#include <algorithm>

using namespace mlir;

namespace attnjit {

namespace {
constexpr kernels::LayerProbe kProbes[] = {
    kernels::LayerProbe::TmaRoundTrip, kernels::LayerProbe::WgmmaF16,
    kernels::LayerProbe::WgmmaBF16, kernels::LayerProbe::WgmmaS8,
    kernels::LayerProbe::WgmmaE4M3, kernels::LayerProbe::TensorMapEcho,
    kernels::LayerProbe::ClusterRank, kernels::LayerProbe::MmaSyncS8,
    kernels::LayerProbe::MmaSyncE4M3};
} // namespace

std::vector<std::string> layerProbeNames() {
  std::vector<std::string> names;
  for (kernels::LayerProbe p : kProbes)
    names.emplace_back(kernels::toString(p));
  return names;
}

ProbeKernel compileLayerProbe(std::string_view name, const std::string &arch) {
  return compileLayerProbes({std::string(name)}, arch);
}

ProbeKernel compileLayerProbes(const std::vector<std::string> &names, const std::string &arch) {
  std::vector<kernels::LayerProbe> probes;
  for (const std::string &name : names) {
    const kernels::LayerProbe *probe = nullptr;
    for (const kernels::LayerProbe &p : kProbes)
      if (kernels::toString(p) == name)
        probe = &p;
    if (!probe)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("layer probe: unknown name '{}' (expected one of {})", name,
                              fmt::join(layerProbeNames(), ", ")));
    if (std::find(probes.begin(), probes.end(), *probe) != probes.end())
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("layer probe: '{}' asked for twice", name));
    probes.push_back(*probe);
  }
  if (probes.empty())
    throw Error(ErrorKind::InvalidArgument, "layer probe: no probe named");
  const std::string what = fmt::format("{}", fmt::join(names, "+"));
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
  auto fail = [&](const std::string &why) {
    throw Error(ErrorKind::Compile, fmt::format("layer probe {} for {}: {}{}{}", what, arch, why,
                                                diagnostics.empty() ? "" : "\n", diagnostics));
  };

  Location loc = UnknownLoc::get(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  OpBuilder b(&ctx);
  b.setInsertionPointToEnd(module->getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, loc, "attnjit_probes_gpu");
  for (kernels::LayerProbe p : probes)
    kernels::emitProbe(b, loc, gpuModule, p);
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
  for (kernels::LayerProbe p : probes) {
    kernels::ProbeShape shape = kernels::probeShape(p);
    KernelLaunchInfo info;
    info.entryName = shape.entry;
    info.threadsPerBlock = shape.threads;
    info.sharedMemBytes = shape.sharedMemBytes;
    info.blockRows = 1;
    for (const AbiParam &param : shape.params)
      info.params.push_back(toParamKind(param.type));
    k.plan.kernels.push_back(std::move(info));
  }
  return k;
}

} // namespace attnjit

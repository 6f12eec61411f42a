//===- Compile.cpp - spec -> PTX: the whole pipeline ----------------------===//
//
// Part of attnjit. attn module -> (attnjit-convert-attn-to-kernel) kernel IR ->
// (attnjit-lower-kernel-to-llvm) LLVM dialect -> LLVM IR -> O3 -> PTX -> cubin.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Compile.h"
#include "AttnjitSourceHash.h" // generated: ATTNJIT_SOURCE_HASH
#include "attnjit/Compiler/KernelModule.h"
#include "attnjit/Compiler/LLVMFatalError.h"
#include "attnjit/Compiler/PTXEmission.h"
#include "attnjit/Compiler/Passes.h"
#include "attnjit/Dialect/Attn/AttnSpecBridge.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Core/FlashKernelABI.h"
#include "attnjit/Runtime/LaunchPlan.h"
#include "attnjit/Runtime/Logging.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/raw_ostream.h"

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <cstdlib>
#include <fstream>

using namespace mlir;

namespace attnjit {

std::string compilerBuildId() {
  // The git hash is taken when CMake configures; the source hash is refreshed
  // on every build, so kernels cached by an older build of a working tree are
  // not served after its recipes change.
  return fmt::format("attnjit-{}+{};src-{};llvm-{};flash-abi-{}", ATTNJIT_VERSION,
                     ATTNJIT_GIT_HASH, ATTNJIT_SOURCE_HASH, LLVM_VERSION_STRING,
                     kFlashAbiVersion);
}

namespace {

/// One compilation: its own context, and the stages produced so far.
class Compilation {
public:
  Compilation(const AttentionSpec &spec, const CompileOptions &opts) : opts(opts) {
    DialectRegistry registry;
    registerAttnDialect(registry);
    registerKernelDialects(registry);
    ctx.appendDialectRegistry(registry);
    ctx.disableMultithreading();
    ctx.loadAllAvailableDialects();
    this->spec = withDefaultConfig(spec);
    dumpDir = opts.dumpDir;
    if (dumpDir.empty())
      if (const char *d = std::getenv("ATTNJIT_DUMP_DIR"))
        dumpDir = d;
  }

  /// Runs up to and including `stage`; returns that stage's text.
  std::string run(Stage stage);
  /// Set when an LLVM fatal error interrupted MLIR code: the context and the
  /// module may be half updated and LLVM's frames were not unwound, so the
  /// compilation must never be destroyed (see CompilationHandle).
  bool quarantined = false;

  AttentionSpec spec;
  LaunchShape shape; ///< set by run()
  std::vector<uint8_t> cubin;
  PtxasResult ptxas;

private:
  [[noreturn]] void fail(const std::string &what) {
    std::string msg = fmt::format("compiling {}: {}", spec.kernelName(), what);
    if (!diagnostics.empty())
      msg += "\n" + diagnostics;
    throw Error(ErrorKind::Compile, msg);
  }
  std::string print(Operation *op) {
    std::string s;
    llvm::raw_string_ostream os(s);
    op->print(os);
    return s;
  }
  void dump(const char *ext, const std::string &text) {
    if (dumpDir.empty())
      return;
    llvm::sys::fs::create_directories(dumpDir);
    std::string path = dumpDir + "/" + spec.kernelName() + "." + ext;
    std::ofstream f(path, std::ios::binary);
    f << text;
    if (!f)
      logger().warn("ATTNJIT_DUMP_DIR: cannot write {}", path);
  }
  /// Runs MLIR code (building the module, a pass pipeline) under the LLVM
  /// fatal-error guard (LLVMFatalError.h): a report_fatal_error inside a
  /// pattern or pass becomes a Compile error naming `what`, not an exit.
  void guarded(const char *what, const std::function<void()> &fn) {
    std::string message;
    if (runCatchingLLVMFatalErrors(fn, message))
      return;
    quarantined = true;
    fail(fmt::format("{}: LLVM reported a fatal error: {}", what, message));
  }
  gpu::GPUModuleOp kernelModule() {
    gpu::GPUModuleOp found;
    module->walk([&](gpu::GPUModuleOp m) { found = m; });
    if (!found)
      fail("no gpu.module after lowering");
    return found;
  }

  MLIRContext ctx;
  CompileOptions opts;
  std::string dumpDir;
  std::string diagnostics;
  OwningOpRef<ModuleOp> module;
  // Members rather than locals of run(): after a fatal error they belong to
  // the quarantined compilation and are never destroyed.
  std::unique_ptr<ScopedDiagnosticHandler> diagHandler;
  std::unique_ptr<PassManager> toKernel, toLLVM;
};

/// Owns a Compilation; one that an LLVM fatal error interrupted is kept
/// aside for the life of the process instead (its objects are never touched
/// again, and stay reachable, so no leak is reported).
class CompilationHandle {
public:
  CompilationHandle(const AttentionSpec &spec, const CompileOptions &opts)
      : c(new Compilation(spec, opts)) {}
  CompilationHandle(const CompilationHandle &) = delete;
  CompilationHandle &operator=(const CompilationHandle &) = delete;
  ~CompilationHandle() {
    if (!c->quarantined) {
      delete c;
      return;
    }
    static std::mutex mutex;
    static auto *kept = new std::vector<Compilation *>();
    std::lock_guard<std::mutex> lock(mutex);
    kept->push_back(c);
  }
  Compilation *operator->() const { return c; }
  Compilation &operator*() const { return *c; }

private:
  Compilation *c;
};

std::string Compilation::run(Stage stage) {
  if (std::string err = spec.validate(); !err.empty())
    throw Error(ErrorKind::InvalidArgument, err);
  std::string err;
  if (!computeLaunchShape(spec, shape, err))
    throw Error(ErrorKind::Unsupported, err);

  diagHandler = std::make_unique<ScopedDiagnosticHandler>(&ctx, [this](Diagnostic &d) {
    llvm::raw_string_ostream os(diagnostics);
    os << d.getLocation() << ": " << d << "\n";
    return success();
  });

  guarded("building the attn module", [&] { module = buildAttnModule(ctx, spec); });
  if (!module)
    fail("building the attn module failed");
  std::string text = print(*module);
  dump("attn.mlir", text);
  if (stage == Stage::Attn)
    return text;

  toKernel = std::make_unique<PassManager>(&ctx);
  toKernel->addPass(createConvertAttnToKernel());
  LogicalResult ok = failure();
  guarded("attnjit-convert-attn-to-kernel", [&] { ok = toKernel->run(*module); });
  if (failed(ok))
    fail("attnjit-convert-attn-to-kernel failed");
  text = print(*module);
  dump("kernel.mlir", text);
  if (stage == Stage::Kernel)
    return text;

  toLLVM = std::make_unique<PassManager>(&ctx);
  buildLowerKernelToLLVMPipeline(*toLLVM);
  ok = failure();
  guarded("attnjit-lower-kernel-to-llvm", [&] { ok = toLLVM->run(*module); });
  if (failed(ok))
    fail("attnjit-lower-kernel-to-llvm failed");
  text = print(*module);
  dump("llvm.mlir", text);
  if (stage == Stage::LLVMDialect)
    return text;

  gpu::GPUModuleOp gm = kernelModule();
  if (stage == Stage::LLVMIR || !dumpDir.empty()) {
    std::string ir;
    if (!emitLLVMIR(gm, spec.arch, /*optimized=*/false, ir, err))
      fail(err);
    dump("ll", ir);
    if (stage == Stage::LLVMIR)
      return ir;
  }
  std::string ptx;
  if (!emitPTX(gm, spec.arch, ptx, err))
    fail(err);
  dump("ptx", ptx);
  if (stage == Stage::PTX && !opts.produceCubin)
    return ptx;
  if (opts.produceCubin || stage == Stage::Cubin) {
    if (auto ptxasPath = findPtxas()) {
      if (!runPtxas(*ptxasPath, ptx, spec.arch, ptxas, err))
        fail(err);
      cubin = ptxas.cubin;
      logger().debug("{}: ptxas: {} registers, {} bytes spill stores, {} bytes spill loads",
                     spec.kernelName(), ptxas.registers, ptxas.spillStores, ptxas.spillLoads);
    } else if (stage == Stage::Cubin) {
      fail("ptxas not found (set ATTNJIT_PTXAS or put ptxas on PATH)");
    }
  }
  if (stage == Stage::Cubin)
    return std::string(cubin.begin(), cubin.end());
  return ptx;
}

} // namespace

CompiledKernel compileAttention(const AttentionSpec &spec, const CompileOptions &opts) {
  auto start = std::chrono::steady_clock::now();
  CompilationHandle handle(spec, opts);
  Compilation &c = *handle;
  CompiledKernel k;
  k.ptx = c.run(Stage::PTX);
  k.spec = c.spec;
  // Most recipes emit one kernel, named after the spec, with the signature of
  // the variant's ABI table. It covers one tile of rows (query rows; merge:
  // token rows) of one head per CTA, or, when persistent, walks such tiles.
  if (!c.shape.planKernels.empty()) {
    // Several kernels (Sage: reduce, quantize, attend) sharing a workspace
    // whose size the entry point computes from the shape.
    k.plan.kernels = c.shape.planKernels;
    k.plan.workspace.perLaunch = true;
  } else {
    std::vector<ParamKind> params = abiParamKinds(c.spec.variant, c.shape.tensorMaps);
    k.plan = c.shape.ctasPerSm > 0
                 ? singlePersistentPlan(c.spec.kernelName(), c.shape.threads,
                                        c.shape.sharedMemBytes, c.shape.rowsPerCta,
                                        c.shape.ctasPerSm, std::move(params))
                 : singleTileGridPlan(c.spec.kernelName(), c.shape.threads,
                                      c.shape.sharedMemBytes, c.shape.rowsPerCta,
                                      std::move(params));
  }
  k.cubin = std::move(c.cubin);
  k.abiVersion = abiVersion(c.spec.variant);
  k.registers = c.ptxas.registers;
  if (c.ptxas.spillStores >= 0)
    k.spillBytes = c.ptxas.spillStores + c.ptxas.spillLoads;
  k.compileMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  logger().info("compiled {} in {:.1f} ms ({} bytes PTX, {} bytes cubin)", k.entryName(),
                k.compileMs, k.ptx.size(), k.cubin.size());
  return k;
}

std::string compileToStage(const AttentionSpec &spec, Stage stage, const CompileOptions &opts) {
  CompileOptions o = opts;
  if (stage != Stage::Cubin)
    o.produceCubin = false;
  CompilationHandle c(spec, o);
  return c->run(stage);
}

namespace {
class JitProvider : public KernelProvider {
public:
  explicit JitProvider(CompileOptions opts) : opts(std::move(opts)) {}
  std::string name() const override { return "jit"; }
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override {
    return std::make_shared<CompiledKernel>(compileAttention(spec, opts));
  }

private:
  CompileOptions opts;
};
} // namespace

std::shared_ptr<KernelProvider> makeJitProvider(CompileOptions opts) {
  return std::make_shared<JitProvider>(std::move(opts));
}

} // namespace attnjit

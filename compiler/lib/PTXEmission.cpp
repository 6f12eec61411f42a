//===- PTXEmission.cpp - LLVM dialect -> LLVM IR -> PTX -> cubin ----------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/PTXEmission.h"
#include "attnjit/Compiler/LLVMFatalError.h"
#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Kernels/KernelBuilder.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/ErrorHandling.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>
#include <csetjmp>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <unistd.h>

// LeakSanitizer (the ASan build, cmake/Sanitizers.cmake): see below.
#if defined(__SANITIZE_ADDRESS__)
#define ATTNJIT_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTNJIT_LSAN 1
#endif
#endif
#ifdef ATTNJIT_LSAN
#include <sanitizer/lsan_interface.h>
#endif

namespace attnjit {

//===----------------------------------------------------------------------===//
// LLVM fatal errors
//===----------------------------------------------------------------------===//
//
// LLVM reports some failures (the NVPTX backend's "Cannot select", an
// unsupported PTX version) with report_fatal_error, which calls the installed
// fatal-error handler and then ends the process. An embedded JIT must not end
// its host, so the code that runs LLVM passes does so under a guard: the one
// handler attnjit installs (LLVM has one per process) jumps back to the guard
// of the calling thread, which returns the message as an error. This is the
// pattern of LLVM's CrashRecoveryContext (setjmp/longjmp), without its
// process-wide signal handlers, which would take SIGSEGV/SIGABRT from the
// host. LLVM frames between the guard and the error are not unwound, so
// everything they touched (context, module, target machine, pass manager) is
// kept aside, never reused or destroyed (quarantine()). Outside a guard the
// handler prints LLVM's message and returns, and LLVM ends the process as it
// would without attnjit. A host that installs its own handler after attnjit's
// replaces it (LLVM keeps one).

namespace {

struct FatalErrorGuard {
  std::jmp_buf env;
  std::string message;
};
thread_local FatalErrorGuard *currentGuard = nullptr;

void onLLVMFatalError(void *, const char *reason, bool) {
  if (FatalErrorGuard *g = currentGuard) {
    currentGuard = nullptr;
    g->message = reason ? reason : "(no message)";
    std::longjmp(g->env, 1);
  }
  std::string line = std::string("LLVM ERROR: ") + (reason ? reason : "") + "\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

} // namespace

bool runCatchingLLVMFatalErrors(const std::function<void()> &fn, std::string &message) {
  static std::once_flag once;
  std::call_once(once, [] { llvm::install_fatal_error_handler(onLLVMFatalError); });
  FatalErrorGuard guard;
  FatalErrorGuard *outer = currentGuard;
  // A fatal error skips the destructors of LLVM's frames (its message string
  // among them), so what they owned stays allocated: by design, not a leak
  // to report. Under LeakSanitizer, allocations made in the guarded code are
  // therefore not leak-checked (this thread only; ASan's other checks stay).
#ifdef ATTNJIT_LSAN
  __lsan_disable();
#endif
  if (setjmp(guard.env) != 0) {
#ifdef ATTNJIT_LSAN
    __lsan_enable();
#endif
    currentGuard = outer;
    message = std::move(guard.message);
    return false;
  }
  currentGuard = &guard;
  fn();
  currentGuard = outer;
#ifdef ATTNJIT_LSAN
  __lsan_enable();
#endif
  return true;
}

static void initNVPTX() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeNVPTXTargetInfo();
    LLVMInitializeNVPTXTarget();
    LLVMInitializeNVPTXTargetMC();
    LLVMInitializeNVPTXAsmPrinter();
    // 32-bit shared/const/local pointers: every shared-memory address (the
    // kernels' ldmatrix, cp.async and st.shared operands) then takes one
    // register instead of two, which the register-bound attention loops need.
    // NVPTX reads this option when a target machine is created.
    auto &opts = llvm::cl::getRegisteredOptions();
    auto it = opts.find("nvptx-short-ptr");
    if (it != opts.end() && it->second->getNumOccurrences() == 0)
      it->second->addOccurrence(0, "nvptx-short-ptr", "true");
  });
}

/// PTX ISA version: 8.0 covers sm_80..sm_90a and is accepted by the CUDA
/// 12.x/13.x drivers and ptxas; newer archs need the version that introduced
/// them (knownArchs), and a module whose instructions need a newer ISA says so
/// (kMinPtxVersionAttr, e.g. 84 for fp8 mma.sync).
static std::string ptxFeatures(const std::string &arch, int minVersion) {
  return "+ptx" + std::to_string(std::max({80, archMinPtxVersion(arch), minVersion}));
}

static int minPtxVersion(mlir::gpu::GPUModuleOp module) {
  auto attr = module->getAttrOfType<mlir::IntegerAttr>(kernels::kMinPtxVersionAttr);
  return attr ? static_cast<int>(attr.getInt()) : 0;
}

static std::unique_ptr<llvm::TargetMachine> makeTargetMachine(const std::string &arch,
                                                              int minVersion,
                                                              std::string &error) {
  initNVPTX();
  llvm::Triple triple("nvptx64-nvidia-cuda");
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      triple, arch, ptxFeatures(arch, minVersion), options, std::nullopt, std::nullopt,
      llvm::CodeGenOptLevel::Aggressive));
  if (!tm)
    error = "cannot create an NVPTX target machine for " + arch;
  return tm;
}

static std::unique_ptr<llvm::Module> translate(mlir::gpu::GPUModuleOp module,
                                               llvm::LLVMContext &llvmCtx,
                                               llvm::TargetMachine &tm, std::string &error) {
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module.getOperation(), llvmCtx, module.getName());
  if (!llvmModule) {
    error = "translation of gpu.module @" + module.getName().str() + " to LLVM IR failed";
    return nullptr;
  }
  llvmModule->setTargetTriple(tm.getTargetTriple());
  llvmModule->setDataLayout(tm.createDataLayout());
  std::string verifyMsg;
  llvm::raw_string_ostream vs(verifyMsg);
  if (llvm::verifyModule(*llvmModule, &vs)) {
    error = "LLVM IR does not verify: " + verifyMsg;
    return nullptr;
  }
  return llvmModule;
}

static void optimizeO3(llvm::Module &m, llvm::TargetMachine &tm) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(&tm);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(m, mam);
}

namespace {
/// A gpu.module translated to LLVM IR for one NVPTX target; the context and
/// target machine live as long as the module.
struct TargetModule {
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::TargetMachine> tm;
  std::unique_ptr<llvm::Module> module;
  // Declared in this order so that the pass manager (whose asm printer
  // writes to `os`) goes first, then the stream, then its buffer.
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os{buffer};
  llvm::legacy::PassManager codegen;

  bool init(mlir::gpu::GPUModuleOp gpuModule, const std::string &arch, std::string &error) {
    // An arch LLVM's NVPTX backend does not know ends the process in a fatal
    // error (Cannot select / unsupported PTX version): refuse it here.
    if (std::string why = checkArch(arch); !why.empty()) {
      error = "arch: " + why;
      return false;
    }
    tm = makeTargetMachine(arch, minPtxVersion(gpuModule), error);
    if (!tm)
      return false;
    module = translate(gpuModule, llvmCtx, *tm, error);
    return module != nullptr;
  }

  /// Runs `fn` (LLVM passes over the module) under the fatal-error guard; on
  /// a fatal error, `error` names the arch and LLVM's message, and `self` is
  /// quarantined: its objects may be half-updated, so they are never touched
  /// again, and stay reachable (no leak report) for the life of the process.
  static bool guarded(std::unique_ptr<TargetModule> &self, const std::string &arch,
                      const std::function<void()> &fn, std::string &error) {
    std::string message;
    if (runCatchingLLVMFatalErrors(fn, message))
      return true;
    error = "LLVM reported a fatal error while generating code for " + arch + ": " + message;
    static std::mutex mutex;
    static auto *quarantine = new std::vector<std::unique_ptr<TargetModule>>();
    std::lock_guard<std::mutex> lock(mutex);
    quarantine->push_back(std::move(self));
    return false;
  }
};
} // namespace

bool emitLLVMIR(mlir::gpu::GPUModuleOp module, const std::string &arch, bool optimized,
                std::string &out, std::string &error) {
  auto t = std::make_unique<TargetModule>();
  if (!t->init(module, arch, error))
    return false;
  TargetModule *m = t.get();
  return TargetModule::guarded(
      t, arch,
      [&] {
        if (optimized)
          optimizeO3(*m->module, *m->tm);
        llvm::raw_string_ostream os(out);
        m->module->print(os, nullptr);
      },
      error);
}

bool emitPTX(mlir::gpu::GPUModuleOp module, const std::string &arch, std::string &ptx,
             std::string &error) {
  auto t = std::make_unique<TargetModule>();
  if (!t->init(module, arch, error))
    return false;
  TargetModule *m = t.get();
  bool added = true;
  bool ok = TargetModule::guarded(
      t, arch,
      [&] {
        optimizeO3(*m->module, *m->tm);
        if (m->tm->addPassesToEmitFile(m->codegen, m->os, nullptr,
                                       llvm::CodeGenFileType::AssemblyFile)) {
          added = false;
          return;
        }
        m->codegen.run(*m->module);
      },
      error);
  if (!ok)
    return false;
  if (!added) {
    error = "the NVPTX backend cannot emit assembly for " + arch;
    return false;
  }
  ptx.assign(m->buffer.begin(), m->buffer.end());
  return true;
}

std::optional<std::string> findPtxas() {
  if (const char *env = std::getenv("ATTNJIT_PTXAS"); env && *env) {
    if (llvm::sys::fs::can_execute(env))
      return std::string(env);
    return std::nullopt;
  }
  if (auto p = llvm::sys::findProgramByName("ptxas"))
    return *p;
  if (llvm::sys::fs::can_execute("/usr/local/cuda/bin/ptxas"))
    return std::string("/usr/local/cuda/bin/ptxas");
  return std::nullopt;
}

bool runPtxas(const std::string &ptxasPath, const std::string &ptx, const std::string &arch,
              PtxasResult &result, std::string &error) {
  llvm::SmallString<128> ptxFile, cubinFile, logFile;
  if (llvm::sys::fs::createTemporaryFile("attnjit", "ptx", ptxFile) ||
      llvm::sys::fs::createTemporaryFile("attnjit", "cubin", cubinFile) ||
      llvm::sys::fs::createTemporaryFile("attnjit", "log", logFile)) {
    error = "cannot create temporary files for ptxas";
    return false;
  }
  struct Cleanup {
    llvm::SmallVector<std::string, 3> files;
    ~Cleanup() {
      for (auto &f : files)
        llvm::sys::fs::remove(f);
    }
  } cleanup{{ptxFile.str().str(), cubinFile.str().str(), logFile.str().str()}};
  {
    std::ofstream f(ptxFile.c_str(), std::ios::binary);
    f << ptx;
  }
  std::string archFlag = "-arch=" + arch;
  llvm::SmallVector<llvm::StringRef> args = {ptxasPath, archFlag, "-O3", "-v",
                                             ptxFile.str(), "-o", cubinFile.str()};
  std::optional<llvm::StringRef> redirects[] = {std::nullopt, logFile.str(), logFile.str()};
  std::string execErr;
  int rc = llvm::sys::ExecuteAndWait(ptxasPath, args, std::nullopt, redirects, 0, 0, &execErr);
  {
    std::ifstream f(logFile.c_str());
    std::stringstream ss;
    ss << f.rdbuf();
    result.log = ss.str();
  }
  if (rc != 0) {
    error = "ptxas failed (exit " + std::to_string(rc) + "): " + execErr + "\n" + result.log;
    return false;
  }
  std::ifstream f(cubinFile.c_str(), std::ios::binary);
  result.cubin.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  // A module of several kernels (a Sage plan) reports each: the most
  // registers of any, and the spill bytes of all.
  std::regex used("Used (\\d+) registers");
  for (auto it = std::sregex_iterator(result.log.begin(), result.log.end(), used);
       it != std::sregex_iterator(); ++it)
    result.registers = std::max(result.registers, std::stoi((*it)[1]));
  std::regex spill("(\\d+) bytes spill stores, (\\d+) bytes spill loads");
  for (auto it = std::sregex_iterator(result.log.begin(), result.log.end(), spill);
       it != std::sregex_iterator(); ++it) {
    result.spillStores = std::max(result.spillStores, 0) + std::stoi((*it)[1]);
    result.spillLoads = std::max(result.spillLoads, 0) + std::stoi((*it)[2]);
  }
  return true;
}

} // namespace attnjit

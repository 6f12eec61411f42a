//===- PTXEmission.cpp - LLVM dialect -> LLVM IR -> PTX -> cubin ----------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/PTXEmission.h"
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
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Triple.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>

namespace attnjit {

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
};
} // namespace

bool emitLLVMIR(mlir::gpu::GPUModuleOp module, const std::string &arch, bool optimized,
                std::string &out, std::string &error) {
  TargetModule t;
  if (!t.init(module, arch, error))
    return false;
  if (optimized)
    optimizeO3(*t.module, *t.tm);
  llvm::raw_string_ostream os(out);
  t.module->print(os, nullptr);
  return true;
}

bool emitPTX(mlir::gpu::GPUModuleOp module, const std::string &arch, std::string &ptx,
             std::string &error) {
  TargetModule t;
  if (!t.init(module, arch, error))
    return false;
  llvm::TargetMachine *tm = t.tm.get();
  optimizeO3(*t.module, *tm);
  llvm::SmallString<0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, os, nullptr, llvm::CodeGenFileType::AssemblyFile)) {
    error = "the NVPTX backend cannot emit assembly for " + arch;
    return false;
  }
  codegen.run(*t.module);
  ptx.assign(buffer.begin(), buffer.end());
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
  std::smatch m;
  if (std::regex_search(result.log, m, std::regex("Used (\\d+) registers")))
    result.registers = std::stoi(m[1]);
  if (std::regex_search(result.log, m,
                        std::regex("(\\d+) bytes spill stores, (\\d+) bytes spill loads"))) {
    result.spillStores = std::stoi(m[1]);
    result.spillLoads = std::stoi(m[2]);
  }
  return true;
}

} // namespace attnjit

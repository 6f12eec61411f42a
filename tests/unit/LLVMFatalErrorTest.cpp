//===- LLVMFatalErrorTest.cpp - LLVM fatal errors become attnjit errors ---===//
//
// Part of attnjit. LLVM's NVPTX backend ends the process (report_fatal_error)
// when it cannot select an instruction for the target. PTX emission runs LLVM
// under a guard that turns such an error into a failed emission, so the JIT
// never ends its host. Provoked here with a real backend failure: a hand-built
// LLVM-dialect kernel reading %clusterid (sm_90+) compiled for sm_80, through
// the text-level entry point (MLIR stays inside libattnjit_compiler).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Compiler/LLVMFatalError.h"
#include "attnjit/Compiler/OptMain.h"
#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"

#include <string>
#include <thread>

using namespace attnjit;

namespace {

/// A kernel whose only instruction needs sm_90 (a cluster id register).
constexpr const char *kClusterIdKernel = R"mlir(
module {
  gpu.module @fatal_probe {
    llvm.func @fatal_probe(%p: !llvm.ptr<1>) attributes {nvvm.kernel} {
      %v = nvvm.read.ptx.sreg.clusterid.x : i32
      llvm.store %v, %p : i32, !llvm.ptr<1>
      llvm.return
    }
  }
}
)mlir";

} // namespace

TEST_CASE("an LLVM backend fatal error is an error, not the end of the process",
          "[compile][fatal]") {
  // sm_90a selects the instruction: the module itself is fine.
  std::string error;
  auto ptx = ptxFromLLVMDialectText(kClusterIdKernel, "sm_90a", &error);
  INFO(error);
  REQUIRE(ptx);
  CHECK(ptx->find("%clusterid.x") != std::string::npos);

  // sm_80 cannot: LLVM's "Cannot select" comes back as the error, three times
  // in a row (the handler stays usable) and from another thread.
  for (int i = 0; i < 3; ++i) {
    error.clear();
    CHECK_FALSE(ptxFromLLVMDialectText(kClusterIdKernel, "sm_80", &error));
    INFO(error);
    CHECK(error.find("fatal error while generating code for sm_80") != std::string::npos);
    CHECK(error.find("Cannot select") != std::string::npos);
    CHECK(error.find("clusterid") != std::string::npos);
  }
  std::string threadError;
  bool threadOk = true;
  std::thread t([&] {
    threadOk = ptxFromLLVMDialectText(kClusterIdKernel, "sm_80", &threadError).has_value();
  });
  t.join();
  CHECK_FALSE(threadOk);
  CHECK(threadError.find("Cannot select") != std::string::npos);

  // The process and LLVM still work: a real kernel compiles after the failures.
  AttentionSpec s;
  s.headDim = 64;
  s.arch = "sm_80";
  CHECK(compileToStage(s, Stage::PTX).find(".target sm_80") != std::string::npos);
  CHECK(ptxFromLLVMDialectText(kClusterIdKernel, "sm_90a"));
}

TEST_CASE("LLVM fatal-error guards pass through success and nest", "[compile][fatal]") {
  std::string message = "unchanged";
  int calls = 0;
  CHECK(runCatchingLLVMFatalErrors([&] { ++calls; }, message));
  CHECK(calls == 1);
  CHECK(message == "unchanged");
  // The innermost guard catches: the emission fails, the outer guard's code
  // goes on and finishes.
  std::string inner;
  bool innerOk = true, after = false;
  CHECK(runCatchingLLVMFatalErrors(
      [&] {
        innerOk = ptxFromLLVMDialectText(kClusterIdKernel, "sm_80", &inner).has_value();
        after = true;
      },
      message));
  CHECK_FALSE(innerOk);
  CHECK(after);
  CHECK(inner.find("Cannot select") != std::string::npos);
  CHECK(message == "unchanged");
}

TEST_CASE("every arch the driver can report has a recipe and a PTX version",
          "[compile][arch]") {
  // Compute capabilities of the GPUs CUDA 12.x/13.x drivers report, sm_80 on.
  const std::pair<int, int> ccs[] = {{8, 0},  {8, 6},  {8, 7},  {8, 9},  {9, 0}, {10, 0},
                                     {10, 1}, {10, 3}, {11, 0}, {12, 0}, {12, 1}};
  for (auto [major, minor] : ccs) {
    std::string arch = archForComputeCapability(major, minor);
    INFO(arch);
    CHECK(checkArch(arch).empty());
    CHECK(archMinPtxVersion(arch) >= 80);
    CHECK(archMaxSharedBytes(arch) > 0);
    for (Variant v : {Variant::Flash, Variant::Sdpa, Variant::Merge}) {
      AttentionSpec s;
      s.variant = v;
      s.headDim = 64;
      s.arch = arch;
      // The attn stage selects the recipe and computes its launch shape
      // (Unsupported when no recipe serves the spec).
      CHECK_NOTHROW(compileToStage(s, Stage::Attn));
    }
  }
  // Older GPUs and future ones get a clear error, never LLVM.
  for (auto [major, minor] : {std::pair<int, int>{7, 5}, {13, 0}}) {
    AttentionSpec s;
    s.headDim = 64;
    s.arch = archForComputeCapability(major, minor);
    INFO(s.arch);
    CHECK_FALSE(s.validate().empty());
    CHECK_THROWS_AS(compileToStage(s, Stage::PTX), Error);
  }
}

//===- ArchTargetsTest.cpp - Every known arch gets PTX, others an error ---===//
//
// Part of attnjit. The runtime names a device by its compute capability
// (sm_100a for a B200, sm_120a for an RTX 50); each such arch must get PTX of
// an ISA version that knows it, never an LLVM fatal error that would end the
// host process. Names that are not archs are rejected before LLVM sees them.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/Error.h"

#include <string>

using namespace attnjit;

TEST_CASE("every known arch compiles a flash kernel to PTX of its ISA version", "[compile][arch]") {
  for (const ArchInfo &a : knownArchs()) {
    INFO(a.name);
    AttentionSpec s;
    s.headDim = 64;
    s.arch = std::string(a.name);
    std::string ptx = compileToStage(s, Stage::PTX);
    int v = std::max(80, a.minPtxVersion);
    CHECK(ptx.find(".version " + std::to_string(v / 10) + "." + std::to_string(v % 10)) !=
          std::string::npos);
    CHECK(ptx.find(".target " + std::string(a.name)) != std::string::npos);
  }
}

TEST_CASE("names that are not archs are rejected with the known list", "[compile][arch]") {
  for (const char *bad : {"sm_999", "sm_0090", "sm_100f", "sm_88", "sm_75", "gfx942"}) {
    INFO(bad);
    AttentionSpec s;
    s.headDim = 64;
    s.arch = bad;
    CHECK_FALSE(s.validate().empty());
    CHECK_THROWS_AS(compileToStage(s, Stage::PTX), Error);
  }
  CHECK(checkArch("sm_999").find("known: sm_80, sm_86") != std::string::npos);
  CHECK(archMinPtxVersion("sm_100a") == 86);
  CHECK(archMinPtxVersion("sm_90a") == 80);
  CHECK(archMinPtxVersion("sm_999") == 0);
}

//===- CacheRuntimeLinkTest.cpp - attnjit_runtime needs no LLVM/MLIR ------===//
//
// Part of attnjit. An application that links only attnjit_runtime and loads
// bundles or cache entries must not pull in LLVM or MLIR. This finds the
// loaded libattnjit_runtime.so and checks its direct (readelf -d) and
// transitive (ldd) dependencies.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/DiskCache.h"

#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdio>
#include <string>

namespace {
std::string run(const std::string &cmd, int &status) {
  std::string out;
  FILE *p = ::popen(cmd.c_str(), "r");
  if (!p) {
    status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    out.append(buf, n);
  status = ::pclose(p);
  return out;
}
} // namespace

TEST_CASE("libattnjit_runtime links neither LLVM nor MLIR", "[cache][link]") {
  Dl_info info;
  REQUIRE(::dladdr(reinterpret_cast<void *>(&attnjit::defaultCacheDir), &info) != 0);
  REQUIRE(info.dli_fname);
  std::string lib = info.dli_fname;
  INFO("library: " << lib);
  REQUIRE(lib.find("libattnjit_runtime") != std::string::npos);

  int status = 0;
  std::string direct = run("readelf -d '" + lib + "' 2>&1", status);
  REQUIRE(status == 0);
  INFO("readelf -d:\n" << direct);
  CHECK(direct.find("NEEDED") != std::string::npos);
  CHECK(direct.find("libLLVM") == std::string::npos);
  CHECK(direct.find("libMLIR") == std::string::npos);
  CHECK(direct.find("libattnjit_compiler") == std::string::npos);

  std::string all = run("ldd '" + lib + "' 2>&1", status);
  INFO("ldd:\n" << all);
  CHECK(status == 0);
  CHECK(all.find("libLLVM") == std::string::npos);
  CHECK(all.find("libMLIR") == std::string::npos);
  CHECK(all.find("libcuda") == std::string::npos); // loaded with dlopen at run time
}

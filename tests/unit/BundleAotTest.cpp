//===- BundleAotTest.cpp - Real compiler: AOT bundle and caching JIT ------===//
//
// Part of attnjit. Needs the compiler library (ATTNJIT_HAVE_COMPILER): the
// kernel text a bundle or cache entry gives back is byte-for-byte what the
// compiler produced, and linking the compiler installs the caching JIT.
//
//===----------------------------------------------------------------------===//
#ifdef ATTNJIT_HAVE_COMPILER
#include "CacheTestSupport.h"

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>

using namespace attnjit;
using namespace attnjit::testing;

namespace {
double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
AttentionSpec aotSpec(int headDim, bool causal) {
  AttentionSpec s;
  s.headDim = headDim;
  s.causal = causal;
  s.arch = "sm_80";
  return s;
}
} // namespace

TEST_CASE("AOT bundle round trip with the real compiler", "[bundle][aot]") {
  std::vector<CompiledKernel> compiled;
  for (bool causal : {false, true})
    compiled.push_back(compileAttention(aotSpec(64, causal)));
  ScratchDir dir;
  std::string path = dir / "aot.attnpack";
  writeBundle(path, compiled);
  auto bundle = BundleProvider::load(path);
  REQUIRE(bundle->kernels().size() == compiled.size());
  for (const CompiledKernel &k : compiled) {
    auto got = bundle->getKernel(aotSpec(64, k.spec.causal)); // config left to the bundle
    REQUIRE(got);
    CHECK(got->ptx == k.ptx);
    CHECK(got->cubin == k.cubin);
    CHECK(got->entryName() == k.entryName());
    CHECK(got->plan == k.plan);
    CHECK(got->metadataJson() == k.metadataJson());
  }
}

TEST_CASE("Caching JIT: cold compile, then disk hits with identical code", "[cache][aot]") {
  ScratchDir dir;
  AttentionSpec spec = aotSpec(64, true);
  DiskCache cold(makeJitProvider(), compilerBuildId(), dir.path());
  auto t0 = std::chrono::steady_clock::now();
  auto compiled = cold.getKernel(spec);
  double coldMs = msSince(t0);
  REQUIRE(compiled);
  CHECK(cold.stats().writes == 1);

  DiskCache warm(makeJitProvider(), compilerBuildId(), dir.path());
  std::vector<double> hits;
  for (int i = 0; i < 50; ++i) {
    auto t = std::chrono::steady_clock::now();
    auto k = warm.getKernel(spec);
    hits.push_back(msSince(t));
    REQUIRE(k);
    CHECK(k->ptx == compiled->ptx);
    CHECK(k->cubin == compiled->cubin);
  }
  CHECK(warm.stats().misses == 0);
  std::sort(hits.begin(), hits.end());
  std::printf("cold compile %.0f ms; disk hit median %.3f ms (ptx %zu B, cubin %zu B)\n", coldMs,
              hits[hits.size() / 2], compiled->ptx.size(), compiled->cubin.size());
  CHECK(hits[hits.size() / 2] < 2.0);
}

TEST_CASE("Linking the compiler installs the caching JIT provider", "[cache][aot]") {
  auto names = KernelRuntime::instance().providerNames();
  INFO("providers: " << names.size());
  CHECK(std::find(names.begin(), names.end(), "disk-cache") != names.end());
}
#endif // ATTNJIT_HAVE_COMPILER

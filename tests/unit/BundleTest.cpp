//===- BundleTest.cpp - Bundles: round trip, lookup, damage ---------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "CacheTestSupport.h"

#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Hash.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>

using namespace attnjit;
using namespace attnjit::testing;

namespace {
std::vector<CompiledKernel> someKernels() {
  std::vector<CompiledKernel> ks;
  for (const char *arch : {"sm_80", "sm_90a"})
    for (int d : {64, 128})
      for (bool causal : {false, true})
        ks.push_back(fakeKernel(fakeSpec(d, arch, causal), 1000 + 10 * d));
  ks[1].cubin.clear(); // PTX only
  return ks;
}

void checkSame(const CompiledKernel &a, const CompiledKernel &b) {
  CHECK(a.spec == b.spec);
  CHECK(a.entryName() == b.entryName());
  CHECK(a.plan == b.plan);
  CHECK(a.ptx == b.ptx);
  CHECK(a.cubin == b.cubin);
  CHECK(a.threadsPerBlock() == b.threadsPerBlock());
  CHECK(a.sharedMemBytes() == b.sharedMemBytes());
  CHECK(a.abiVersion == b.abiVersion);
  CHECK(a.metadataJson() == b.metadataJson());
}
} // namespace

TEST_CASE("Bundle round trip: write, load, same code and metadata", "[bundle]") {
  ScratchDir dir;
  auto ks = someKernels();
  std::string path = dir / "kernels.attnpack";
  writeBundle(path, ks);
  auto b = BundleProvider::load(path);
  REQUIRE(b->kernels().size() == ks.size());
  CHECK(b->name() == "bundle");
  CHECK(b->source() == path);
  CHECK(b->sizeBytes() == std::filesystem::file_size(path));
  for (size_t i = 0; i < ks.size(); ++i) {
    checkSame(*b->kernels()[i], ks[i]);
    auto k = b->getKernel(ks[i].spec);
    REQUIRE(k);
    checkSame(*k, ks[i]);
  }
  // Same bytes from memory.
  auto bytes = serializeBundle(ks);
  auto m = BundleProvider::load(bytes.data(), bytes.size(), "embedded");
  REQUIRE(m->kernels().size() == ks.size());
  checkSame(*m->getKernel(ks[3].spec), ks[3]);
  CHECK(readFile(path) == std::string(bytes.begin(), bytes.end()));
}

TEST_CASE("Bundle lookup matches arch exactly and fills an incomplete config", "[bundle]") {
  auto ks = someKernels();
  auto bytes = serializeBundle(ks);
  auto b = BundleProvider::load(bytes.data(), bytes.size());
  AttentionSpec want = fakeSpec(128, "sm_80", true); // config all zero
  auto k = b->getKernel(want);
  REQUIRE(k);
  CHECK(k->spec.arch == "sm_80");
  CHECK(k->spec.headDim == 128);
  CHECK(k->spec.causal);
  CHECK(k->spec.config.isComplete());
  want.config.blockM = 128; // partially given and matching
  CHECK(b->getKernel(want) == k);
  want.config.blockM = 64; // partially given, not matching
  CHECK(b->getKernel(want) == nullptr);
  CHECK(b->getKernel(fakeSpec(128, "sm_86", true)) == nullptr);
  CHECK(b->getKernel(fakeSpec(256, "sm_80", true)) == nullptr);
  AttentionSpec lse = fakeSpec(128, "sm_80", true);
  lse.returnLse = true;
  CHECK(b->getKernel(lse) == nullptr);
}

TEST_CASE("Damaged bundles are rejected with a clear error", "[bundle]") {
  auto bytes = serializeBundle(someKernels());
  std::string good(bytes.begin(), bytes.end());
  auto expectError = [](const std::string &b, const std::string &needle) {
    try {
      BundleProvider::load(b.data(), b.size(), "test.attnpack");
      FAIL("loaded a damaged bundle");
    } catch (const Error &e) {
      CHECK(e.kind() == ErrorKind::Io);
      std::string msg = e.what();
      INFO(msg);
      CHECK(msg.find("test.attnpack") != std::string::npos);
      CHECK(msg.find(needle) != std::string::npos);
    }
  };
  expectError(good.substr(0, 10), "truncated");
  expectError(good.substr(0, good.size() - 1), "truncated");
  std::string b = good;
  b[b.size() - 7] ^= 1;
  expectError(b, "checksum");
  b = good;
  b[1] = 'X';
  expectError(b, "magic");
  b = good;
  b[8] = 9;
  expectError(b, "format version");
  CHECK_THROWS_AS(BundleProvider::load("/nonexistent/x.attnpack"), Error);

  // A well-formed bundle whose index holds a bad kernel record: the error
  // names the file too (it was lost after the first kernel was read).
  auto getU64 = [](const std::string &x, size_t at) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
      v = (v << 8) | uint8_t(x[at + i]);
    return v;
  };
  auto setU64 = [](std::string &x, size_t at, uint64_t v) {
    for (int i = 0; i < 8; ++i)
      x[at + i] = char((v >> (8 * i)) & 0xff);
  };
  uint64_t indexLen = getU64(good, 16);
  nlohmann::json index = nlohmann::json::parse(good.substr(40, indexLen));
  index["kernels"][1]["ptx_offset"] = uint64_t(1) << 40;
  std::string newIndex = index.dump();
  std::string tampered = good.substr(0, 40) + newIndex + good.substr(40 + indexLen);
  setU64(tampered, 16, newIndex.size());
  setU64(tampered, 32, xxh64(tampered.data() + 40, tampered.size() - 40, xxh64(tampered.data(), 32)));
  expectError(tampered, "kernel 1: bad or missing code offsets");
}

TEST_CASE("A bundle cannot hold one spec twice", "[bundle]") {
  auto ks = someKernels();
  ks.push_back(ks[0]);
  CHECK_THROWS_AS(serializeBundle(ks), Error);
}

TEST_CASE("Bundle of 32 kernels loads fast", "[bundle][perf]") {
  std::vector<CompiledKernel> ks;
  for (const char *arch : {"sm_80", "sm_90a"})
    for (int d : {64, 128})
      for (bool causal : {false, true})
        for (DType t : {DType::BF16, DType::F16})
          for (bool lse : {false, true}) {
            AttentionSpec s = fakeSpec(d, arch, causal);
            s.dtype = t;
            s.returnLse = lse;
            CompiledKernel k = fakeKernel(s, 200 * 1024);
            k.cubin.resize(100 * 1024, 7);
            ks.push_back(std::move(k));
          }
  REQUIRE(ks.size() == 32);
  ScratchDir dir;
  std::string path = dir / "k.attnpack";
  writeBundle(path, ks);
  auto t0 = std::chrono::steady_clock::now();
  auto b = BundleProvider::load(path);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                  .count();
  REQUIRE(b->kernels().size() == 32);
  std::printf("bundle of 32 kernels (%.1f MiB) loaded in %.2f ms\n",
              b->sizeBytes() / 1048576.0, ms);
  CHECK(ms < 1000);
}

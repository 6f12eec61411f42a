//===- make_seeds.cpp - Write the seed corpora of the reader fuzz targets -===//
//
// Part of attnjit. Writes small, valid cache entries and bundles (the unit
// tests' fake kernels, with short PTX) into corpus/cache_entry and
// corpus/bundle, so the fuzzers start from inputs that pass the checksum and
// reach the metadata checks. Each seed starts with the targets' mode byte
// (1: repair the checksum after mutating). Run once when the formats change:
//   build-asan/fuzz/attnjit-fuzz-make-seeds fuzz/corpus
//
//===----------------------------------------------------------------------===//
#include "../tests/unit/CacheTestSupport.h"

#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/DiskCache.h"

#include <cstdio>

using namespace attnjit;
using namespace attnjit::testing;

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  auto small = [](AttentionSpec spec, bool cubin) {
    CompiledKernel k = fakeKernel(spec, 160);
    k.cubin.resize(cubin ? 48 : 0);
    return k;
  };
  AttentionSpec sdpa = fakeSpec(80, "sm_80", false);
  sdpa.variant = Variant::Sdpa;
  sdpa.dtype = DType::F16;
  sdpa.maskKind = MaskKind::Bool;
  sdpa.maskPerKey = true;
  CompiledKernel sdpaKernel = small(sdpa, true);
  sdpaKernel.plan = singleTileGridPlan(sdpa.kernelName(), 128, 32768, 64,
                                       abiParamKinds(Variant::Sdpa));
  const std::string key(64, 'a');
  writeFile(dir + "/cache_entry/flash-sm90a",
            "\x01" + encodeCacheEntry(key, "b", small(fakeSpec(), true)));
  writeFile(dir + "/cache_entry/flash-sm80-ptx-only",
            "\x01" + encodeCacheEntry(key, "build", small(fakeSpec(64, "sm_80", false), false)));
  writeFile(dir + "/cache_entry/sdpa-sm80", "\x01" + encodeCacheEntry(key, "b", sdpaKernel));
  auto bundle = [&](const std::string &name, const std::vector<CompiledKernel> &ks) {
    std::vector<uint8_t> b = serializeBundle(ks);
    writeFile(dir + "/bundle/" + name, "\x01" + std::string(b.begin(), b.end()));
  };
  bundle("one-flash", {small(fakeSpec(), true)});
  bundle("flash-and-sdpa", {small(fakeSpec(64, "sm_80", false), false), sdpaKernel});
  bundle("three", {small(fakeSpec(64, "sm_90a"), true), small(fakeSpec(128, "sm_90a"), true),
                   small(fakeSpec(256, "sm_100a", false), false)});
  std::printf("seeds written under %s\n", dir.c_str());
  return 0;
}

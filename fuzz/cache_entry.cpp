//===- cache_entry.cpp - Fuzz the disk-cache entry decoder ----------------===//
//
// Part of attnjit. decodeCacheEntry reads files from a shared cache directory.
// For any bytes it must return an entry or an error (never throw, crash or
// allocate what the header claims); an accepted entry must pass the runtime's
// own checks (its plan validates, its spec validates) and re-encode to bytes
// that decode to the same kernel.
//
// Input: one mode byte, then the entry (FuzzInput.h).
//
//===----------------------------------------------------------------------===//
#include "FuzzInput.h"
#include "attnjit/Runtime/DiskCache.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace attnjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string file = fuzz::fileWithChecksum(data, size, /*checksumOffset=*/40,
                                            /*headerBytes=*/48);
  std::string_view bytes = file;
  std::string error;
  auto entry = decodeCacheEntry(bytes, &error);
  if (!entry) {
    if (error.empty()) {
      std::fprintf(stderr, "decode failed without a message\n");
      std::abort();
    }
    return 0;
  }
  if (!entry->kernel.plan.validate().empty() || !entry->kernel.spec.validate().empty()) {
    std::fprintf(stderr, "accepted an entry that does not validate\n");
    std::abort();
  }
  std::string again = encodeCacheEntry(entry->key, entry->buildId, entry->kernel);
  auto round = decodeCacheEntry(again, &error);
  if (!round || round->kernel.ptx != entry->kernel.ptx ||
      round->kernel.cubin != entry->kernel.cubin || !(round->kernel.plan == entry->kernel.plan) ||
      round->kernel.spec.canonical() != entry->kernel.spec.canonical()) {
    std::fprintf(stderr, "re-encoded entry differs: %s\n", error.c_str());
    std::abort();
  }
  (void)entry->kernel.metadataJson();
  return 0;
}

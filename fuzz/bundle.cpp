//===- bundle.cpp - Fuzz the bundle reader --------------------------------===//
//
// Part of attnjit. BundleProvider::load reads bundles users ship with their
// applications. For any bytes it must return a provider or throw
// attnjit::Error (never another exception, a crash or a huge allocation); an
// accepted bundle's kernels must validate and be found by their own specs.
//
// Input: one mode byte, then the bundle. An odd mode byte rewrites the
// bundle's checksum to match its bytes first, so mutations reach the index and
// record checks behind it.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Hash.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace attnjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  std::string input(reinterpret_cast<const char *>(data) + 1, size - 1);
  if ((data[0] & 1) && input.size() >= 40) {
    uint64_t sum = xxh64(input.data() + 40, input.size() - 40, xxh64(input.data(), 32));
    for (int i = 0; i < 8; ++i)
      input[32 + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  }
  std::shared_ptr<BundleProvider> b;
  try {
    b = BundleProvider::load(input.data(), input.size(), "fuzz");
  } catch (const Error &) {
    return 0;
  }
  for (const auto &k : b->kernels()) {
    if (!k->plan.validate().empty() || !k->spec.validate().empty()) {
      std::fprintf(stderr, "accepted a kernel that does not validate\n");
      std::abort();
    }
    if (b->getKernel(k->spec) != k) {
      std::fprintf(stderr, "a kernel is not found by its own spec\n");
      std::abort();
    }
    (void)k->metadataJson();
  }
  return 0;
}

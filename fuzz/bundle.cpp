//===- bundle.cpp - Fuzz the bundle reader --------------------------------===//
//
// Part of attnjit. BundleProvider::load reads bundles users ship with their
// applications. For any bytes it must return a provider or throw
// attnjit::Error (never another exception, a crash or a huge allocation); an
// accepted bundle's kernels must validate and be found by their own specs.
//
// Input: one mode byte, then the bundle (FuzzInput.h).
//
//===----------------------------------------------------------------------===//
#include "FuzzInput.h"
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/Error.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

using namespace attnjit;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string file = fuzz::fileWithChecksum(data, size, /*checksumOffset=*/32,
                                            /*headerBytes=*/40);
  std::shared_ptr<BundleProvider> b;
  try {
    b = BundleProvider::load(file.data(), file.size(), "fuzz");
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

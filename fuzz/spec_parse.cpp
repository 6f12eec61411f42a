//===- spec_parse.cpp - Fuzz the spec text parser -------------------------===//
//
// Part of attnjit. AttentionSpec::parse reads spec text from users (attnjit-aot
// --specs, attnjit-compile --spec) and from every cache entry and bundle
// record. For any input it must return a spec or an error; a parsed spec's
// canonical text must parse back to the same spec, and validate() and
// kernelName() must not fail on it.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Core/AttentionSpec.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string error;
  auto spec = attnjit::AttentionSpec::parse(text, &error);
  if (!spec) {
    if (error.empty()) {
      std::fprintf(stderr, "parse failed without a message\n");
      std::abort();
    }
    return 0;
  }
  std::string canonical = spec->canonical();
  auto again = attnjit::AttentionSpec::parse(canonical, &error);
  if (!again || again->canonical() != canonical) {
    std::fprintf(stderr, "canonical text does not round-trip: '%s'\n", canonical.c_str());
    std::abort();
  }
  (void)spec->validate();
  (void)spec->kernelName();
  (void)attnjit::memoryKeyFields(*spec);
  return 0;
}

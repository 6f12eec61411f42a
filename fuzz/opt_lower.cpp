//===- opt_lower.cpp - Fuzz attnjit-opt's parse -> verify -> lower path ---===//
//
// Part of attnjit. lowerAttnText is attnjit-opt's .mlir path in one call:
// parse, verify, attnjit-convert-attn-to-kernel, kernel -> LLVM. For any text
// it must return the lowered module or diagnostics; an attnjit::Error (a
// recipe refusing a spec) is a clean refusal too. Anything else (a crash, an
// abort, an LLVM fatal error, a sanitizer report) is a bug.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/OptMain.h"
#include "attnjit/Runtime/Error.h"

#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  // Bound the input: the interesting structure fits in a few KB, and huge
  // inputs only make each run slow.
  if (size > 16384)
    return -1;
  std::string text(reinterpret_cast<const char *>(data), size);
  std::string error;
  try {
    (void)attnjit::lowerAttnText(text, &error);
  } catch (const attnjit::Error &) {
  }
  return 0;
}

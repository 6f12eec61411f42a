//===- FuzzInput.h - Inputs of the checksummed-file fuzz targets -*- C++ -*-===//
//
// Part of attnjit. Cache entries and bundles end their header with an XXH64
// checksum of the rest (seeded with XXH64 of the header before it), which a
// mutated file would almost never pass. Their fuzz targets take one mode byte
// and then the file: an odd mode byte has the checksum rewritten to match, so
// mutations reach the checks behind it.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_FUZZ_FUZZINPUT_H
#define ATTNJIT_FUZZ_FUZZINPUT_H

#include "attnjit/Runtime/Hash.h"

#include <cstddef>
#include <cstdint>
#include <string>

namespace attnjit::fuzz {

/// The file of a fuzz input (mode byte, file bytes); for an odd mode byte, with
/// the 8-byte checksum at `checksumOffset` recomputed over [headerBytes, end).
inline std::string fileWithChecksum(const uint8_t *data, size_t size, size_t checksumOffset,
                                    size_t headerBytes) {
  if (size == 0)
    return {};
  std::string file(reinterpret_cast<const char *>(data) + 1, size - 1);
  if ((data[0] & 1) && file.size() >= headerBytes) {
    uint64_t sum = xxh64(file.data() + headerBytes, file.size() - headerBytes,
                         xxh64(file.data(), checksumOffset));
    for (int i = 0; i < 8; ++i)
      file[checksumOffset + i] = static_cast<char>((sum >> (8 * i)) & 0xff);
  }
  return file;
}

} // namespace attnjit::fuzz

#endif // ATTNJIT_FUZZ_FUZZINPUT_H

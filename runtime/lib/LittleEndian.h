//===- LittleEndian.h - Fixed-width little-endian reads and writes -*- C++ -*-===//
//
// Part of attnjit. Private to the runtime: the on-disk formats (cache entries,
// bundles) and the hash read and write integers through these, so the bytes are
// the same on every host and at any alignment.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LIB_LITTLEENDIAN_H
#define ATTNJIT_RUNTIME_LIB_LITTLEENDIAN_H

#include <cstdint>
#include <string>

namespace attnjit::detail {

inline void putU32(std::string &out, uint32_t v) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void putU64(std::string &out, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
inline void setU64(std::string &out, size_t offset, uint64_t v) {
  for (int i = 0; i < 8; ++i)
    out[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline uint32_t getU32(const char *p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= uint32_t(uint8_t(p[i])) << (8 * i);
  return v;
}
inline uint64_t getU64(const char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= uint64_t(uint8_t(p[i])) << (8 * i);
  return v;
}

} // namespace attnjit::detail

#endif // ATTNJIT_RUNTIME_LIB_LITTLEENDIAN_H

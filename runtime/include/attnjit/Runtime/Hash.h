//===- Hash.h - Stable hashes for cache keys and checksums -------*- C++ -*-===//
//
// Part of attnjit. Dependency-free SHA-256 (FIPS 180-4) for cache keys and
// XXH64 for the checksums of cache entries and bundles. Both are stable across
// platforms, compilers and releases, which std::hash is not.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_HASH_H
#define ATTNJIT_RUNTIME_HASH_H

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace attnjit {

/// Incremental SHA-256. Feed bytes with update(), then call digest() once.
class Sha256 {
public:
  using Digest = std::array<uint8_t, 32>;

  Sha256();
  /// Appends `size` bytes at `data`.
  void update(const void *data, size_t size);
  void update(std::string_view text) { update(text.data(), text.size()); }
  /// Finishes the hash; the object must not be updated afterwards.
  Digest digest();

private:
  void compressBlock(const uint8_t *block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t bufferLen_ = 0;
  uint64_t totalBytes_ = 0;
};

/// SHA-256 of `size` bytes at `data`.
Sha256::Digest sha256(const void *data, size_t size);
/// Lower-case hex text of `size` bytes at `data`.
std::string toHex(const void *data, size_t size);
/// Lower-case hex SHA-256 (64 characters) of `text`.
std::string sha256Hex(std::string_view text);

/// XXH64 (the xxHash 64-bit algorithm, written from its specification) of
/// `size` bytes at `data`. Not cryptographic: cache entries and bundles use it
/// as a fast checksum against truncation and bit rot, where SHA-256 would
/// dominate the time of a disk-cache hit.
uint64_t xxh64(const void *data, size_t size, uint64_t seed = 0);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_HASH_H

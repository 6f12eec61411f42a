//===- Philox.h - The dropout random stream of the SDPA kernels ---*- C++ -*-===//
//
// Part of attnjit. SDPA dropout draws from Philox4x32-10 (Salmon et al., SC'11).
// The stream is a function of (seed, offset, batch*num_heads + head, query row,
// key column) only, never of the kernel's tiling, so a host reference (and any
// later kernel) reproduces exactly which probabilities a kernel dropped. The
// GPU kernels compute the same function; this header is its definition.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_PHILOX_H
#define ATTNJIT_CORE_PHILOX_H

#include <array>
#include <cmath>
#include <cstdint>

namespace attnjit {

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

/// Ten rounds of Philox4x32 on `ctr` under `key`.
inline std::array<uint32_t, 4> philox4x32_10(std::array<uint32_t, 4> ctr,
                                             std::array<uint32_t, 2> key) {
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kPhiloxM0) * ctr[0];
    uint64_t p1 = uint64_t(kPhiloxM1) * ctr[2];
    ctr = {uint32_t(p1 >> 32) ^ ctr[1] ^ key[0], uint32_t(p1), uint32_t(p0 >> 32) ^ ctr[3] ^ key[1],
           uint32_t(p0)};
    key[0] += kPhiloxW0;
    key[1] += kPhiloxW1;
  }
  return ctr;
}

/// One Philox call covers a 2x2 block of scores: query rows i and i^8 (rows
/// paired within each 16-row group) times key columns j and j^1. Counter:
/// (j/2, i with bit 3 cleared, bh, low 32 bits of offset); key: (low 32 bits of
/// seed, high 32 bits of seed XOR high 32 bits of offset). Word (bit 3 of i)*2 +
/// (j & 1) is the element's.
inline uint32_t sdpaDropoutWord(uint64_t seed, uint64_t offset, uint32_t bh, uint32_t i,
                                uint32_t j) {
  std::array<uint32_t, 4> r =
      philox4x32_10({j >> 1, i & ~8u, bh, uint32_t(offset)},
                    {uint32_t(seed), uint32_t(seed >> 32) ^ uint32_t(offset >> 32)});
  return r[((i >> 3) & 1u) * 2 + (j & 1u)];
}

/// The keep threshold for drop probability p in [0, 1): a score is kept iff its
/// word is >= the threshold, which happens with probability 1 - p (to 2^-32).
inline uint32_t sdpaDropoutThreshold(double p) {
  double t = std::floor(p * 4294967296.0);
  return t >= 4294967295.0 ? 4294967295u : uint32_t(t);
}

} // namespace attnjit

#endif // ATTNJIT_CORE_PHILOX_H

//===- Float16.h - bf16 and f16 on the host ----------------------*- C++ -*-===//
//
// Part of attnjit. Host-side conversions between float and the 16-bit element
// types of attention tensors (round to nearest even; subnormals, infinities and
// NaN kept), for tools and tests that fill or read device tensors.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_FLOAT16_H
#define ATTNJIT_RUNTIME_FLOAT16_H

#include "attnjit/Core/AttentionSpec.h"

#include <cstdint>
#include <cstring>

namespace attnjit {

inline float bf16ToFloat(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Round to nearest even; NaN stays a (quiet) NaN.
inline uint16_t floatToBf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    u = sign;
  } else { // subnormal: normalize
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while (!(mant & 0x400u));
    u = sign | (uint32_t(112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// Round to nearest even, with subnormals, overflow to infinity and NaN kept.
inline uint16_t floatToHalf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  uint32_t abs = u & 0x7fffffffu;
  if (abs > 0x7f800000u)
    return sign | 0x7e00u;
  if (abs >= 0x477ff000u) // rounds to >= 65520: infinity
    return sign | 0x7c00u;
  if (abs < 0x38800000u) { // below the smallest normal half (2^-14)
    if (abs < 0x33000000u) // below half the smallest subnormal: zero
      return sign;
    uint32_t exp = abs >> 23, mant = (abs & 0x7fffffu) | 0x800000u;
    int shift = 126 - int(exp); // so that the result is in units of 2^-24
    uint32_t r = mant >> shift, rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1u)))
      ++r;
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t r = abs - 0x38000000u; // rebias 127 -> 15
  r += 0xfffu + ((r >> 13) & 1u);
  return sign | static_cast<uint16_t>(r >> 13);
}

inline float to16Float(uint16_t h, DType t) {
  return t == DType::BF16 ? bf16ToFloat(h) : halfToFloat(h);
}
inline uint16_t from16Float(float f, DType t) {
  return t == DType::BF16 ? floatToBf16(f) : floatToHalf(f);
}
/// `f` rounded to what a `t` tensor can hold.
inline float quantize(float f, DType t) { return to16Float(from16Float(f, t), t); }

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_FLOAT16_H

//===- GpuTestUtil.h - Helpers for the GPU tests -----------------*- C++ -*-===//
//
// Part of attnjit. Host-side pieces (16-bit float conversion, random data, a
// float64 attention reference, accuracy metrics, poison checks) work without a
// GPU and are unit-tested; device pieces (buffers, events, streams) need the
// driver. Nothing here depends on Catch2, so tools may include it too.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_TESTS_GPU_GPUTESTUTIL_H
#define ATTNJIT_TESTS_GPU_GPUTESTUTIL_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Float16.h"
#include "attnjit/Core/Philox.h"
#include "attnjit/Runtime/Tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace attnjit::gputest {

//===----------------------------------------------------------------------===//
// 16-bit floats on the host
//===----------------------------------------------------------------------===//

using attnjit::bf16ToFloat;
using attnjit::floatToBf16;
using attnjit::floatToHalf;
using attnjit::from16Float;
using attnjit::halfToFloat;
using attnjit::quantize;
using attnjit::to16Float;

inline std::vector<uint16_t> encode16(const std::vector<float> &x, DType t) {
  std::vector<uint16_t> r(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    r[i] = from16Float(x[i], t);
  return r;
}
inline std::vector<float> decode16(const std::vector<uint16_t> &x, DType t) {
  std::vector<float> r(x.size());
  for (size_t i = 0; i < x.size(); ++i)
    r[i] = to16Float(x[i], t);
  return r;
}

/// The host helpers below encode f16, bf16, f32 and bool; the Sage quantized
/// types (i8, f8e4m3) are no tensor dtype of these tests, and silently
/// treating them as 16-bit would overrun their buffers.
inline void requireHostEncoding(DType t, const char *what) {
  switch (t) {
  case DType::F16:
  case DType::BF16:
  case DType::F32:
  case DType::Bool: return;
  case DType::I8:
  case DType::F8E4M3: break;
  }
  std::fprintf(stderr, "%s: no host encoding for dtype %s\n", what,
               std::string(toString(t)).c_str());
  std::abort();
}

/// `x` rounded to what dtype `t` stores (f32: unchanged; bool: 0 or 1).
inline float quantizeTo(float x, DType t) {
  requireHostEncoding(t, "quantizeTo");
  switch (t) {
  case DType::F32: return x;
  case DType::Bool: return x != 0 ? 1.0f : 0.0f;
  default: return quantize(x, t);
  }
}
/// Host values as the bytes of a `t` tensor (f16, bf16, f32 or bool).
/// `v` rounded to `t` element by element (quantizeTo), so that a host
/// reference sees exactly the values the device reads.
inline std::vector<float> quantized(std::vector<float> v, DType t) {
  for (float &x : v)
    x = quantizeTo(x, t);
  return v;
}

inline std::vector<uint8_t> encodeBytes(const std::vector<float> &x, DType t) {
  requireHostEncoding(t, "encodeBytes");
  size_t n = x.size(), w = size_t(dtypeSize(t));
  std::vector<uint8_t> bytes(n * w);
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::Bool) {
      bytes[i] = x[i] != 0 ? 1 : 0;
    } else if (t == DType::F32) {
      std::memcpy(&bytes[i * 4], &x[i], 4);
    } else {
      uint16_t h = from16Float(x[i], t);
      std::memcpy(&bytes[i * 2], &h, 2);
    }
  }
  return bytes;
}
/// The bytes of a `t` tensor as floats (f16, bf16, f32 or bool).
inline std::vector<float> decodeBytes(const std::vector<uint8_t> &bytes, DType t) {
  requireHostEncoding(t, "decodeBytes");
  size_t w = size_t(dtypeSize(t)), n = bytes.size() / w;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) {
    if (t == DType::Bool) {
      x[i] = bytes[i] != 0 ? 1.0f : 0.0f;
    } else if (t == DType::F32) {
      std::memcpy(&x[i], &bytes[i * 4], 4);
    } else {
      uint16_t h;
      std::memcpy(&h, &bytes[i * 2], 2);
      x[i] = to16Float(h, t);
    }
  }
  return x;
}

//===----------------------------------------------------------------------===//
// Random data
//===----------------------------------------------------------------------===//

/// Shared memory of the largest f32 SDPA kernel in the config table (two bf16
/// planes per tile; sized for an A100's 163 KB). Only a device with less opt-in
/// shared memory may report f32 kernels Unsupported; anywhere else that is a
/// failure.
inline constexpr int kF32SdpaSharedMemBytes = 131072;
inline bool f32SdpaMayNotFit(int device) {
  return deviceInfo(device).maxSharedMemPerBlockOptin < kF32SdpaSharedMemBytes;
}

/// Normal(mean, stddev) values, deterministic for a seed.
inline std::vector<float> randomNormal(size_t n, uint64_t seed, float stddev = 1.0f,
                                       float mean = 0.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> dist(mean, stddev);
  std::vector<float> r(n);
  for (float &x : r)
    x = dist(gen);
  return r;
}

/// Uniform[lo, hi) values, deterministic for a seed.
inline std::vector<float> randomUniform(size_t n, uint64_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> r(n);
  for (float &x : r)
    x = dist(gen);
  return r;
}

//===----------------------------------------------------------------------===//
// float64 reference attention
//===----------------------------------------------------------------------===//

struct AttnShape {
  int64_t batch = 1, heads = 1, kvHeads = 1, seqQ = 1, seqK = 1, headDim = 64;
  bool causal = false;
  double scale = 0; ///< 0: 1/sqrt(headDim)

  double effectiveScale() const { return scale != 0 ? scale : 1.0 / std::sqrt(double(headDim)); }
  int64_t qElems() const { return batch * seqQ * heads * headDim; }
  int64_t kvElems() const { return batch * seqK * kvHeads * headDim; }
  std::string str() const {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "B=%lld H=%lld Hkv=%lld Sq=%lld Sk=%lld D=%lld%s",
                  (long long)batch, (long long)heads, (long long)kvHeads, (long long)seqQ,
                  (long long)seqK, (long long)headDim, causal ? " causal" : "");
    return buf;
  }
};

/// Causal visibility aligned bottom-right (FlashAttention-2): key j is visible
/// to query i iff j <= i + Sk - Sq.
inline bool causalVisible(int64_t i, int64_t j, int64_t seqQ, int64_t seqK) {
  return j <= i + seqK - seqQ;
}

/// Per-score hooks of the float64 reference, called with (b, h, i, j): batch,
/// query head, query row, key column. An empty hook is the identity.
struct ScoreHooks {
  using Fn = std::function<double(int64_t b, int64_t h, int64_t i, int64_t j)>;
  /// Added to the scaled score: 0, a mask value, or -infinity to hide the key.
  Fn bias;
  /// Multiplies the normalized probability (after softmax): dropout's
  /// keep / (1 - p). The normalizer (and lse) counts every visible key.
  Fn weight;
};

/// Reference attention in float64 with per-score hooks (s.causal is ignored:
/// masking is the hooks' business). q [B, Sq, H, D], k and v [B, Sk, Hkv, D],
/// all contiguous BSHD; writes out [B, Sq, H, D] and, when given, lse
/// [B, H, Sq] (natural log of the sum of exp(scores)). Query head h reads
/// key/value head h / (H / Hkv). A row with no visible key (every score
/// -infinity) gives 0 in out and -infinity in lse (the log of an empty sum).
inline void referenceAttentionWith(const AttnShape &s, const float *q, const float *k,
                                   const float *v, const ScoreHooks &hooks,
                                   std::vector<double> &out, std::vector<double> *lse = nullptr) {
  constexpr double kNegInf = -std::numeric_limits<double>::infinity();
  const int64_t B = s.batch, H = s.heads, Hkv = s.kvHeads, Sq = s.seqQ, Sk = s.seqK, D = s.headDim,
                ratio = H / Hkv;
  const double scale = s.effectiveScale();
  out.assign(size_t(B * Sq * H * D), 0.0);
  if (lse)
    lse->assign(size_t(B * H * Sq), kNegInf);
  std::vector<double> scores(static_cast<size_t>(Sk)), acc(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / ratio;
      for (int64_t i = 0; i < Sq; ++i) {
        const float *qi = q + ((b * Sq + i) * H + h) * D;
        double mx = kNegInf;
        for (int64_t j = 0; j < Sk; ++j) {
          double bias = hooks.bias ? hooks.bias(b, h, i, j) : 0.0;
          double &sc = scores[size_t(j)];
          sc = kNegInf;
          if (bias == kNegInf)
            continue;
          const float *kj = k + ((b * Sk + j) * Hkv + hk) * D;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += double(qi[d]) * double(kj[d]);
          sc = dot * scale + bias;
          mx = std::max(mx, sc);
        }
        double *o = out.data() + ((b * Sq + i) * H + h) * D;
        if (mx == kNegInf)
          continue; // no visible key
        double sum = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = 0; j < Sk; ++j) {
          if (scores[size_t(j)] == kNegInf)
            continue;
          double p = std::exp(scores[size_t(j)] - mx);
          sum += p;
          double w = hooks.weight ? p * hooks.weight(b, h, i, j) : p;
          if (w == 0)
            continue;
          const float *vj = v + ((b * Sk + j) * Hkv + hk) * D;
          for (int64_t d = 0; d < D; ++d)
            acc[size_t(d)] += w * double(vj[d]);
        }
        for (int64_t d = 0; d < D; ++d)
          o[d] = acc[size_t(d)] / sum;
        if (lse)
          (*lse)[size_t((b * H + h) * Sq + i)] = mx + std::log(sum);
      }
    }
}

/// Flash attention in float64: referenceAttentionWith() with the bottom-right
/// causal mask when s.causal.
inline void referenceAttention(const AttnShape &s, const float *q, const float *k, const float *v,
                               std::vector<double> &out, std::vector<double> *lse = nullptr) {
  ScoreHooks hooks;
  if (s.causal)
    hooks.bias = [&s](int64_t, int64_t, int64_t i, int64_t j) {
      return causalVisible(i, j, s.seqQ, s.seqK) ? 0.0 : -std::numeric_limits<double>::infinity();
    };
  referenceAttentionWith(s, q, k, v, hooks, out, lse);
}

//===----------------------------------------------------------------------===//
// float64 reference SDPA (masks, top-left causal, dropout)
//===----------------------------------------------------------------------===//

/// PyTorch's is_causal for SDPA is aligned top-left: key j is visible to query
/// i iff j <= i, whatever Sq and Sk.
inline bool causalVisibleTopLeft(int64_t i, int64_t j) { return j <= i; }

/// A mask as the reference reads it: one value per stored element, at
/// b*strides[0] + h*strides[1] + i*strides[2] + j*strides[3] (0 strides
/// broadcast). Bool masks hold 0 (masked out) or 1; additive masks hold the
/// values the kernel sees (already rounded to the mask's dtype).
struct HostMask {
  MaskKind kind = MaskKind::None;
  std::vector<float> values;
  int64_t strides[4] = {0, 0, 0, 0}; ///< batch, head, query row, key column

  double bias(int64_t b, int64_t h, int64_t i, int64_t j) const {
    float x = values[size_t(b * strides[0] + h * strides[1] + i * strides[2] + j * strides[3])];
    if (kind == MaskKind::Bool)
      return x != 0 ? 0.0 : -std::numeric_limits<double>::infinity();
    return double(x);
  }
};

/// Dropout as the SDPA kernels apply it (Philox.h).
struct HostDropout {
  double p = 0;
  uint64_t seed = 0, offset = 0;

  /// Whether probability (b, h, i, j) of a problem with H query heads is kept.
  bool keep(int64_t b, int64_t h, int64_t i, int64_t j, int64_t H) const {
    return sdpaDropoutWord(seed, offset, uint32_t(b * H + h), uint32_t(i), uint32_t(j)) >=
           sdpaDropoutThreshold(p);
  }
};

/// What the SDPA reference computes: s.causal means top-left causal here.
struct SdpaReference {
  AttnShape shape;
  const HostMask *mask = nullptr; ///< null: no mask
  HostDropout dropout;            ///< p == 0: none

  /// out = dropout(softmax(q k^T * scale + mask [causal])) v, fully masked
  /// rows 0; inputs contiguous BSHD.
  std::vector<double> run(const float *q, const float *k, const float *v) const {
    ScoreHooks hooks;
    const AttnShape &s = shape;
    const HostMask *m = mask && mask->kind != MaskKind::None ? mask : nullptr;
    if (s.causal || m)
      hooks.bias = [&s, m](int64_t b, int64_t h, int64_t i, int64_t j) {
        if (s.causal && !causalVisibleTopLeft(i, j))
          return -std::numeric_limits<double>::infinity();
        return m ? m->bias(b, h, i, j) : 0.0;
      };
    if (dropout.p > 0) {
      double scale = 1.0 / (1.0 - dropout.p);
      const HostDropout &dr = dropout;
      hooks.weight = [&dr, &s, scale](int64_t b, int64_t h, int64_t i, int64_t j) {
        return dr.keep(b, h, i, j, s.heads) ? scale : 0.0;
      };
    }
    std::vector<double> out;
    referenceAttentionWith(s, q, k, v, hooks, out);
    return out;
  }
};

//===----------------------------------------------------------------------===//
// Accuracy metrics
//===----------------------------------------------------------------------===//

struct Accuracy {
  double relativeL2 = 0; ///< ||got - ref|| / ||ref||
  double cosine = 1;     ///< <got, ref> / (||got|| ||ref||)
  double maxAbsError = 0;
  int64_t nonFinite = 0; ///< NaN or infinite values in got
  std::string str() const {
    char buf[160];
    std::snprintf(buf, sizeof(buf), "rel_l2=%.3e cosine=%.6f max_abs=%.3e non_finite=%lld",
                  relativeL2, cosine, maxAbsError, (long long)nonFinite);
    return buf;
  }
};

/// Compares `got` with the float64 reference. An all-zero reference gives
/// relativeL2 = ||got|| and cosine 1 when got is all zero too.
template <typename T>
Accuracy compareToReference(const std::vector<double> &ref, const std::vector<T> &got) {
  Accuracy a;
  double diff2 = 0, ref2 = 0, got2 = 0, dot = 0;
  size_t n = std::min(ref.size(), got.size());
  for (size_t i = 0; i < n; ++i) {
    double g = double(got[i]), r = ref[i];
    if (!std::isfinite(g)) {
      ++a.nonFinite;
      continue;
    }
    double d = g - r;
    diff2 += d * d;
    ref2 += r * r;
    got2 += g * g;
    dot += g * r;
    a.maxAbsError = std::max(a.maxAbsError, std::fabs(d));
  }
  a.relativeL2 = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  a.cosine = (ref2 > 0 && got2 > 0) ? dot / std::sqrt(ref2 * got2) : (ref2 == got2 ? 1.0 : 0.0);
  if (ref.size() != got.size() || a.nonFinite)
    a.cosine = std::min(a.cosine, 0.0); // never let a short or NaN output pass
  return a;
}

/// Relative L2 error of `got` against `ref`.
template <typename T> double relativeL2(const std::vector<double> &ref, const std::vector<T> &got) {
  return compareToReference(ref, got).relativeL2;
}
/// Cosine similarity of `got` and `ref`.
template <typename T>
double cosineSimilarity(const std::vector<double> &ref, const std::vector<T> &got) {
  return compareToReference(ref, got).cosine;
}

//===----------------------------------------------------------------------===//
// Poison: prove that every output element was written
//===----------------------------------------------------------------------===//

/// 0xFFFF is a NaN in both f16 and bf16 with every payload bit set, a value no
/// arithmetic produces (hardware NaNs are canonical: 0x7FFF / 0x7E00).
inline constexpr uint16_t kPoison16 = 0xFFFF;
/// The fp32 counterpart (all bits set), for lse buffers.
inline constexpr uint32_t kPoison32 = 0xFFFFFFFFu;
inline constexpr unsigned char kPoisonByte = 0xFF;

/// Index of the first element still holding the poison pattern, -1 if none.
inline int64_t firstUnwritten(const std::vector<uint16_t> &data) {
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i] == kPoison16)
      return int64_t(i);
  return -1;
}
inline int64_t firstUnwritten(const std::vector<uint32_t> &data) {
  for (size_t i = 0; i < data.size(); ++i)
    if (data[i] == kPoison32)
      return int64_t(i);
  return -1;
}
/// Number of `t` elements of `bytes` still holding the poison pattern (every
/// byte kPoisonByte: a NaN in f16, bf16 and f32).
inline int64_t countUnwrittenBytes(const std::vector<uint8_t> &bytes, DType t) {
  size_t w = size_t(dtypeSize(t));
  int64_t n = 0;
  for (size_t i = 0; i + w <= bytes.size(); i += w)
    n += std::all_of(bytes.begin() + long(i), bytes.begin() + long(i + w),
                     [](uint8_t b) { return b == kPoisonByte; });
  return n;
}
/// Number of elements still holding the poison pattern.
template <typename T> int64_t countUnwritten(const std::vector<T> &data) {
  T p = sizeof(T) == 2 ? T(kPoison16) : T(kPoison32);
  return int64_t(std::count(data.begin(), data.end(), p));
}
/// Index of the first element of `data` outside `[begin, end)` (element
/// offsets) that is *not* poison: a write out of bounds. -1 if none.
template <typename T>
int64_t firstWriteOutside(const std::vector<T> &data, size_t begin, size_t end) {
  T p = sizeof(T) == 2 ? T(kPoison16) : T(kPoison32);
  for (size_t i = 0; i < data.size(); ++i)
    if ((i < begin || i >= end) && data[i] != p)
      return int64_t(i);
  return -1;
}

//===----------------------------------------------------------------------===//
// Device helpers (need the driver and a current context)
//===----------------------------------------------------------------------===//

/// Uploads `host` into a new buffer.
template <typename T> DeviceBuffer upload(const std::vector<T> &host) {
  DeviceBuffer b(host.size() * sizeof(T));
  b.copyFromHost(host.data(), host.size() * sizeof(T));
  return b;
}
/// Downloads `count` elements (all of the buffer when count is 0).
template <typename T> std::vector<T> download(const DeviceBuffer &b, size_t count = 0) {
  if (!count)
    count = b.size() / sizeof(T);
  std::vector<T> host(count);
  b.copyToHost(host.data(), count * sizeof(T));
  return host;
}
/// A buffer of `bytes` filled with the poison pattern.
inline DeviceBuffer poisonedBuffer(size_t bytes) {
  DeviceBuffer b(bytes);
  b.fill(kPoisonByte);
  return b;
}
/// A view of `b` (contiguous when strides are empty).
inline TensorView viewOf(const DeviceBuffer &b, DType t, const std::vector<int64_t> &shape,
                         const std::vector<int64_t> &strides = {}, int device = 0) {
  return TensorView(b.data(), t, shape, strides, device);
}

/// Random BSHD q/k/v quantized to `t`, uploaded, and an output buffer
/// poisoned. hq/hk/hv hold the exact (quantized) values the GPU sees, so the
/// reference differs from the kernel only by the kernel's own rounding.
struct AttentionInputs {
  AttnShape shape;
  DType dtype = DType::BF16;
  std::vector<float> hq, hk, hv;
  DeviceBuffer q, k, v, out;

  TensorView qView() const {
    return viewOf(q, dtype, {shape.batch, shape.seqQ, shape.heads, shape.headDim});
  }
  TensorView kView() const {
    return viewOf(k, dtype, {shape.batch, shape.seqK, shape.kvHeads, shape.headDim});
  }
  TensorView vView() const {
    return viewOf(v, dtype, {shape.batch, shape.seqK, shape.kvHeads, shape.headDim});
  }
  TensorView outView() const {
    return viewOf(out, dtype, {shape.batch, shape.seqQ, shape.heads, shape.headDim});
  }
  /// The output as floats.
  std::vector<float> outHost() const { return decode16(download<uint16_t>(out), dtype); }
  /// The float64 reference for these inputs.
  std::vector<double> reference(std::vector<double> *lse = nullptr) const {
    std::vector<double> r;
    referenceAttention(shape, hq.data(), hk.data(), hv.data(), r, lse);
    return r;
  }
};

inline AttentionInputs makeAttentionInputs(const AttnShape &s, DType t, uint64_t seed) {
  AttentionInputs in;
  in.shape = s;
  in.dtype = t;
  auto gen = [&](int64_t n, uint64_t sd) {
    std::vector<float> x = randomNormal(size_t(n), sd);
    for (float &f : x)
      f = quantize(f, t);
    return x;
  };
  in.hq = gen(s.qElems(), seed * 3 + 1);
  in.hk = gen(s.kvElems(), seed * 3 + 2);
  in.hv = gen(s.kvElems(), seed * 3 + 3);
  in.q = upload(encode16(in.hq, t));
  in.k = upload(encode16(in.hk, t));
  in.v = upload(encode16(in.hv, t));
  in.out = poisonedBuffer(size_t(s.qElems()) * 2);
  return in;
}

/// A stream created with CU_STREAM_NON_BLOCKING in the current context.
class Stream {
public:
  Stream() {
    CudaDriver &drv = CudaDriver::get();
    drv.check(drv.cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING), "cuStreamCreate");
  }
  ~Stream() {
    if (stream_)
      CudaDriver::get().cuStreamDestroy(stream_);
  }
  Stream(const Stream &) = delete;
  Stream &operator=(const Stream &) = delete;
  CUstream get() const { return stream_; }
  operator CUstream() const { return stream_; }
  void sync() const {
    CudaDriver &drv = CudaDriver::get();
    drv.check(drv.cuStreamSynchronize(stream_), "cuStreamSynchronize");
  }

private:
  CUstream stream_ = nullptr;
};

/// Attention FLOPs, 4·B·H·Sq·Sk·D, halved when causal.
inline double attentionFlops(const AttnShape &s) {
  double f =
      4.0 * double(s.batch) * double(s.heads) * double(s.seqQ) * double(s.seqK) * double(s.headDim);
  return s.causal ? f / 2 : f;
}

} // namespace attnjit::gputest

#endif // ATTNJIT_TESTS_GPU_GPUTESTUTIL_H

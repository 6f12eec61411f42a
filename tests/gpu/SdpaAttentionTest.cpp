//===- SdpaAttentionTest.cpp - sdpaAttention vs a float64 reference -------===//
//
// Part of attnjit. Head sizes 1..256 (padded in the kernel), f16/bf16/f32, no
// mask, bool and additive masks of every form ([B,Sk], [B,Sq,Sk], [B,H,Sq,Sk],
// broadcast and expanded views), top-left causal alone and with a mask, GQA,
// BSHD/BHSD/fused-qkv layouts, Sq != Sk, lengths 1..300, and dropout: every
// case against SdpaReference (float64) on fresh random inputs, with the output
// poisoned first. Fully masked rows must be exactly 0. Dropout must be
// deterministic per (seed, offset), drop exactly the Philox-chosen
// probabilities, and keep 1 - p of them.
//
//===----------------------------------------------------------------------===//
#include "GpuTestUtil.h"

#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <random>
#include <set>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

enum class Place { BSHD, BHSDView, BHSDLayout, FusedQKV };
enum class MaskForm { None, KeyPad, Rows, Full, BcastBatch, BcastHeads, ExpandedKeyPad };

const char *placeName(Place p) {
  switch (p) {
  case Place::BSHD: return "bshd";
  case Place::BHSDView: return "bhsd-view";
  case Place::BHSDLayout: return "Layout::BHSD";
  case Place::FusedQKV: return "fused-qkv";
  }
  return "?";
}

const char *formName(MaskForm f) {
  switch (f) {
  case MaskForm::None: return "none";
  case MaskForm::KeyPad: return "[B,Sk]";
  case MaskForm::Rows: return "[B,Sq,Sk]";
  case MaskForm::Full: return "[B,H,Sq,Sk]";
  case MaskForm::BcastBatch: return "[1,Sq,Sk]";
  case MaskForm::BcastHeads: return "[B,1,Sq,Sk]";
  case MaskForm::ExpandedKeyPad: return "[B,Sq,Sk] row stride 0";
  }
  return "?";
}

uint64_t freshSeed() {
  static std::mt19937_64 gen(std::random_device{}());
  return gen();
}

/// One run: shape, dtype, layout, mask and dropout.
struct Case {
  int64_t headDim;
  DType dtype;
  int64_t seqQ, seqK, ratio;
  Place place;
  bool causal;
  MaskForm form;
  MaskKind kind;
  double dropoutP = 0;

  std::string str() const {
    return fmt::format("d{} {} Sq={} Sk={} gqa={} {} causal={} mask={} {} p={}", headDim,
                       toString(dtype), seqQ, seqK, ratio, placeName(place), causal,
                       formName(form), toString(kind), dropoutP);
  }
};

/// Writes the rows of BSHD host values `src` [B, S, Hn, D] as dtype `t` into
/// `dst` at element offset `base`, with (batch, seq, head) strides `st`.
void scatterRows(std::vector<uint8_t> &dst, const std::vector<float> &src, DType t,
                 const int64_t dims[4], const int64_t st[3], int64_t base) {
  std::vector<uint8_t> enc = encodeBytes(src, t);
  const int64_t S = dims[1], Hn = dims[2], D = dims[3], w = dtypeSize(t);
  for (int64_t row = 0; row < dims[0] * S * Hn; ++row) {
    int64_t b = row / (S * Hn), s = row / Hn % S, h = row % Hn;
    std::memcpy(&dst[size_t((base + b * st[0] + s * st[1] + h * st[2]) * w)],
                &enc[size_t(row * D * w)], size_t(D * w));
  }
}

/// The inverse: BSHD floats from a strided tensor's bytes.
std::vector<float> gatherRows(const std::vector<uint8_t> &bytes, DType t, const int64_t dims[4],
                              const int64_t st[3]) {
  const int64_t S = dims[1], Hn = dims[2], D = dims[3], w = dtypeSize(t);
  std::vector<uint8_t> packed(size_t(dims[0] * S * Hn * D * w));
  for (int64_t row = 0; row < dims[0] * S * Hn; ++row) {
    int64_t b = row / (S * Hn), s = row / Hn % S, h = row % Hn;
    std::memcpy(&packed[size_t(row * D * w)], &bytes[size_t((b * st[0] + s * st[1] + h * st[2]) * w)],
                size_t(D * w));
  }
  return decodeBytes(packed, t);
}

/// A case with its host data, device tensors, options and reference.
struct Prepared {
  Case c;
  AttnShape shape;
  std::vector<float> hq, hk, hv;
  HostMask mask;
  DeviceBuffer qBuf, kBuf, vBuf, outBuf, maskBuf;
  TensorView q, k, v, out; ///< as passed (BHSD order for Place::BHSDLayout)
  int64_t outStrides[3];   ///< out's (batch, seq, head) strides
  SdpaOptions opts;
  AttentionSpec spec;
  std::future<std::vector<double>> reference;

  /// Whether every key of row (b, h, i) is hidden by the mask or causality.
  bool rowHidden(int64_t b, int64_t h, int64_t i) const {
    for (int64_t j = 0; j < shape.seqK; ++j) {
      bool causalHidden = shape.causal && !causalVisibleTopLeft(i, j);
      bool maskHidden = mask.kind != MaskKind::None &&
                        mask.bias(b, h, i, j) == -std::numeric_limits<double>::infinity();
      if (!causalHidden && !maskHidden)
        return false;
    }
    return true;
  }
};

/// Mask values for logical element (b, h, i, j), by form: key padding hides a
/// per-batch tail of keys; the other forms hide random scores and every row
/// i % 5 == 2 entirely. Additive masks add small values to visible scores.
float maskValue(const Case &c, std::mt19937_64 &gen, int64_t b, int64_t i, int64_t j) {
  bool keyOnly = c.form == MaskForm::KeyPad || c.form == MaskForm::ExpandedKeyPad;
  bool visible;
  if (keyOnly) {
    int64_t valid = std::max<int64_t>(1, c.seqK - (b + 1) * c.seqK / 8);
    visible = j < valid;
  } else {
    visible = i % 5 != 2 && std::uniform_real_distribution<double>(0, 1)(gen) >= 0.25;
  }
  if (c.kind == MaskKind::Bool)
    return visible ? 1.0f : 0.0f;
  if (!visible)
    return -std::numeric_limits<float>::infinity();
  return quantizeTo(std::uniform_real_distribution<float>(-2.0f, 2.0f)(gen), c.dtype);
}

/// Builds the mask tensor of the case's form (stored contiguously in its own
/// shape, except the expanded view) and the host copy the reference reads.
void prepareMask(Prepared &p, uint64_t seed) {
  const Case &c = p.c;
  const AttnShape &s = p.shape;
  if (c.form == MaskForm::None)
    return;
  const int64_t B = s.batch, H = s.heads, Sq = s.seqQ, Sk = s.seqK;
  // Stored dims in (batch, head, row, col) order; 1 where the form broadcasts.
  int64_t dims[4] = {B, 1, 1, Sk};
  std::vector<int64_t> shape, strides;
  switch (c.form) {
  case MaskForm::KeyPad: shape = {B, Sk}; break;
  case MaskForm::Rows: dims[2] = Sq, shape = {B, Sq, Sk}; break;
  case MaskForm::Full: dims[1] = H, dims[2] = Sq, shape = {B, H, Sq, Sk}; break;
  case MaskForm::BcastBatch: dims[0] = 1, dims[2] = Sq, shape = {1, Sq, Sk}; break;
  case MaskForm::BcastHeads: dims[2] = Sq, shape = {B, 1, Sq, Sk}; break;
  case MaskForm::ExpandedKeyPad: shape = {B, Sq, Sk}, strides = {Sk, 0, 1}; break;
  case MaskForm::None: break;
  }
  p.mask.kind = c.kind;
  p.mask.strides[3] = 1;
  p.mask.strides[2] = dims[2] > 1 ? Sk : 0;
  p.mask.strides[1] = dims[1] > 1 ? dims[2] * Sk : 0;
  p.mask.strides[0] = dims[0] > 1 ? dims[1] * dims[2] * Sk : 0;
  std::mt19937_64 gen(seed);
  p.mask.values.resize(size_t(dims[0] * dims[1] * dims[2] * Sk));
  for (int64_t b = 0; b < dims[0]; ++b)
    for (int64_t h = 0; h < dims[1]; ++h)
      for (int64_t i = 0; i < dims[2]; ++i)
        for (int64_t j = 0; j < Sk; ++j)
          p.mask.values[size_t(b * p.mask.strides[0] + h * p.mask.strides[1] +
                               i * p.mask.strides[2] + j)] = maskValue(c, gen, b, i, j);
  DType maskType = c.kind == MaskKind::Bool ? DType::Bool : c.dtype;
  p.maskBuf = upload(encodeBytes(p.mask.values, maskType));
  p.opts.mask = TensorView(p.maskBuf.data(), maskType, shape, strides);
}

std::unique_ptr<Prepared> prepare(const Case &c) {
  auto p = std::make_unique<Prepared>();
  p->c = c;
  AttnShape &s = p->shape;
  s.headDim = c.headDim;
  s.kvHeads = c.ratio == 1 ? 2 : 1;
  s.heads = s.kvHeads * c.ratio;
  s.batch = 2;
  s.seqQ = c.seqQ;
  s.seqK = c.seqK;
  s.causal = c.causal; // top-left in SdpaReference
  uint64_t seed = freshSeed();
  auto gen = [&](int64_t n, uint64_t sd) {
    std::vector<float> x = randomNormal(size_t(n), sd);
    for (float &f : x)
      f = quantizeTo(f, c.dtype);
    return x;
  };
  p->hq = gen(s.qElems(), seed + 1);
  p->hk = gen(s.kvElems(), seed + 2);
  p->hv = gen(s.kvElems(), seed + 3);

  const int64_t B = s.batch, H = s.heads, Hk = s.kvHeads, Sq = s.seqQ, Sk = s.seqK,
                D = s.headDim, w = dtypeSize(c.dtype);
  const int64_t qDims[4] = {B, Sq, H, D}, kDims[4] = {B, Sk, Hk, D};
  bool bhsd = c.place == Place::BHSDView || c.place == Place::BHSDLayout;
  int64_t qSt[3] = {Sq * H * D, H * D, D}, kSt[3] = {Sk * Hk * D, Hk * D, D};
  if (bhsd) {
    int64_t qb[3] = {H * Sq * D, D, Sq * D}, kb[3] = {Hk * Sk * D, D, Sk * D};
    std::copy(qb, qb + 3, qSt);
    std::copy(kb, kb + 3, kSt);
  }
  std::copy(qSt, qSt + 3, p->outStrides);
  auto bshdView = [&](void *data, const int64_t dims[4], const int64_t st[3]) {
    return TensorView(data, c.dtype, {dims[0], dims[1], dims[2], dims[3]}, {st[0], st[1], st[2], 1});
  };
  if (c.place == Place::FusedQKV) {
    // One [B, S, H + 2 Hk, D] tensor; q, k and v are head slices of it.
    REQUIRE(Sq == Sk);
    int64_t Ht = H + 2 * Hk, st[3] = {Sq * Ht * D, Ht * D, D};
    std::vector<uint8_t> fused(size_t(B * Sq * Ht * D * w), 0);
    scatterRows(fused, p->hq, c.dtype, qDims, st, 0);
    scatterRows(fused, p->hk, c.dtype, kDims, st, H * D);
    scatterRows(fused, p->hv, c.dtype, kDims, st, (H + Hk) * D);
    p->qBuf = upload(fused);
    char *base = static_cast<char *>(p->qBuf.data());
    p->q = bshdView(base, qDims, st);
    p->k = bshdView(base + H * D * w, kDims, st);
    p->v = bshdView(base + (H + Hk) * D * w, kDims, st);
  } else {
    std::vector<uint8_t> qb(size_t(s.qElems() * w)), kb(size_t(s.kvElems() * w)), vb(kb.size());
    scatterRows(qb, p->hq, c.dtype, qDims, qSt, 0);
    scatterRows(kb, p->hk, c.dtype, kDims, kSt, 0);
    scatterRows(vb, p->hv, c.dtype, kDims, kSt, 0);
    p->qBuf = upload(qb);
    p->kBuf = upload(kb);
    p->vBuf = upload(vb);
    p->q = bshdView(p->qBuf.data(), qDims, qSt);
    p->k = bshdView(p->kBuf.data(), kDims, kSt);
    p->v = bshdView(p->vBuf.data(), kDims, kSt);
  }
  p->outBuf = poisonedBuffer(size_t(s.qElems() * w));
  p->out = bshdView(p->outBuf.data(), qDims, p->outStrides);

  p->opts.causal = c.causal;
  p->opts.dropoutP = float(c.dropoutP);
  p->opts.seed = seed;
  p->opts.offset = seed >> 40;
  prepareMask(*p, seed + 4);
  p->spec = makeSdpaSpec(p->q, p->opts);
  if (c.place == Place::BHSDLayout) // pass the BHSD tensors as such
    for (TensorView *t : {&p->q, &p->k, &p->v, &p->out})
      *t = t->permute({0, 2, 1, 3});
  return p;
}

void launch(const Prepared &p, CUstream stream) {
  if (p.c.place == Place::BHSDLayout)
    sdpaAttention(p.q, p.k, p.v, p.out, Layout::BHSD, p.opts, stream);
  else
    sdpaAttention(p.q, p.k, p.v, p.out, p.opts, stream);
}

double tolerance(DType t) {
  switch (t) {
  case DType::BF16: return 1e-2;
  case DType::F16: return 2e-3;
  default: return 1e-4; // f32: bf16 hi/lo planes, three MMAs per product (~1e-5)
  }
}

/// Loads every distinct spec in parallel (compiling through the JIT on a
/// miss); returns the errors by canonical spec.
std::map<std::string, Error> warmKernels(const std::vector<std::unique_ptr<Prepared>> &cases) {
  std::map<std::string, AttentionSpec> specs;
  for (const auto &p : cases)
    specs.emplace(p->spec.canonical(), p->spec);
  auto t0 = std::chrono::steady_clock::now();
  CUcontext ctx = currentOrPrimaryContext(0);
  std::vector<std::pair<std::string, std::future<void>>> jobs;
  for (const auto &[key, spec] : specs)
    jobs.emplace_back(key, std::async(std::launch::async, [spec = spec, ctx] {
                        CudaDriver::get().cuCtxSetCurrent(ctx);
                        KernelRuntime::instance().getKernel(spec);
                      }));
  std::map<std::string, Error> errors;
  for (auto &[key, job] : jobs) {
    try {
      job.get();
    } catch (const Error &e) {
      errors.emplace(key, e);
    }
  }
  std::printf("sdpa: loaded %zu kernels in %.1f s (%zu failed)\n", specs.size(),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
              errors.size());
  return errors;
}

} // namespace

TEST_CASE("sdpa kernels match a float64 reference", "[gpu][sdpa]") {
  struct Template {
    int64_t seqQ, seqK, ratio;
    Place place;
    bool causal;
    MaskForm form;
    MaskKind kind;
    double dropoutP;
  };
  const Template templates[] = {
      {1, 1, 1, Place::BSHD, false, MaskForm::None, MaskKind::None, 0},
      {17, 17, 4, Place::BHSDView, true, MaskForm::None, MaskKind::None, 0},
      {128, 128, 1, Place::FusedQKV, false, MaskForm::KeyPad, MaskKind::Bool, 0},
      {129, 300, 4, Place::BSHD, false, MaskForm::Rows, MaskKind::Additive, 0},
      {300, 129, 1, Place::BHSDLayout, true, MaskForm::Full, MaskKind::Bool, 0},
      {17, 129, 4, Place::BSHD, true, MaskForm::BcastBatch, MaskKind::Additive, 0},
      {129, 17, 1, Place::BHSDView, false, MaskForm::BcastHeads, MaskKind::Bool, 0},
      {128, 300, 4, Place::BHSDLayout, false, MaskForm::KeyPad, MaskKind::Additive, 0},
      {129, 129, 1, Place::FusedQKV, true, MaskForm::Full, MaskKind::Additive, 0},
      {17, 300, 1, Place::BSHD, true, MaskForm::Rows, MaskKind::Bool, 0},
      {300, 128, 4, Place::BSHD, false, MaskForm::ExpandedKeyPad, MaskKind::Bool, 0},
      {1, 300, 4, Place::BHSDView, true, MaskForm::BcastHeads, MaskKind::Additive, 0},
      {129, 128, 1, Place::BSHD, true, MaskForm::KeyPad, MaskKind::Bool, 0.1},
      {128, 128, 4, Place::FusedQKV, false, MaskForm::None, MaskKind::None, 0.2},
      {300, 300, 4, Place::BHSDLayout, true, MaskForm::BcastBatch, MaskKind::Bool, 0},
  };
  constexpr size_t kTemplates = sizeof(templates) / sizeof(templates[0]);
  const int64_t headDims[] = {1, 8, 33, 40, 64, 80, 96, 128, 200, 256};
  std::vector<Case> plan;
  auto add = [&](int64_t d, DType t, const Template &tp) {
    plan.push_back({d, t, tp.seqQ, tp.seqK, tp.ratio, tp.place, tp.causal, tp.form, tp.kind,
                    tp.dropoutP});
  };
  // Each (head size, dtype) runs 6 templates; the rotation (7 is prime to the
  // template count) covers every template with every few head sizes.
  size_t pair = 0;
  for (int64_t d : headDims)
    for (DType t : {DType::BF16, DType::F16}) {
      for (size_t j = 0; j < 6; ++j)
        add(d, t, templates[(pair * 7 + j * 2) % kTemplates]);
      ++pair;
    }
  for (int64_t d : {8, 33, 64, 128})
    for (size_t j = 0; j < 3; ++j)
      add(d, DType::F32, templates[(size_t(d) + j * 4) % kTemplates]);

  std::vector<std::unique_ptr<Prepared>> cases;
  for (const Case &c : plan)
    cases.push_back(prepare(c));
  for (auto &p : cases) {
    const Prepared *pp = p.get();
    p->reference = std::async(std::launch::async, [pp] {
      SdpaReference ref;
      ref.shape = pp->shape;
      ref.mask = &pp->mask;
      ref.dropout = {pp->c.dropoutP, pp->opts.seed, pp->opts.offset};
      return ref.run(pp->hq.data(), pp->hk.data(), pp->hv.data());
    });
  }
  std::map<std::string, Error> loadErrors = warmKernels(cases);

  Stream stream;
  int runs = 0, skippedF32 = 0;
  std::map<DType, double> worstRelL2;
  for (auto &p : cases) {
    const Case &c = p->c;
    std::vector<double> ref = p->reference.get();
    INFO(p->spec.kernelName() << ": " << c.str());
    auto err = loadErrors.find(p->spec.canonical());
    if (err != loadErrors.end()) {
      if (c.dtype == DType::F32 && err->second.kind() == ErrorKind::Unsupported &&
          f32SdpaMayNotFit(0)) {
        if (skippedF32++ == 0)
          WARN("f32 sdpa kernels do not fit this device's shared memory, skipping f32 cases: "
               << err->second.what());
        continue;
      }
      FAIL_CHECK("loading the kernel failed: " << err->second.what());
      continue;
    }
    launch(*p, stream);
    stream.sync();
    const AttnShape &s = p->shape;
    std::vector<uint8_t> raw = download<uint8_t>(p->outBuf);
    const int64_t dims[4] = {s.batch, s.seqQ, s.heads, s.headDim};
    std::vector<float> got = gatherRows(raw, c.dtype, dims, p->outStrides);
    Accuracy acc = compareToReference(ref, got);
    INFO(acc.str());
    CHECK(countUnwrittenBytes(raw, c.dtype) == 0);
    CHECK(acc.nonFinite == 0);
    CHECK(acc.relativeL2 <= tolerance(c.dtype));
    worstRelL2[c.dtype] = std::max(worstRelL2[c.dtype], acc.relativeL2);
    CHECK(acc.cosine >= 0.9999);
    int64_t hiddenRows = 0, nonZero = 0;
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t i = 0; i < s.seqQ; ++i)
        for (int64_t h = 0; h < s.heads; ++h) {
          if (!p->rowHidden(b, h, i))
            continue;
          ++hiddenRows;
          const float *row = &got[size_t(((b * s.seqQ + i) * s.heads + h) * s.headDim)];
          nonZero += std::count_if(row, row + s.headDim, [](float x) { return x != 0.0f; });
        }
    INFO(hiddenRows << " fully masked rows");
    CHECK(nonZero == 0);
    ++runs;
  }
  std::printf("sdpa correctness: %d runs of %zu cases (%d f32 skipped)\n", runs, cases.size(),
              skippedF32);
  for (auto [dtype, worst] : worstRelL2)
    std::printf("  %s: worst relative L2 %.2e (bound %.0e)\n", std::string(toString(dtype)).c_str(),
                worst, tolerance(dtype));
}

namespace {
/// A bf16 problem with dropout (and a key-padding mask and causal), run on
/// the case's fixed inputs with any seed and offset.
struct DropoutRun {
  std::unique_ptr<Prepared> p;
  Stream stream;

  explicit DropoutRun(const Case &c) : p(prepare(c)) {}
  std::vector<uint8_t> run(uint64_t seed, uint64_t offset) {
    p->opts.seed = seed;
    p->opts.offset = offset;
    p->outBuf.fill(kPoisonByte);
    launch(*p, stream);
    stream.sync();
    return download<uint8_t>(p->outBuf);
  }
};
} // namespace

TEST_CASE("sdpa dropout is a function of seed and offset", "[gpu][sdpa]") {
  for (DType t : {DType::BF16, DType::F16}) {
    DropoutRun r({64, t, 129, 300, 4, Place::BSHD, true, MaskForm::KeyPad, MaskKind::Bool, 0.2});
    INFO(r.p->c.str());
    std::vector<uint8_t> a = r.run(42, 7), b = r.run(42, 7);
    CHECK(countUnwrittenBytes(a, t) == 0);
    CHECK(a == b); // bit-identical
    CHECK(r.run(43, 7) != a);
    CHECK(r.run(42, 8) != a);
    CHECK(r.run(42, 7 + (uint64_t(1) << 32)) != a);

    // The dropped probabilities are exactly the ones Philox.h names.
    SdpaReference ref;
    ref.shape = r.p->shape;
    ref.mask = &r.p->mask;
    ref.dropout = {0.2, 42, 7};
    std::vector<double> want = ref.run(r.p->hq.data(), r.p->hk.data(), r.p->hv.data());
    const int64_t dims[4] = {ref.shape.batch, ref.shape.seqQ, ref.shape.heads, 64};
    Accuracy acc = compareToReference(want, gatherRows(a, t, dims, r.p->outStrides));
    INFO(acc.str());
    CHECK(acc.nonFinite == 0);
    CHECK(acc.relativeL2 <= tolerance(t));
    CHECK(acc.cosine >= 0.9999);
  }
}

TEST_CASE("sdpa dropout keeps 1 - p of the probabilities", "[gpu][sdpa]") {
  // q = 0 gives uniform probabilities 1/Sk and v = identity (Sk <= D) copies
  // them out: out[b, i, h, j] = keep(b, h, i, j) / (Sk (1 - p)).
  const int64_t B = 2, H = 8, Sq = 1024, Sk = 64, D = 64;
  const double p = 0.25;
  const DType t = DType::F16;
  std::vector<float> q(size_t(B * Sq * H * D), 0.0f), v(size_t(B * Sk * H * D), 0.0f);
  std::vector<float> k = randomNormal(v.size(), freshSeed());
  for (float &x : k)
    x = quantizeTo(x, t);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < Sk; ++j)
      for (int64_t h = 0; h < H; ++h)
        v[size_t(((b * Sk + j) * H + h) * D + j)] = 1.0f;
  DeviceBuffer qb = upload(encodeBytes(q, t)), kb = upload(encodeBytes(k, t)),
               vb = upload(encodeBytes(v, t)), ob = poisonedBuffer(q.size() * 2);
  SdpaOptions opts;
  opts.dropoutP = float(p);
  opts.seed = freshSeed();
  opts.offset = freshSeed();
  Stream stream;
  sdpaAttention(viewOf(qb, t, {B, Sq, H, D}), viewOf(kb, t, {B, Sk, H, D}),
                viewOf(vb, t, {B, Sk, H, D}), viewOf(ob, t, {B, Sq, H, D}), opts, stream);
  stream.sync();
  std::vector<uint8_t> raw = download<uint8_t>(ob);
  std::vector<float> out = decodeBytes(raw, t);
  CHECK(countUnwrittenBytes(raw, t) == 0);
  const uint32_t threshold = sdpaDropoutThreshold(double(opts.dropoutP));
  const float value = quantizeTo(float(1.0 / (double(Sk) * (1.0 - p))), t);
  int64_t kept = 0, wrong = 0, n = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < Sq; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t j = 0; j < Sk; ++j, ++n) {
          float x = out[size_t(((b * Sq + i) * H + h) * D + j)];
          bool keep = sdpaDropoutWord(opts.seed, opts.offset, uint32_t(b * H + h), uint32_t(i),
                                      uint32_t(j)) >= threshold;
          kept += x != 0.0f;
          wrong += keep ? std::fabs(x - value) > 1e-3f * value : x != 0.0f;
        }
  double frac = double(kept) / double(n);
  INFO("kept " << kept << " of " << n << " (" << frac << "), " << wrong
               << " differ from the Philox keep mask");
  CHECK(n >= 1000000);
  CHECK(std::fabs(frac - (1 - p)) <= 0.01 * (1 - p));
  CHECK(wrong == 0);
}

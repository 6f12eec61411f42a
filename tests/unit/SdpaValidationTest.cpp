//===- SdpaValidationTest.cpp - sdpaAttention arguments, spec and Philox --===//
//
// Part of attnjit. Every bad input to sdpaAttention() is rejected before
// anything is loaded or launched, with a message naming the tensor and field;
// valid inputs give the spec and kernel arguments the SDPA ABI wants. Pointers
// are fake (never dereferenced), so no GPU is needed. The float64 reference of
// the GPU tests is checked here against the Philox dropout stream.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "../gpu/GpuTestUtil.h"

#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Core/Philox.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace attnjit;
using Catch::Matchers::Contains;

namespace {

/// A copy of a view with some of its properties replaced.
class Alter {
public:
  Alter &at(uintptr_t address) { address_ = address; return *this; }
  Alter &dtype(DType t) { dtype_ = t; return *this; }
  Alter &shape(std::vector<int64_t> s) {
    shape_ = std::move(s);
    if (!strides_)
      strides_ = std::vector<int64_t>{}; // contiguous for the new shape
    return *this;
  }
  Alter &strides(std::vector<int64_t> s) { strides_ = std::move(s); return *this; }
  Alter &device(int d, DeviceKind kind = DeviceKind::Cuda) {
    device_ = d;
    kind_ = kind;
    return *this;
  }
  TensorView of(const TensorView &t) const {
    return TensorView(address_ ? reinterpret_cast<void *>(*address_) : t.data(),
                      dtype_.value_or(t.dtype()), shape_.value_or(t.shape()),
                      strides_.value_or(t.strides()), device_.value_or(t.device()),
                      kind_.value_or(t.deviceKind()));
  }

private:
  std::optional<uintptr_t> address_;
  std::optional<DType> dtype_;
  std::optional<std::vector<int64_t>> shape_, strides_;
  std::optional<int> device_;
  std::optional<DeviceKind> kind_;
};

TensorView at(uintptr_t address, DType t, std::vector<int64_t> shape,
              std::vector<int64_t> strides = {}) {
  return TensorView(reinterpret_cast<void *>(address), t, shape, strides);
}

/// Valid BSHD arguments: q/out [2, 128, 8, D], k/v [2, 256, 2, D], each in its
/// own 256 MiB region; masks go at 0x50000000.
struct Sdpa {
  int64_t B = 2, Sq = 128, Sk = 256, H = 8, Hkv = 2, D = 64;
  DType dtype = DType::BF16;
  TensorView q, k, v, out;
  SdpaOptions opts;

  explicit Sdpa(int64_t headDim = 64, DType t = DType::BF16) : D(headDim), dtype(t) {
    q = at(0x10000000, dtype, {B, Sq, H, D});
    k = at(0x20000000, dtype, {B, Sk, Hkv, D});
    v = at(0x30000000, dtype, {B, Sk, Hkv, D});
    out = at(0x40000000, dtype, {B, Sq, H, D});
  }
  Sdpa &mask(DType t, std::vector<int64_t> shape, std::vector<int64_t> strides = {}) {
    opts.mask = at(0x50000000, t, std::move(shape), std::move(strides));
    return *this;
  }
  void validate() const { validateSdpaArgs(q, k, v, out, opts); }
};

/// Runs `fn` and returns the attnjit::Error it threw (kind and message), or
/// nothing.
std::optional<std::pair<ErrorKind, std::string>> thrown(const std::function<void()> &fn) {
  try {
    fn();
  } catch (const Error &e) {
    return std::make_pair(e.kind(), std::string(e.what()));
  }
  return std::nullopt;
}

void expectRejected(const std::function<void()> &fn, ErrorKind kind,
                    const std::vector<std::string> &parts) {
  auto err = thrown(fn);
  REQUIRE(err.has_value());
  INFO("message: " << err->second);
  CHECK(err->first == kind);
  for (const std::string &p : parts)
    CHECK_THAT(err->second, Contains(p));
}

void rejects(const Sdpa &a, const std::vector<std::string> &parts,
             ErrorKind kind = ErrorKind::InvalidArgument) {
  expectRejected([&] { a.validate(); }, kind, parts);
}

void accepts(const Sdpa &a) {
  auto err = thrown([&] { a.validate(); });
  INFO("message: " << (err ? err->second : std::string("none")));
  CHECK_FALSE(err.has_value());
}

} // namespace

//===----------------------------------------------------------------------===//
// Valid arguments
//===----------------------------------------------------------------------===//

TEST_CASE("sdpa validation: valid arguments pass", "[runtime][sdpa]") {
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (int64_t d : {1, 8, 33, 40, 64, 80, 96, 128, 200, 256}) {
      INFO(toString(t) << " head_dim " << d);
      Sdpa a(d, t);
      accepts(a);
      a.opts.causal = true;
      a.opts.softmaxScale = 0.25f;
      a.opts.dropoutP = 0.5f;
      a.opts.seed = ~uint64_t(0);
      accepts(a);
    }
  Sdpa a;
  a.opts.dropoutP = 0.0f;
  accepts(a);
  a.opts.dropoutP = std::nextafter(1.0f, 0.0f);
  accepts(a);
}

TEST_CASE("sdpa validation: every mask form passes", "[runtime][sdpa]") {
  const int64_t B = 2, H = 8, Sq = 128, Sk = 256;
  const std::vector<std::vector<int64_t>> shapes = {
      {B, Sk},     {1, Sk},         {B, Sq, Sk},     {1, Sq, Sk},    {B, 1, Sk},
      {1, 1, Sk},  {B, H, Sq, Sk},  {B, 1, Sq, Sk},  {1, H, Sq, Sk}, {B, H, 1, Sk},
      {1, 1, 1, Sk}};
  for (DType t : {DType::Bool, DType::BF16})
    for (const auto &shape : shapes) {
      INFO(toString(t) << " mask of rank " << shape.size());
      Sdpa a;
      a.mask(t, shape);
      accepts(a);
      a.opts.causal = true;
      accepts(a);
    }
  // An expanded view (stride 0 on a dimension of full size) broadcasts too.
  Sdpa e;
  e.mask(DType::Bool, {B, Sq, Sk}, {Sk, 0, 1});
  accepts(e);
  // Strides of size-1 dimensions are never used.
  Sdpa f;
  f.mask(DType::Bool, {1, Sq, Sk}, {-7, Sk, 1});
  accepts(f);
  // A padded row pitch is fine: only the key dimension must be contiguous.
  Sdpa g;
  g.mask(DType::Bool, {B, Sq, Sk}, {Sq * 512, 512, 1});
  accepts(g);
  // Sk == 1: the key dimension has size 1, any stride.
  Sdpa h;
  h.Sk = 1;
  h.k = Alter().shape({h.B, 1, h.Hkv, h.D}).of(h.k);
  h.v = Alter().shape({h.B, 1, h.Hkv, h.D}).of(h.v);
  h.mask(DType::Bool, {h.B, 1}, {1, 5});
  accepts(h);
}

//===----------------------------------------------------------------------===//
// q, k, v and out
//===----------------------------------------------------------------------===//

TEST_CASE("sdpa validation: dtypes", "[runtime][sdpa]") {
  Sdpa a;
  a.k = Alter().dtype(DType::F16).of(a.k);
  rejects(a, {"k.dtype", "expected bf16 (q's dtype)", "got f16"});
  Sdpa b(64, DType::F32);
  b.out = Alter().dtype(DType::BF16).of(b.out);
  rejects(b, {"out.dtype", "expected f32", "got bf16"});
  Sdpa c(64, DType::F16);
  c.v = Alter().dtype(DType::F32).of(c.v);
  rejects(c, {"v.dtype", "expected f16", "got f32"});
  // A bool q (e.g. a mask passed in the wrong slot).
  Sdpa d;
  for (TensorView *t : {&d.q, &d.k, &d.v, &d.out})
    *t = Alter().dtype(DType::Bool).of(*t);
  rejects(d, {"q.dtype", "expected f16, bf16 or f32", "got bool"});
}

TEST_CASE("sdpa validation: head sizes", "[runtime][sdpa]") {
  Sdpa zero(1);
  for (TensorView *t : {&zero.q, &zero.k, &zero.v, &zero.out}) {
    auto s = t->shape();
    s[3] = 0;
    *t = Alter().shape(s).of(*t);
  }
  rejects(zero, {"q.shape[3] (head_dim)", "expected > 0", "got 0"});
  Sdpa big(257);
  rejects(big, {"q.shape[3] (head_dim)", "1 to 256", "got 257"}, ErrorKind::Unsupported);
  Sdpa mismatch(80);
  mismatch.v = Alter().shape({2, 256, 2, 96}).of(mismatch.v);
  rejects(mismatch, {"v.shape[3] (head_dim)", "expected 80", "got 96"});
}

TEST_CASE("sdpa validation: shapes, GQA and zero sizes", "[runtime][sdpa]") {
  Sdpa a;
  a.k = Alter().shape({2, 256, 3, 64}).of(a.k);
  a.v = Alter().shape({2, 256, 3, 64}).of(a.v);
  rejects(a, {"k.shape[2] (num_kv_heads)", "divisor of q's num_heads 8", "got 3"});
  Sdpa b;
  b.q = Alter().shape({2, 0, 8, 64}).strides({512, 512, 64, 1}).of(b.q);
  rejects(b, {"q.shape[1] (seqlen_q)", "expected > 0", "got 0"});
  Sdpa c;
  c.k = Alter().shape({2, 0, 2, 64}).strides({128, 128, 64, 1}).of(c.k);
  rejects(c, {"k.shape[1] (seqlen_k)", "expected > 0", "got 0"});
  Sdpa d;
  d.out = Alter().shape({0, 128, 8, 64}).of(d.out);
  rejects(d, {"out.shape[0] (batch)", "got 0"});
  Sdpa e;
  e.out = Alter().shape({2, 128, 8, 32}).of(e.out);
  rejects(e, {"out.shape", "expected [2, 128, 8, 64]", "got [2, 128, 8, 32]"});
  Sdpa f;
  f.q = Alter().shape({2 * 128, 8, 64}).of(f.q);
  rejects(f, {"q.rank", "expected 4", "got 3"});
}

TEST_CASE("sdpa validation: pointers, devices and aliasing", "[runtime][sdpa]") {
  Sdpa a;
  a.v = Alter().at(0).of(a.v);
  rejects(a, {"v.data", "non-null", "got null"});
  Sdpa b;
  b.k = Alter().device(0, DeviceKind::Cpu).of(b.k);
  rejects(b, {"k.device", "expected a CUDA tensor", "cpu:0"});
  Sdpa c;
  c.out = Alter().device(1).of(c.out);
  rejects(c, {"out.device", "expected cuda:0", "got cuda:1"});
  Sdpa d;
  d.out = Alter().at(0x20000000 + 4096).of(d.out);
  rejects(d, {"out: overlaps k"});
  Sdpa e;
  e.out = e.q; // in place is allowed, as for flash
  accepts(e);
}

TEST_CASE("sdpa validation: the access granule", "[runtime][sdpa]") {
  // bf16, head_dim 64: 128-byte rows, 16-byte accesses (8 elements).
  CHECK(sdpaAccessBytes(64, 2) == 16);
  Sdpa a;
  a.q = Alter().at(0x10000008).of(a.q);
  rejects(a, {"q.data", "16-byte aligned", "0x10000008"});
  Sdpa b;
  b.k = Alter().strides({256 * 132, 132, 64, 1}).of(b.k);
  rejects(b, {"k.strides[1] (row stride)", "multiple of 8 elements", "got 132"});

  // bf16, head_dim 36: 72-byte rows, 8-byte accesses (4 elements).
  CHECK(sdpaAccessBytes(36, 2) == 8);
  Sdpa c(36);
  c.q = Alter().at(0x10000008).of(c.q);
  accepts(c);
  c.q = Alter().at(0x10000004).of(c.q);
  rejects(c, {"q.data", "8-byte aligned", "head_dim 36"});
  Sdpa d(36);
  d.v = Alter().strides({256 * 2 * 40, 2 * 40, 38, 1}).of(d.v);
  rejects(d, {"v.strides[2] (head stride)", "multiple of 4 elements", "got 38"});
  d.v = Alter().strides({256 * 2 * 40, 2 * 40, 40, 1}).of(d.v);
  accepts(d);

  // bf16, head_dim 33: 66-byte rows, 2-byte accesses: any element stride.
  CHECK(sdpaAccessBytes(33, 2) == 2);
  Sdpa e(33);
  e.q = Alter().at(0x10000002).strides({128 * 8 * 35, 8 * 35, 35, 1}).of(e.q);
  accepts(e);
  e.q = Alter().at(0x10000001).of(e.q);
  rejects(e, {"q.data", "2-byte aligned"});

  // f32, head_dim 64: 16-byte accesses are 4 elements.
  Sdpa f(64, DType::F32);
  f.out = Alter().strides({128 * 8 * 66, 8 * 66, 66, 1}).of(f.out);
  rejects(f, {"out.strides[2] (head stride)", "multiple of 4 elements", "got 66"});

  // The head_dim stride must be 1.
  Sdpa g(8);
  g.q = Alter().strides({128 * 8 * 16, 8 * 16, 16, 2}).of(g.q);
  rejects(g, {"q.strides[3] (head_dim stride)", "expected 1", "got 2"});
}

//===----------------------------------------------------------------------===//
// Mask
//===----------------------------------------------------------------------===//

TEST_CASE("sdpa validation: mask dtype, pointer and device", "[runtime][sdpa]") {
  Sdpa a;
  a.mask(DType::F16, {2, 256});
  rejects(a, {"opts.mask.dtype", "expected bool or bf16", "got f16"});
  Sdpa b(64, DType::F16);
  b.mask(DType::F32, {2, 128, 256});
  rejects(b, {"opts.mask.dtype", "expected bool or f16", "got f32"});
  Sdpa c;
  c.mask(DType::Bool, {2, 256});
  c.opts.mask = Alter().at(0).of(*c.opts.mask);
  rejects(c, {"opts.mask.data", "non-null", "got null"});
  Sdpa d;
  d.mask(DType::Bool, {2, 256});
  d.opts.mask = Alter().device(1).of(*d.opts.mask);
  rejects(d, {"opts.mask.device", "expected cuda:0 (q's device)", "got cuda:1"});
  d.opts.mask = Alter().device(0, DeviceKind::Cpu).of(*d.opts.mask);
  rejects(d, {"opts.mask.device", "CUDA tensor", "got cpu:0"});
  Sdpa e;
  e.mask(DType::BF16, {2, 256});
  e.opts.mask = Alter().at(0x50000001).of(*e.opts.mask);
  rejects(e, {"opts.mask.data", "2-byte aligned", "bf16"});
  Sdpa f;
  f.mask(DType::Bool, {2, 256});
  f.opts.mask = Alter().at(0x50000001).of(*f.opts.mask); // bytes need no alignment
  accepts(f);
}

TEST_CASE("sdpa validation: mask shapes", "[runtime][sdpa]") {
  Sdpa a;
  a.mask(DType::Bool, {256});
  rejects(a, {"opts.mask.rank", "expected 2", "got 1"});
  a.mask(DType::Bool, {2, 8, 1, 128, 256});
  rejects(a, {"opts.mask.rank", "got 5"});
  Sdpa b;
  b.mask(DType::Bool, {2, 255});
  rejects(b, {"opts.mask.shape[1] (seqlen_k)", "expected 256", "got 255"});
  b.mask(DType::Bool, {2, 128, 1});
  rejects(b, {"opts.mask.shape[2] (seqlen_k)", "does not broadcast", "got 1"});
  Sdpa c;
  c.mask(DType::Bool, {3, 256});
  rejects(c, {"opts.mask.shape[0] (batch)", "expected 2 or 1", "got 3"});
  c.mask(DType::BF16, {2, 64, 256});
  rejects(c, {"opts.mask.shape[1] (seqlen_q)", "expected 128 or 1", "got 64"});
  c.mask(DType::Bool, {2, 4, 128, 256});
  rejects(c, {"opts.mask.shape[1] (num_heads)", "expected 8 or 1", "got 4"});
  // k's sequence length, not q's, sizes the key dimension.
  c.mask(DType::Bool, {2, 8, 128, 128});
  rejects(c, {"opts.mask.shape[3] (seqlen_k)", "expected 256", "got 128"});
}

TEST_CASE("sdpa validation: mask strides, span and aliasing", "[runtime][sdpa]") {
  Sdpa a;
  a.mask(DType::Bool, {2, 128, 256}, {128 * 512, 512, 2});
  rejects(a, {"opts.mask.strides[2] (seqlen_k stride)", "expected 1", "got 2"});
  a.mask(DType::Bool, {2, 256}, {256, 0});
  rejects(a, {"opts.mask.strides[1] (seqlen_k stride)", "expected 1", "got 0"});
  a.mask(DType::Bool, {2, 8, 128, 256}, {-8 * 128 * 256, 128 * 256, 256, 1});
  rejects(a, {"opts.mask.strides[0] (batch stride)", "expected >= 0", "got -262144"});
  a.mask(DType::Bool, {2, 8, 128, 256}, {int64_t(1) << 62, int64_t(1) << 62, 256, 1});
  rejects(a, {"opts.mask:", "overflow"});
  Sdpa b;
  b.opts.mask = at(0x40000000 + 64, DType::Bool, {2, 256});
  rejects(b, {"opts.mask: overlaps out"});
  // The mask may share memory with the inputs: all of them are only read.
  b.opts.mask = at(0x10000000, DType::Bool, {2, 256});
  accepts(b);
}

//===----------------------------------------------------------------------===//
// Options
//===----------------------------------------------------------------------===//

TEST_CASE("sdpa validation: dropout probability, scale and config", "[runtime][sdpa]") {
  for (float p : {-0.1f, 1.0f, 1.5f, std::nanf(""), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()}) {
    INFO("p = " << p);
    Sdpa a;
    a.opts.dropoutP = p;
    rejects(a, {"opts.dropoutP", "[0, 1)"});
  }
  Sdpa n;
  n.opts.dropoutP = std::nanf("");
  rejects(n, {"opts.dropoutP", "got nan"});
  Sdpa one;
  one.opts.dropoutP = 1.0f;
  rejects(one, {"got 1"});
  Sdpa s;
  s.opts.softmaxScale = std::numeric_limits<float>::infinity();
  rejects(s, {"opts.softmaxScale", "finite"});
  Sdpa c;
  c.opts.config.stages = -1;
  rejects(c, {"opts.config", ">= 0"});
}

TEST_CASE("sdpa validation: BHSD layout", "[runtime][sdpa]") {
  int64_t B = 2, H = 8, Hkv = 2, Sq = 128, Sk = 256, D = 40;
  TensorView q = at(0x10000000, DType::F16, {B, H, Sq, D});
  TensorView k = at(0x20000000, DType::F16, {B, Hkv, Sk, D});
  TensorView v = at(0x30000000, DType::F16, {B, Hkv, Sk, D});
  TensorView out = at(0x40000000, DType::F16, {B, H, Sq, D});
  SdpaOptions opts;
  // The mask keeps its [B, H, Sq, Sk] order whatever the layout.
  opts.mask = at(0x50000000, DType::Bool, {B, H, Sq, Sk});
  CHECK_NOTHROW(validateSdpaArgs(q, k, v, out, Layout::BHSD, opts));
  TensorView badK = Alter().shape({B, 3, Sk, D}).of(k);
  expectRejected([&] { validateSdpaArgs(q, badK, badK, out, Layout::BHSD, opts); },
                 ErrorKind::InvalidArgument, {"k.shape[1] (num_kv_heads)", "got 3"});
  TensorView badQ = Alter().strides({H * Sq * D, Sq * D, 44, 1}).of(q);
  expectRejected([&] { validateSdpaArgs(badQ, k, v, out, Layout::BHSD, opts); },
                 ErrorKind::InvalidArgument, {"q.strides[2] (row stride)", "got 44"});
  // The same tensors read as BSHD disagree with the mask.
  expectRejected([&] { validateSdpaArgs(q, k, v, out, opts); }, ErrorKind::InvalidArgument,
                 {"k.shape[2] (num_kv_heads)"});
}

TEST_CASE("sdpaAttention validates before touching the driver", "[runtime][sdpa]") {
  Sdpa a;
  a.opts.dropoutP = 2.0f;
  expectRejected([&] { sdpaAttention(a.q, a.k, a.v, a.out, a.opts, nullptr); },
                 ErrorKind::InvalidArgument, {"opts.dropoutP"});
  Sdpa m;
  m.mask(DType::F16, {2, 256});
  expectRejected(
      [&] { sdpaAttention(m.q, m.k, m.v, m.out, Layout::BSHD, m.opts, nullptr); },
      ErrorKind::InvalidArgument, {"opts.mask.dtype"});
  if (!CudaDriver::get().available()) {
    Sdpa b;
    expectRejected([&] { sdpaAttention(b.q, b.k, b.v, b.out, b.opts, nullptr); },
                   ErrorKind::NoDevice, {"CUDA driver"});
  }
}

//===----------------------------------------------------------------------===//
// Spec and launch arguments
//===----------------------------------------------------------------------===//

TEST_CASE("sdpa spec", "[runtime][sdpa]") {
  Sdpa a(80, DType::F16);
  a.opts.causal = true;
  a.opts.config = {64, 64, 4, 2};
  AttentionSpec s = makeSdpaSpec(a.q, a.opts);
  CHECK(s.variant == Variant::Sdpa);
  CHECK(s.headDim == 80);
  CHECK(s.dtype == DType::F16);
  CHECK(s.causal);
  CHECK_FALSE(s.returnLse);
  CHECK(s.maskKind == MaskKind::None);
  CHECK_FALSE(s.maskPerKey);
  CHECK_FALSE(s.dropout);
  CHECK(s.config == KernelConfig{64, 64, 4, 2});
  CHECK(s.validate().empty());

  a.opts.dropoutP = 0.1f;
  CHECK(makeSdpaSpec(a.q, a.opts).dropout);

  struct MaskCase {
    DType dtype;
    std::vector<int64_t> shape, strides;
    MaskKind kind;
    bool perKey;
  };
  const int64_t B = 2, H = 8, Sq = 128, Sk = 256;
  const MaskCase cases[] = {
      {DType::Bool, {B, Sk}, {}, MaskKind::Bool, true},
      {DType::F16, {B, Sk}, {}, MaskKind::Additive, true},
      {DType::Bool, {B, 1, Sk}, {}, MaskKind::Bool, true},
      {DType::Bool, {B, Sq, Sk}, {Sk, 0, 1}, MaskKind::Bool, true}, // expanded
      {DType::F16, {B, H, 1, Sk}, {}, MaskKind::Additive, true},
      {DType::Bool, {B, Sq, Sk}, {}, MaskKind::Bool, false},
      {DType::F16, {1, Sq, Sk}, {}, MaskKind::Additive, false},
      {DType::Bool, {B, H, Sq, Sk}, {}, MaskKind::Bool, false},
      {DType::Bool, {B, 1, Sq, Sk}, {}, MaskKind::Bool, false},
  };
  for (const MaskCase &c : cases) {
    INFO("mask " << TensorView(static_cast<void *>(nullptr), c.dtype, c.shape, c.strides).str());
    a.mask(c.dtype, c.shape, c.strides);
    AttentionSpec m = makeSdpaSpec(a.q, a.opts);
    CHECK(m.maskKind == c.kind);
    CHECK(m.maskPerKey == c.perKey);
    CHECK(m.validate().empty());
  }
}

TEST_CASE("sdpa launch arguments", "[runtime][sdpa]") {
  Sdpa a;
  SdpaLaunchArgs args = makeSdpaLaunchArgs(a.q, a.k, a.v, a.out, a.opts);
  FlashLaunchArgs flash = makeFlashLaunchArgs(a.q, a.k, a.v, a.out, FlashOptions{});
  // The flash block is what flashAttention passes for the same tensors.
  CHECK(args.flash.q == flash.q);
  CHECK(args.flash.k == flash.k);
  CHECK(args.flash.v == flash.v);
  CHECK(args.flash.o == flash.o);
  CHECK(args.flash.scaleLog2 == flash.scaleLog2);
  CHECK(args.flash.vHeadStride == flash.vHeadStride);
  CHECK(args.flash.seqlenQ == 128);
  CHECK(args.flash.seqlenK == 256);
  CHECK(args.flash.headRatio == 4);
  CHECK(args.flash.qRowStride == 8 * 64);
  CHECK(args.flash.kBatchStride == 256 * 2 * 64);
  CHECK(args.flash.oHeadStride == 64);
  CHECK(args.flash.lse == nullptr);
  CHECK(args.flash.scaleLog2 == Approx(0.125 * 1.4426950408889634).epsilon(1e-7));
  CHECK(args.mask == nullptr);
  CHECK(args.maskBatchStride == 0);
  CHECK(args.maskColStride == 0);
  CHECK(args.dropoutThreshold == 0);
  CHECK(args.dropoutScale == 1.0f);

  a.opts.softmaxScale = 0.3f;
  a.opts.dropoutP = 0.25f;
  a.opts.seed = 0x123456789abcdefull;
  a.opts.offset = 77;
  args = makeSdpaLaunchArgs(a.q, a.k, a.v, a.out, a.opts);
  CHECK(args.flash.scaleLog2 == Approx(0.3 * 1.4426950408889634).epsilon(1e-6));
  CHECK(args.dropoutThreshold == 0x40000000u);
  CHECK(args.dropoutThreshold == sdpaDropoutThreshold(0.25));
  CHECK(args.dropoutScale == Approx(1.0 / 0.75).epsilon(1e-7));
  CHECK(args.seed == 0x123456789abcdefull);
  CHECK(args.offset == 77);

  struct StrideCase {
    std::vector<int64_t> shape, strides;
    int64_t batch, head, row, col;
  };
  const int64_t B = 2, H = 8, Sq = 128, Sk = 256;
  const StrideCase cases[] = {
      {{B, Sk}, {}, Sk, 0, 0, 1},
      {{1, Sk}, {}, 0, 0, 0, 1},
      {{B, Sq, Sk}, {}, Sq * Sk, 0, Sk, 1},
      {{1, Sq, Sk}, {}, 0, 0, Sk, 1},
      {{B, 1, Sk}, {}, Sk, 0, 0, 1},
      {{B, Sq, Sk}, {Sk, 0, 1}, Sk, 0, 0, 1},
      {{B, H, Sq, Sk}, {}, H * Sq * Sk, Sq * Sk, Sk, 1},
      {{B, 1, Sq, Sk}, {}, Sq * Sk, 0, Sk, 1},
      {{1, H, 1, Sk}, {}, 0, Sk, 0, 1},
      {{B, H, Sq, Sk}, {H * Sq * 512, Sq * 512, 512, 1}, H * Sq * 512, Sq * 512, 512, 1},
  };
  for (const StrideCase &c : cases) {
    INFO("mask " << TensorView(static_cast<void *>(nullptr), DType::Bool, c.shape, c.strides).str());
    a.mask(DType::Bool, c.shape, c.strides);
    SdpaLaunchArgs m = makeSdpaLaunchArgs(a.q, a.k, a.v, a.out, a.opts);
    CHECK(m.mask == a.opts.mask->data());
    CHECK(m.maskBatchStride == c.batch);
    CHECK(m.maskHeadStride == c.head);
    CHECK(m.maskRowStride == c.row);
    CHECK(m.maskColStride == c.col);
  }

  // The parameter block has the ABI table's length and order.
  void *params[kNumSdpaParams];
  args.fillParamPointers(params);
  CHECK(params[kNumFlashParams] == static_cast<void *>(&args.mask));
  CHECK(params[kNumSdpaParams - 1] == static_cast<void *>(&args.offset));
  CHECK(std::string(kSdpaExtraParams[5].name) == "dropout_threshold");
}

//===----------------------------------------------------------------------===//
// Philox and the float64 reference
//===----------------------------------------------------------------------===//

TEST_CASE("philox4x32-10 known answers", "[runtime][sdpa][philox]") {
  // Random123's known-answer vectors (kat_vectors, philox4x32_10).
  using A4 = std::array<uint32_t, 4>;
  CHECK(philox4x32_10({0, 0, 0, 0}, {0, 0}) == A4{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8});
  CHECK(philox4x32_10({~0u, ~0u, ~0u, ~0u}, {~0u, ~0u}) ==
        A4{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd});
  CHECK(philox4x32_10({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
                      {0xa4093822, 0x299f31d0}) ==
        A4{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1});
}

TEST_CASE("dropout stream: threshold and kept fraction", "[runtime][sdpa][philox]") {
  CHECK(sdpaDropoutThreshold(0.0) == 0u);
  CHECK(sdpaDropoutThreshold(0.5) == 0x80000000u);
  CHECK(sdpaDropoutThreshold(std::nextafter(1.0, 0.0)) == 0xFFFFFFFFu);
  // One word per score; neighbours (2x2 blocks share a Philox call) differ.
  CHECK(sdpaDropoutWord(1, 0, 0, 0, 0) != sdpaDropoutWord(1, 0, 0, 0, 1));
  CHECK(sdpaDropoutWord(1, 0, 0, 0, 0) != sdpaDropoutWord(1, 0, 0, 8, 0));
  CHECK(sdpaDropoutWord(1, 0, 0, 0, 0) != sdpaDropoutWord(2, 0, 0, 0, 0));
  CHECK(sdpaDropoutWord(1, 0, 0, 0, 0) != sdpaDropoutWord(1, 1, 0, 0, 0));
  CHECK(sdpaDropoutWord(1, 0, 0, 0, 0) != sdpaDropoutWord(1, uint64_t(1) << 32, 0, 0, 0));
  for (double p : {0.1, 0.3, 0.5, 0.8}) {
    uint32_t threshold = sdpaDropoutThreshold(p);
    int64_t kept = 0, n = 0;
    // 8 (b, h) slices of 256 x 512 scores: 2^20 draws.
    for (uint32_t bh = 0; bh < 8; ++bh)
      for (uint32_t i = 0; i < 256; ++i)
        for (uint32_t j = 0; j < 512; ++j, ++n)
          kept += sdpaDropoutWord(0x5eed, 3, bh, i, j) >= threshold;
    double frac = double(kept) / double(n);
    INFO("p = " << p << ": kept " << frac << " of " << n);
    CHECK(std::fabs(frac - (1 - p)) <= 0.01 * (1 - p));
  }
}

TEST_CASE("sdpa reference: dropout reproduces the Philox keep mask", "[runtime][sdpa][philox]") {
  using namespace attnjit::gputest;
  // q = 0 makes every probability 1/Sk; v = identity (Sk <= D) exposes them:
  // out[b, i, h, d] = keep(b, h, i, d) / (Sk (1 - p)).
  AttnShape s;
  s.batch = 2, s.heads = 4, s.kvHeads = 2, s.seqQ = 40, s.seqK = 24, s.headDim = 32;
  std::vector<float> q(size_t(s.qElems()), 0.0f), k = randomNormal(size_t(s.kvElems()), 5),
      v(size_t(s.kvElems()), 0.0f);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t j = 0; j < s.seqK; ++j)
      for (int64_t h = 0; h < s.kvHeads; ++h)
        v[size_t(((b * s.seqK + j) * s.kvHeads + h) * s.headDim + j)] = 1.0f;
  SdpaReference ref;
  ref.shape = s;
  ref.dropout = {0.3, 0xabcdef, 12};
  std::vector<double> out = ref.run(q.data(), k.data(), v.data());
  int64_t mismatches = 0, kept = 0;
  double value = 1.0 / (double(s.seqK) * 0.7);
  for (int64_t b = 0; b < s.batch; ++b)
    for (int64_t i = 0; i < s.seqQ; ++i)
      for (int64_t h = 0; h < s.heads; ++h)
        for (int64_t d = 0; d < s.headDim; ++d) {
          double got = out[size_t(((b * s.seqQ + i) * s.heads + h) * s.headDim + d)];
          bool keep = d < s.seqK && sdpaDropoutWord(0xabcdef, 12, uint32_t(b * s.heads + h),
                                                    uint32_t(i), uint32_t(d)) >=
                                        sdpaDropoutThreshold(0.3);
          kept += keep;
          mismatches += std::fabs(got - (keep ? value : 0.0)) > 1e-12;
        }
  CHECK(mismatches == 0);
  CHECK(kept > 0);
  // Without dropout every key weighs 1/Sk.
  ref.dropout = {};
  out = ref.run(q.data(), k.data(), v.data());
  CHECK(out[0] == Approx(1.0 / double(s.seqK)));
}

TEST_CASE("sdpa reference: masks, top-left causal, fully masked rows", "[runtime][sdpa]") {
  using namespace attnjit::gputest;
  AttnShape s;
  s.batch = 2, s.heads = 2, s.kvHeads = 1, s.seqQ = 5, s.seqK = 3, s.headDim = 4;
  auto q = randomNormal(size_t(s.qElems()), 1), k = randomNormal(size_t(s.kvElems()), 2),
       v = randomNormal(size_t(s.kvElems()), 3);
  SdpaReference ref;
  ref.shape = s;
  std::vector<double> plain = ref.run(q.data(), k.data(), v.data());
  std::vector<double> flash;
  referenceAttention(s, q.data(), k.data(), v.data(), flash);
  CHECK(plain == flash);

  SECTION("top-left causal: query i sees keys 0..i, even when Sq > Sk") {
    ref.shape.causal = true;
    std::vector<double> out = ref.run(q.data(), k.data(), v.data());
    // Query 0 sees key 0 only: its output is v[key 0].
    for (int64_t d = 0; d < s.headDim; ++d)
      CHECK(out[size_t(d)] == Approx(v[size_t(d)]));
    // Queries 2..4 see every key, as without the mask.
    size_t row2 = size_t(2 * s.heads * s.headDim);
    for (size_t x = row2; x < size_t(s.seqQ * s.heads * s.headDim); ++x)
      CHECK(out[x] == Approx(plain[x]));
    CHECK(causalVisibleTopLeft(0, 0));
    CHECK_FALSE(causalVisibleTopLeft(0, 1));
  }
  SECTION("a bool key-padding mask equals an additive -inf mask") {
    HostMask pad, add;
    pad.kind = MaskKind::Bool;
    add.kind = MaskKind::Additive;
    pad.values = {1, 1, 0, 1, 0, 0}; // [B=2, Sk=3]: batch 1 keeps key 0 only
    for (float x : pad.values)
      add.values.push_back(x != 0 ? 0.0f : -std::numeric_limits<float>::infinity());
    pad.strides[0] = add.strides[0] = 3;
    pad.strides[3] = add.strides[3] = 1;
    ref.mask = &pad;
    std::vector<double> a = ref.run(q.data(), k.data(), v.data());
    ref.mask = &add;
    CHECK(ref.run(q.data(), k.data(), v.data()) == a);
    // Batch 1, any row, any head: only key 0 is visible, so out = v[b=1, key 0].
    for (int64_t d = 0; d < s.headDim; ++d)
      CHECK(a[size_t(((1 * s.seqQ + 3) * s.heads + 1) * s.headDim + d)] ==
            Approx(v[size_t((1 * s.seqK) * s.headDim + d)]));
  }
  SECTION("rows with every key masked give exactly 0") {
    HostMask m;
    m.kind = MaskKind::Bool;
    m.values.assign(size_t(s.seqQ * s.seqK), 1.0f); // [1, Sq, Sk], broadcast over batch
    for (int64_t j = 0; j < s.seqK; ++j)
      m.values[size_t(2 * s.seqK + j)] = 0.0f; // row 2
    m.strides[2] = s.seqK;
    m.strides[3] = 1;
    ref.mask = &m;
    std::vector<double> out = ref.run(q.data(), k.data(), v.data());
    for (int64_t b = 0; b < s.batch; ++b)
      for (int64_t x = 0; x < s.heads * s.headDim; ++x) {
        CHECK(out[size_t((b * s.seqQ + 2) * s.heads * s.headDim + x)] == 0.0);
        CHECK(out[size_t((b * s.seqQ + 1) * s.heads * s.headDim + x)] ==
              Approx(plain[size_t((b * s.seqQ + 1) * s.heads * s.headDim + x)]));
      }
  }
  SECTION("an additive mask shifts the scores") {
    HostMask m;
    m.kind = MaskKind::Additive;
    m.values = {0.5f, -1.0f, 2.0f}; // [1, 1, 1, Sk]
    m.strides[3] = 1;
    ref.mask = &m;
    std::vector<double> out = ref.run(q.data(), k.data(), v.data());
    // Row (b=0, i=0, h=0) by hand.
    double sc[3], mx = -1e300, sum = 0;
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int d = 0; d < 4; ++d)
        dot += double(q[size_t(d)]) * double(k[size_t(j * 4 + d)]);
      sc[j] = dot * 0.5 + m.values[size_t(j)];
      mx = std::max(mx, sc[j]);
    }
    for (double &x : sc)
      sum += x = std::exp(x - mx);
    for (int d = 0; d < 4; ++d) {
      double want = 0;
      for (int j = 0; j < 3; ++j)
        want += sc[j] * double(v[size_t(j * 4 + d)]);
      CHECK(out[size_t(d)] == Approx(want / sum));
    }
  }
}

TEST_CASE("sdpa masks whose true hides the key (maskTrueHides)", "[runtime][sdpa]") {
  Sdpa a;
  a.opts.maskTrueHides = true;
  rejects(a, {"opts.maskTrueHides: needs a bool mask, got no mask"});
  a.mask(DType::BF16, {2, 256});
  rejects(a, {"opts.maskTrueHides: needs a bool mask, got a bf16 mask"});
  a.mask(DType::Bool, {2, 256});
  accepts(a);
  AttentionSpec s = makeSdpaSpec(a.q, a.opts);
  CHECK(s.maskKind == MaskKind::BoolHides);
  CHECK(s.maskPerKey);
  CHECK(s.validate().empty());
  CHECK(s.kernelName().find("_maskbool_hides_perkey") != std::string::npos);
  a.opts.maskTrueHides = false;
  CHECK(makeSdpaSpec(a.q, a.opts).maskKind == MaskKind::Bool);
}

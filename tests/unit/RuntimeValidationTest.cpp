//===- RuntimeValidationTest.cpp - flashAttention argument checks ---------===//
//
// Part of attnjit. Every bad input is rejected before anything is loaded or
// launched, with a message naming the tensor and field. Pointers are fake
// (never dereferenced), so no GPU is needed.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/FlashAttention.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>

using namespace attnjit;

namespace {

void *fake(uintptr_t address) { return reinterpret_cast<void *>(address); }

/// Valid BSHD bf16 arguments: q/out [2, 128, 8, 64], k/v [2, 256, 2, 64], each
/// in its own 256 MiB region so that nothing overlaps.
struct Args {
  int64_t B = 2, Sq = 128, Sk = 256, H = 8, Hkv = 2, D = 64;
  DType dtype = DType::BF16;
  TensorView q = TensorView(fake(0x10000000), dtype, {B, Sq, H, D});
  TensorView k = TensorView(fake(0x20000000), dtype, {B, Sk, Hkv, D});
  TensorView v = TensorView(fake(0x30000000), dtype, {B, Sk, Hkv, D});
  TensorView out = TensorView(fake(0x40000000), dtype, {B, Sq, H, D});
  FlashOptions opts;

  void validate() const { validateFlashArgs(q, k, v, out, opts); }
};

/// Checks that `fn` throws an attnjit::Error of `kind` whose message contains
/// every one of `parts`.
void expectError(const std::function<void()> &fn, ErrorKind kind,
                 std::initializer_list<std::string> parts) {
  try {
    fn();
  } catch (const Error &e) {
    std::string msg = e.what();
    INFO("message: " << msg);
    CHECK(e.kind() == kind);
    for (const std::string &p : parts) {
      INFO("expected to contain: " << p);
      CHECK(msg.find(p) != std::string::npos);
    }
    return;
  }
  FAIL("no attnjit::Error was thrown");
}

void expectInvalid(const Args &a, std::initializer_list<std::string> parts) {
  expectError([&] { a.validate(); }, ErrorKind::InvalidArgument, parts);
}

TensorView withData(const TensorView &t, uintptr_t address) {
  return TensorView(fake(address), t.dtype(), t.shape(), t.strides(), t.device(), t.deviceKind());
}
TensorView withShape(const TensorView &t, std::vector<int64_t> shape,
                     std::vector<int64_t> strides = {}) {
  return TensorView(t.data(), t.dtype(), shape, strides, t.device(), t.deviceKind());
}
TensorView withStrides(const TensorView &t, std::vector<int64_t> strides) {
  return TensorView(t.data(), t.dtype(), t.shape(), strides, t.device(), t.deviceKind());
}
TensorView withDType(const TensorView &t, DType d) {
  return TensorView(t.data(), d, t.shape(), t.strides(), t.device(), t.deviceKind());
}

} // namespace

TEST_CASE("flash validation: valid arguments pass", "[runtime][validation]") {
  Args a;
  CHECK_NOTHROW(a.validate());
  a.opts.causal = true;
  a.opts.softmaxScale = 0.1f;
  a.opts.lse = static_cast<float *>(fake(0x50000000));
  a.opts.config = {128, 64, 8, 2};
  CHECK_NOTHROW(a.validate());
  a.dtype = DType::F16;
  a.q = withDType(a.q, DType::F16);
  a.k = withDType(a.k, DType::F16);
  a.v = withDType(a.v, DType::F16);
  a.out = withDType(a.out, DType::F16);
  CHECK_NOTHROW(a.validate());
  for (int d : {32, 96, 128, 160, 192, 224, 256}) {
    Args b;
    b.q = withShape(b.q, {2, 128, 8, d});
    b.out = withShape(b.out, {2, 128, 8, d});
    b.k = withShape(b.k, {2, 256, 2, d});
    b.v = withShape(b.v, {2, 256, 2, d});
    INFO("head_dim " << d);
    CHECK_NOTHROW(b.validate());
  }
}

TEST_CASE("flash validation: null pointers", "[runtime][validation]") {
  for (const char *name : {"q", "k", "v", "out"}) {
    Args a;
    TensorView *t = name[0] == 'q' ? &a.q : name[0] == 'k' ? &a.k : name[0] == 'v' ? &a.v : &a.out;
    *t = withData(*t, 0);
    expectInvalid(a, {std::string(name) + ".data", "null"});
  }
}

TEST_CASE("flash validation: device kind and index", "[runtime][validation]") {
  Args a;
  a.k = TensorView(a.k.data(), a.dtype, a.k.shape(), {}, 0, DeviceKind::Cpu);
  expectInvalid(a, {"k.device", "expected a CUDA tensor", "cpu:0"});
  Args b;
  b.v = TensorView(b.v.data(), b.dtype, b.v.shape(), {}, 1);
  expectInvalid(b, {"v.device", "expected cuda:0", "got cuda:1"});
}

TEST_CASE("flash validation: rank", "[runtime][validation]") {
  Args a;
  a.q = withShape(a.q, {2 * 128, 8, 64});
  expectInvalid(a, {"q.rank", "expected 4", "got 3"});
}

TEST_CASE("flash validation: dtypes", "[runtime][validation]") {
  Args a;
  a.q = withDType(a.q, DType::F32);
  expectInvalid(a, {"q.dtype", "f16 or bf16", "got f32"});
  Args b;
  b.k = withDType(b.k, DType::F16);
  expectInvalid(b, {"k.dtype", "expected bf16", "got f16"});
  Args c;
  c.out = withDType(c.out, DType::F16);
  expectInvalid(c, {"out.dtype", "expected bf16", "got f16"});
}

TEST_CASE("flash validation: head dims", "[runtime][validation]") {
  Args a;
  a.k = withShape(a.k, {2, 256, 2, 128});
  expectInvalid(a, {"k.shape[3] (head_dim)", "expected 64", "got 128"});
  Args b;
  b.v = withShape(b.v, {2, 256, 2, 32});
  expectInvalid(b, {"v.shape[3] (head_dim)", "expected 64", "got 32"});

  Args c;
  c.q = withShape(c.q, {2, 128, 8, 80});
  c.out = withShape(c.out, {2, 128, 8, 80});
  c.k = withShape(c.k, {2, 256, 2, 80});
  c.v = withShape(c.v, {2, 256, 2, 80});
  expectError([&] { c.validate(); }, ErrorKind::Unsupported, {"head_dim", "got 80"});
  Args d;
  for (TensorView *t : {&d.q, &d.out, &d.k, &d.v}) {
    auto s = t->shape();
    s[3] = 512;
    *t = withShape(*t, s);
  }
  expectError([&] { d.validate(); }, ErrorKind::Unsupported, {"head_dim", "got 512"});
}

TEST_CASE("flash validation: shapes must agree", "[runtime][validation]") {
  Args a;
  a.out = withShape(a.out, {2, 64, 8, 64});
  expectInvalid(a, {"out.shape", "expected [2, 128, 8, 64]", "got [2, 64, 8, 64]"});
  Args b;
  b.v = withShape(b.v, {2, 255, 2, 64});
  expectInvalid(b, {"v.shape", "expected [2, 256, 2, 64]", "got [2, 255, 2, 64]"});
  Args c;
  c.k = withShape(c.k, {3, 256, 2, 64});
  c.v = withShape(c.v, {3, 256, 2, 64});
  expectInvalid(c, {"k.shape[0] (batch)", "expected 2", "got 3"});
  Args d;
  d.k = withShape(d.k, {2, 256, 3, 64});
  d.v = withShape(d.v, {2, 256, 3, 64});
  expectInvalid(d, {"k.shape[2] (num_kv_heads)", "divisor of q's num_heads 8", "got 3"});
}

TEST_CASE("flash validation: zero and negative sizes", "[runtime][validation]") {
  Args a;
  a.q = withShape(a.q, {2, 0, 8, 64}, {8 * 64, 8 * 64, 64, 1});
  expectInvalid(a, {"q.shape[1] (seqlen_q)", "expected > 0", "got 0"});
  Args b;
  b.k = withShape(b.k, {2, -1, 2, 64}, {256 * 2 * 64, 2 * 64, 64, 1});
  expectInvalid(b, {"k.shape[1] (seqlen_k)", "expected > 0", "got -1"});
  Args c;
  c.out = withShape(c.out, {0, 128, 8, 64});
  expectInvalid(c, {"out.shape[0] (batch)", "got 0"});
  Args d;
  d.v = withShape(d.v, {2, 256, 0, 64}, {256 * 2 * 64, 2 * 64, 64, 1});
  expectInvalid(d, {"v.shape[2] (num_kv_heads)", "got 0"});
}

TEST_CASE("flash validation: strides", "[runtime][validation]") {
  Args a;
  a.q = withStrides(a.q, {128 * 8 * 128, 8 * 128, 128, 2});
  expectInvalid(a, {"q.strides[3] (head_dim stride)", "expected 1", "got 2"});
  Args b;
  b.q = withStrides(b.q, {128 * 516, 516, 64, 1});
  expectInvalid(b, {"q.strides[1] (row stride)", "multiple of 8", "got 516"});
  Args c;
  c.k = withStrides(c.k, {256 * 2 * 64, 132, 64, 1});
  expectInvalid(c, {"k.strides[1] (row stride)", "multiple of 8", "got 132"});
  Args c2;
  c2.k = withStrides(c2.k, {256 * 2 * 72, 2 * 72, 68, 1});
  expectInvalid(c2, {"k.strides[2] (head stride)", "multiple of 8", "got 68"});
  Args d;
  d.v = withStrides(d.v, {256 * 2 * 64 + 4, 2 * 64, 64, 1});
  expectInvalid(d, {"v.strides[0] (batch stride)", "multiple of 8", "got 32772"});
  Args e;
  e.out = withStrides(e.out, {-128 * 8 * 64, 8 * 64, 64, 1});
  expectInvalid(e, {"out.strides[0] (batch stride)", "expected >= 0", "got -65536"});

  // Strides of size-1 dimensions are never used, so anything goes there.
  Args f;
  for (TensorView *t : {&f.q, &f.out}) {
    *t = withShape(*t, {1, 128, 8, 64}, {3, 8 * 64, 64, 1});
  }
  f.k = withShape(f.k, {1, 256, 2, 64});
  f.v = withShape(f.v, {1, 256, 2, 64});
  CHECK_NOTHROW(f.validate());
  // Broadcast inputs (stride 0) are fine for reading.
  Args g;
  g.k = withStrides(g.k, {0, 2 * 64, 64, 1});
  CHECK_NOTHROW(g.validate());
}

TEST_CASE("flash validation: alignment", "[runtime][validation]") {
  Args a;
  a.q = withData(a.q, 0x10000008);
  expectInvalid(a, {"q.data", "16-byte aligned", "0x10000008"});
  Args b;
  b.v = withData(b.v, 0x30000002);
  expectInvalid(b, {"v.data", "16-byte aligned"});
  Args c;
  c.opts.lse = static_cast<float *>(fake(0x50000002));
  expectInvalid(c, {"opts.lse", "4-byte aligned", "0x50000002"});
}

TEST_CASE("flash validation: integer ranges", "[runtime][validation]") {
  int64_t big = int64_t(std::numeric_limits<int32_t>::max()) + 1;
  Args a;
  a.q = withShape(a.q, {1, big, 1, 64});
  a.out = withShape(a.out, {1, big, 1, 64});
  a.k = withShape(a.k, {1, 256, 1, 64});
  a.v = withShape(a.v, {1, 256, 1, 64});
  expectInvalid(a, {"q.shape[1] (seqlen_q)", "2147483647", "got 2147483648"});
  Args b;
  for (TensorView *t : {&b.q, &b.out})
    *t = withShape(*t, {1, 8, 65536, 64});
  b.k = withShape(b.k, {1, 8, 1, 64});
  b.v = withShape(b.v, {1, 8, 1, 64});
  expectInvalid(b, {"q.shape[2] (num_heads)", "65535", "got 65536"});
  Args c;
  for (TensorView *t : {&c.q, &c.out})
    *t = withShape(*t, {65536, 8, 1, 64});
  c.k = withShape(c.k, {65536, 8, 1, 64});
  c.v = withShape(c.v, {65536, 8, 1, 64});
  expectInvalid(c, {"q.shape[0] (batch)", "65535", "got 65536"});
  Args d;
  d.k = withStrides(d.k, {int64_t(1) << 62, 2 * 64, 64, 1});
  expectInvalid(d, {"k:", "overflow"});
}

TEST_CASE("flash validation: out must not alias the inputs", "[runtime][validation]") {
  Args a;
  a.out = withData(a.out, 0x10000000 + 128); // 64 bf16 elements into q
  expectInvalid(a, {"out: overlaps q", "must not otherwise alias"});
  Args b;
  b.out = a.q; // exactly q: allowed (in place)
  CHECK_NOTHROW(b.validate());
  Args c;
  c.out = TensorView(c.k.data(), c.dtype, c.q.shape()); // out over k's memory
  expectInvalid(c, {"out: overlaps k"});
  Args d;
  d.out = withData(d.out, 0x30000000 + 4096);
  expectInvalid(d, {"out: overlaps v"});
  Args e;
  e.out = withStrides(e.out, {128 * 8 * 64, 0, 64, 1});
  expectInvalid(e, {"out.strides", "must not overlap itself"});
  Args f;
  f.opts.lse = static_cast<float *>(fake(0x40000000 + 64));
  expectInvalid(f, {"opts.lse: overlaps out"});
  // q, k and v may share memory (e.g. a packed qkv tensor): they are only read.
  Args g;
  g.k = TensorView(g.q.data(), g.dtype, {2, 128, 2, 64}, {128 * 8 * 64, 8 * 64, 64, 1});
  g.v = TensorView(static_cast<char *>(g.q.data()) + 256, g.dtype, {2, 128, 2, 64},
                   {128 * 8 * 64, 8 * 64, 64, 1});
  CHECK_NOTHROW(g.validate());
}

TEST_CASE("flash validation: options", "[runtime][validation]") {
  Args a;
  a.opts.softmaxScale = std::nanf("");
  expectInvalid(a, {"opts.softmaxScale", "finite", "nan"});
  Args b;
  b.opts.softmaxScale = std::numeric_limits<float>::infinity();
  expectInvalid(b, {"opts.softmaxScale", "inf"});
  Args c;
  c.opts.config.blockM = -64;
  expectInvalid(c, {"opts.config", ">= 0"});
}

TEST_CASE("flash validation: BHSD messages use the caller's dimension indices",
          "[runtime][validation]") {
  int64_t B = 2, H = 8, S = 128, D = 64;
  TensorView q(fake(0x10000000), DType::BF16, {B, H, S, D});
  TensorView k(fake(0x20000000), DType::BF16, {B, H, S, D});
  TensorView v(fake(0x30000000), DType::BF16, {B, H, S, D});
  TensorView out(fake(0x40000000), DType::BF16, {B, H, S, D});
  FlashOptions opts;
  CHECK_NOTHROW(validateFlashArgs(q, k, v, out, Layout::BHSD, opts));
  TensorView badK(fake(0x20000000), DType::BF16, {B, 3, S, D});
  expectError([&] { validateFlashArgs(q, badK, badK, out, Layout::BHSD, opts); },
              ErrorKind::InvalidArgument, {"k.shape[1] (num_kv_heads)", "got 3"});
  TensorView badOut(fake(0x40000000), DType::BF16, {B, H, 64, D});
  expectError([&] { validateFlashArgs(q, k, v, badOut, Layout::BHSD, opts); },
              ErrorKind::InvalidArgument,
              {"out.shape", "expected [2, 8, 128, 64]", "got [2, 8, 64, 64]"});
  TensorView badQ(fake(0x10000000), DType::BF16, {B, H, S, D}, {H * S * D, S * D, 68, 1});
  expectError([&] { validateFlashArgs(badQ, k, v, out, Layout::BHSD, opts); },
              ErrorKind::InvalidArgument, {"q.strides[2] (row stride)", "got 68"});
}

TEST_CASE("flash launch arguments and spec", "[runtime][validation]") {
  Args a;
  a.opts.causal = true;
  a.opts.lse = static_cast<float *>(fake(0x50000000));
  a.opts.config = {128, 64, 8, 2};
  FlashLaunchArgs args = makeFlashLaunchArgs(a.q, a.k, a.v, a.out, a.opts);
  CHECK(args.q == a.q.data());
  CHECK(args.o == a.out.data());
  CHECK(args.lse == a.opts.lse);
  CHECK(args.seqlenQ == 128);
  CHECK(args.seqlenK == 256);
  CHECK(args.numHeads == 8);
  CHECK(args.headRatio == 4);
  CHECK(args.qBatchStride == 128 * 8 * 64);
  CHECK(args.qRowStride == 8 * 64);
  CHECK(args.qHeadStride == 64);
  CHECK(args.kBatchStride == 256 * 2 * 64);
  CHECK(args.kRowStride == 2 * 64);
  CHECK(args.vHeadStride == 64);
  CHECK(args.oRowStride == 8 * 64);
  CHECK(args.scaleLog2 == Approx(0.125 * 1.4426950408889634).epsilon(1e-7));
  a.opts.softmaxScale = 0.3f;
  CHECK(makeFlashLaunchArgs(a.q, a.k, a.v, a.out, a.opts).scaleLog2 ==
        Approx(0.3 * 1.4426950408889634).epsilon(1e-6));

  AttentionSpec spec = makeFlashSpec(a.q, a.opts);
  CHECK(spec.variant == Variant::Flash);
  CHECK(spec.headDim == 64);
  CHECK(spec.causal);
  CHECK(spec.returnLse);
  CHECK(spec.dtype == DType::BF16);
  CHECK(spec.config == KernelConfig{128, 64, 8, 2});
  a.opts.lse = nullptr;
  CHECK_FALSE(makeFlashSpec(a.q, a.opts).returnLse);
}

TEST_CASE("flashAttention validates before touching the driver", "[runtime][validation]") {
  Args a;
  a.q = withDType(a.q, DType::F32);
  // Without a driver the error must still be the argument error, not NoDevice.
  expectError([&] { flashAttention(a.q, a.k, a.v, a.out, a.opts, nullptr); },
              ErrorKind::InvalidArgument, {"q.dtype"});
  if (!CudaDriver::get().available()) {
    Args b;
    expectError([&] { flashAttention(b.q, b.k, b.v, b.out, b.opts, nullptr); }, ErrorKind::NoDevice,
                {"CUDA driver"});
  }
}

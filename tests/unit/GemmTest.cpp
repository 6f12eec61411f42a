//===- GemmTest.cpp - linear() checks and the GEMM recipe's kernels -------===//
//
// Part of attnjit. CPU-only: linear()'s argument checks (fake device
// pointers, real messages), the gemm spec, and the kernels of the GEMM
// recipes compiled to PTX (sm_80: mma.sync, ldmatrix and cp.async for
// 16-bit, FMA for f32; sm_90a 16-bit: TMA, wgmma, warp specialization) with
// the entry's parameters matching kGemmParams (+ kGemmTmaParams), and their
// config limits.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Linear.h"
#ifdef ATTNJIT_HAVE_COMPILER
#include "attnjit/Compiler/Compile.h"
#endif

#include <string>

using namespace attnjit;

namespace {
void *fake(uintptr_t a) { return reinterpret_cast<void *>(a); }

std::string check(const TensorView &x, const TensorView &w, const TensorView *b,
                  const TensorView &y, const LinearOptions &o = {}) {
  try {
    validateLinearArgs(x, w, b, y, o);
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    return e.what();
  }
  return {};
}

bool has(const std::string &msg, const std::string &part) {
  INFO(msg);
  return msg.find(part) != std::string::npos;
}
} // namespace

TEST_CASE("linear arguments: valid views pass, each bad field is named", "[gemm]") {
  // x [100, 128] bf16, w [384, 128], bias [384], y [100, 384].
  TensorView X(fake(0x100000), DType::BF16, {100, 128});
  TensorView W(fake(0x200000), DType::BF16, {384, 128});
  TensorView Bv(fake(0x300000), DType::BF16, {384});
  TensorView Y(fake(0x400000), DType::BF16, {100, 384});
  CHECK(check(X, W, &Bv, Y).empty());
  CHECK(check(X, W, nullptr, Y).empty());
  // Odd M and N, strided rows (a slice of a fused output).
  CHECK(check(TensorView(fake(0x100000), DType::F16, {7, 24}),
              TensorView(fake(0x200000), DType::F16, {13, 24}), nullptr,
              TensorView(fake(0x400000), DType::F16, {7, 13}, {40, 1}))
            .empty());

  CHECK(has(check(X, TensorView(fake(0x200000), DType::BF16, {384, 64}), &Bv, Y),
            "w.shape[1] (K): expected 128 (x.shape[1]), got 64"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400000), DType::BF16, {100, 383})),
            "y.shape: expected [100, 384]"));
  TensorView B2(fake(0x300000), DType::BF16, {385});
  CHECK(has(check(X, W, &B2, Y), "bias.shape[0] (N): expected 384"));
  CHECK(has(check(TensorView(fake(0x100000), DType::BF16, {100, 12}),
                  TensorView(fake(0x200000), DType::BF16, {384, 12}), nullptr, Y),
            "x.shape[1] (K): expected a multiple of 8"));
  CHECK(has(check(X, TensorView(fake(0x200000), DType::F16, {384, 128}), &Bv, Y),
            "w.dtype: expected x's dtype bf16, got f16"));
  CHECK(has(check(TensorView(fake(0x100000), DType::Bool, {100, 128}),
                  TensorView(fake(0x200000), DType::Bool, {384, 128}), nullptr,
                  TensorView(fake(0x400000), DType::Bool, {100, 384})),
            "x.dtype: expected f16, bf16 or f32"));
  CHECK(has(check(TensorView(fake(0x100008), DType::BF16, {100, 128}), W, &Bv, Y),
            "x.data: expected a 16-byte aligned pointer"));
  CHECK(has(check(TensorView(fake(0x100000), DType::BF16, {100, 128}, {132, 1}), W, &Bv, Y),
            "x.strides[0]: expected a multiple of 8 elements"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400002), DType::BF16, {100, 384})),
            "y.data: expected a 4-byte aligned pointer"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400000), DType::BF16, {100, 384}, {385, 1})),
            "y.strides[0]: expected an even number"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400000), DType::BF16, {100, 384}, {384, 2})),
            "y.strides[1]: expected 1 (N must be contiguous)"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400000), DType::BF16, {100, 384}, {2, 1})),
            "y: its elements overlap each other"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x100000), DType::BF16, {100, 384})),
            "y: overlaps x in memory"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x300000), DType::BF16, {100, 384})),
            "y: overlaps bias in memory"));
  CHECK(has(check(TensorView(fake(0x100000), DType::BF16, {100, 128, 1}), W, &Bv, Y),
            "x.rank: expected 2 ([M, K])"));
  CHECK(has(check(TensorView(nullptr, DType::BF16, {100, 128}), W, &Bv, Y),
            "x.data: expected a non-null"));
  CHECK(has(check(X, W, &Bv, TensorView(fake(0x400000), DType::BF16, {100, 384}, {}, 0,
                                        DeviceKind::Cpu)),
            "y.device: expected a CUDA tensor"));
  LinearOptions bad;
  bad.config.blockM = -1;
  CHECK(!check(X, W, &Bv, Y, bad).empty());
}

TEST_CASE("linear spec and kernel arguments", "[gemm]") {
  TensorView X(fake(0x100000), DType::F32, {100, 128});
  TensorView W(fake(0x200000), DType::F32, {384, 128});
  TensorView Y(fake(0x400000), DType::F32, {100, 384}, {400, 1});
  AttentionSpec spec = makeLinearSpec(X, {});
  CHECK(spec.variant == Variant::Gemm);
  CHECK(spec.headDim == 0);
  CHECK(spec.dtype == DType::F32);
  CHECK(spec.validate().empty());
  GemmLaunchArgs a = makeLinearLaunchArgs(X, W, nullptr, Y);
  CHECK(a.m == 100);
  CHECK(a.n == 384);
  CHECK(a.k == 128);
  CHECK(a.hasBias == 0);
  CHECK(a.xRowStride == 128);
  CHECK(a.yRowStride == 400);

  // The spec: gemm has no head_dim, causal, lse, mask or dropout.
  AttentionSpec s;
  s.variant = Variant::Gemm;
  CHECK(has(s.validate(), "head_dim: gemm has none"));
  s.headDim = 0;
  s.causal = true;
  CHECK(has(s.validate(), "gemm (y = x w^T + bias) has none of them"));
  s.causal = false;
  auto parsed = AttentionSpec::parse(s.canonical());
  REQUIRE(parsed);
  CHECK(*parsed == s);
}

#ifdef ATTNJIT_HAVE_COMPILER
namespace {
/// Parameters of the entry `name` in `ptx`.
size_t entryParams(const std::string &ptx, const std::string &name) {
  size_t entry = ptx.find(".entry " + name);
  std::string sig = ptx.substr(entry, ptx.find(')', entry) - entry);
  size_t params = 0;
  for (size_t p = sig.find(".param"); p != std::string::npos; p = sig.find(".param", p + 1))
    ++params;
  return params;
}
} // namespace

TEST_CASE("gemm kernels compile for sm_80, sm_90 and sm_90a", "[gemm]") {
  for (DType dt : {DType::BF16, DType::F16, DType::F32})
    for (const char *arch : {"sm_80", "sm_90", "sm_90a"}) {
      AttentionSpec s;
      s.variant = Variant::Gemm;
      s.headDim = 0;
      s.dtype = dt;
      s.arch = arch;
      INFO(s.canonical());
      CompiledKernel ck = compileAttention(s);
      const KernelConfig &c = ck.spec.config;
      CHECK(c.isComplete());
      CHECK(ck.ptx.find(".entry " + s.kernelName()) != std::string::npos);
      // 16-bit GEMMs on sm_90a take the wgmma recipe; f32 (exact FMAs) and
      // the other archs take gemm-sm80.
      const bool wgmma = dt != DType::F32 && std::string(arch) == "sm_90a";
      CHECK(recipeName(s) == (wgmma ? "gemm-sm90a" : "gemm-sm80"));
      if (dt == DType::F32) {
        CHECK(ck.ptx.find("fma.rn.f32") != std::string::npos);
        CHECK(ck.ptx.find("mma.sync") == std::string::npos);
        CHECK(entryParams(ck.ptx, s.kernelName()) == kNumGemmParams);
      } else if (wgmma) {
        // TMA loads and stores, wgmma from shared memory, warp specialization.
        CHECK(ck.ptx.find("wgmma.mma_async.sync.aligned.m64n" + std::to_string(c.blockN) +
                          "k16.f32." + (dt == DType::F16 ? "f16.f16" : "bf16.bf16")) !=
              std::string::npos);
        CHECK(ck.ptx.find("cp.async.bulk.tensor.2d.shared::cluster.global") != std::string::npos);
        CHECK(ck.ptx.find("cp.async.bulk.tensor.2d.global.shared::cta") != std::string::npos);
        CHECK(ck.ptx.find("fence.proxy.async.shared::cta") != std::string::npos);
        CHECK(ck.ptx.find("setmaxnreg") != std::string::npos);
        CHECK(ck.ptx.find("mma.sync") == std::string::npos);
        CHECK(ck.ptx.find("cp.async.cg") == std::string::npos);
        CHECK(c.numWarps == 4 * (c.blockM / 64 + 1));
        // The ring, one 64-row staging tile per consumer warpgroup, two
        // barriers per slot.
        CHECK(ck.sharedMemBytes() == c.stages * (c.blockM + c.blockN) * 128 +
                                         c.blockM * c.blockN * 2 + 16 * c.stages);
        CHECK(ck.threadsPerBlock() == 32 * c.numWarps);
        CHECK(entryParams(ck.ptx, s.kernelName()) == kNumGemmParams + kNumGemmTmaParams);
        REQUIRE(ck.plan.kernels.size() == 1);
        CHECK(ck.plan.kernels[0].params.size() == kNumGemmParams + kNumGemmTmaParams);
        CHECK(ck.plan.kernels[0].blockRows == c.blockM);
      } else {
        CHECK(ck.ptx.find("mma.sync.aligned.m16n8k16") != std::string::npos);
        CHECK(ck.ptx.find("ldmatrix.sync.aligned") != std::string::npos);
        CHECK(ck.ptx.find("cp.async.cg.shared.global") != std::string::npos);
        CHECK(ck.ptx.find("wgmma") == std::string::npos);
        CHECK(ck.sharedMemBytes() == c.stages * (c.blockM + c.blockN) * 64);
        CHECK(entryParams(ck.ptx, s.kernelName()) == kNumGemmParams);
      }
    }
}

TEST_CASE("sm_90a gemm kernels of every tile shape compile", "[gemm]") {
  // One and two consumer warpgroups, every block_n (64-column store panels),
  // deep and shallow rings.
  for (KernelConfig c : {KernelConfig{64, 64, 8, 2}, KernelConfig{64, 256, 8, 4},
                         KernelConfig{128, 192, 12, 3}, KernelConfig{128, 256, 12, 3},
                         KernelConfig{128, 64, 12, 8}}) {
    AttentionSpec s;
    s.variant = Variant::Gemm;
    s.headDim = 0;
    s.dtype = DType::BF16;
    s.arch = "sm_90a";
    s.config = c;
    INFO(c.str());
    CompiledKernel ck = compileAttention(s);
    CHECK(ck.spec.config == c);
    CHECK(ck.ptx.find("wgmma.mma_async.sync.aligned.m64n" + std::to_string(c.blockN) + "k16") !=
          std::string::npos);
    // setmaxnreg only where two consumer warpgroups need more than 168 registers.
    CHECK((ck.ptx.find("setmaxnreg") != std::string::npos) == (c.blockM == 128));
    CHECK(ck.sharedMemBytes() ==
          c.stages * (c.blockM + c.blockN) * 128 + c.blockM * c.blockN * 2 + 16 * c.stages);
  }
}

TEST_CASE("gemm configs outside the recipe's limits are refused with the reason", "[gemm]") {
  auto refuse = [](KernelConfig c, DType dt, const std::string &part,
                   const char *arch = "sm_80") {
    AttentionSpec s;
    s.variant = Variant::Gemm;
    s.headDim = 0;
    s.dtype = dt;
    s.arch = arch;
    s.config = c;
    try {
      compileAttention(s);
      FAIL("compiled " << c.str() << " for " << arch);
    } catch (const Error &e) {
      CHECK(has(e.what(), part));
    }
  };
  refuse({128, 128, 3, 3}, DType::BF16, "gemm takes 2, 4 or 8 warps");
  refuse({80, 128, 4, 3}, DType::BF16, "block_m must be a multiple of 16 * warps / 2 (32)");
  refuse({128, 48, 4, 3}, DType::BF16, "block_n must be a multiple of 32");
  refuse({128, 128, 4, 1}, DType::BF16, "stages must be 2..6");
  refuse({256, 256, 2, 3}, DType::BF16, "exceeds 64 x 64");
  refuse({64, 64, 8, 2}, DType::F32, "stages must be 1");
  refuse({64, 32, 8, 1}, DType::F32, "(block_m / 4) * (block_n / 4) = 32 * warps (256)");
  // sm_90a, 16-bit: the wgmma recipe's own limits.
  refuse({96, 128, 8, 3}, DType::BF16, "block_m must be 64 or 128", "sm_90a");
  refuse({128, 128, 8, 3}, DType::BF16,
         "block_m 128 takes 2 consumer warpgroups and one producer, so warps must be 12, got 8",
         "sm_90a");
  refuse({128, 96, 12, 3}, DType::F16, "block_n must be 64, 128, 192 or 256", "sm_90a");
  refuse({128, 320, 12, 3}, DType::BF16, "block_n must be 64, 128, 192 or 256", "sm_90a");
  refuse({128, 128, 12, 1}, DType::BF16, "stages must be 2..8", "sm_90a");
  refuse({128, 256, 12, 6}, DType::BF16, "bytes of shared memory, sm_90a allows at most",
         "sm_90a");
  // f32 on sm_90a is gemm-sm80's: its limits apply.
  refuse({64, 64, 8, 2}, DType::F32, "stages must be 1", "sm_90a");
}
#endif

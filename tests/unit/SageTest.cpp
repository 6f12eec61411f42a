//===- SageTest.cpp - Sage plans, workspace layout and validation ---------===//
//
// Part of attnjit. Without a GPU: sageAttention()'s argument checks (fake
// pointers, never dereferenced), the workspace layout, and the four-kernel
// plan the compiler builds for a Sage spec (names, launch shapes, signature,
// the recipe's limits and the archs it refuses).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Core/SageKernelABI.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/SageAttention.h"

#include <functional>
#include <limits>
#include <utility>
#include <string>

using namespace attnjit;

namespace {

void *fake(uintptr_t address) { return reinterpret_cast<void *>(address); }

struct Args {
  int64_t B = 2, Sq = 300, Sk = 1000, H = 8, Hkv = 2, D = 128;
  DType dtype = DType::BF16;
  TensorView q = TensorView(fake(0x10000000), dtype, {B, Sq, H, D});
  TensorView k = TensorView(fake(0x20000000), dtype, {B, Sk, Hkv, D});
  TensorView v = TensorView(fake(0x30000000), dtype, {B, Sk, Hkv, D});
  TensorView out = TensorView(fake(0x40000000), dtype, {B, Sq, H, D});
  SageOptions opts;
  void validate() const { validateSageArgs(q, k, v, out, opts); }
};

std::string messageOf(const std::function<void()> &fn, ErrorKind kind) {
  try {
    fn();
  } catch (const Error &e) {
    CHECK(e.kind() == kind);
    return e.what();
  }
  FAIL("no attnjit::Error was thrown");
  return {};
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

AttentionSpec sageSpec(int d, const std::string &arch) {
  AttentionSpec s;
  s.variant = Variant::Sage;
  s.headDim = d;
  s.arch = arch;
  return s;
}

} // namespace

TEST_CASE("sage validation: flash's tensor checks, Sage's options", "[sage][validation]") {
  Args a;
  a.validate();
  a.opts.causal = true;
  a.opts.granularity = Granularity::PerBlock;
  a.opts.pvAccum = PvAccum::Fp32;
  a.opts.smoothK = false;
  a.validate();
  // BHSD through the layout overload.
  validateSageArgs(TensorView(fake(0x10000000), a.dtype, {a.B, a.H, a.Sq, a.D}),
                   TensorView(fake(0x20000000), a.dtype, {a.B, a.Hkv, a.Sk, a.D}),
                   TensorView(fake(0x30000000), a.dtype, {a.B, a.Hkv, a.Sk, a.D}),
                   TensorView(fake(0x40000000), a.dtype, {a.B, a.H, a.Sq, a.D}), Layout::BHSD,
                   a.opts);

  Args bad;
  bad.q = TensorView(fake(0x10000000), DType::F32, {bad.B, bad.Sq, bad.H, bad.D});
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "q.dtype: expected f16 or bf16, got f32"));
  bad = Args();
  bad.k = TensorView(fake(0x20000000), bad.dtype, {bad.B, bad.Sk, 3, bad.D});
  bad.v = TensorView(fake(0x30000000), bad.dtype, {bad.B, bad.Sk, 3, bad.D});
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "num_kv_heads): expected a divisor of q's num_heads 8, got 3"));
  bad = Args();
  bad.opts.lse = static_cast<float *>(fake(0x40000002));
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "opts.lse: expected a 4-byte aligned pointer"));
  bad = Args();
  bad.opts.softmaxScale = std::numeric_limits<float>::infinity();
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "opts.softmaxScale: expected a finite value"));
  bad = Args();
  bad.opts.workspace = fake(0x50000010);
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "opts.workspace: expected a 256-byte aligned device pointer"));
  bad = Args();
  bad.opts.workspaceBytes = 4096;
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "opts.workspaceBytes: 4096 given without opts.workspace"));
  bad = Args();
  bad.q = TensorView(fake(0x10000000), bad.dtype, {bad.B, bad.Sq, bad.H, 80});
  bad.k = TensorView(fake(0x20000000), bad.dtype, {bad.B, bad.Sk, bad.Hkv, 80});
  bad.v = TensorView(fake(0x30000000), bad.dtype, {bad.B, bad.Sk, bad.Hkv, 80});
  bad.out = TensorView(fake(0x40000000), bad.dtype, {bad.B, bad.Sq, bad.H, 80});
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::Unsupported),
                 "sage supports head sizes 32, 64, 96, 128, 160, 192, 224 and 256, got 80"));
  bad = Args();
  bad.out = TensorView(fake(0x20000000), bad.dtype, {bad.B, bad.Sq, bad.H, bad.D});
  CHECK(contains(messageOf([&] { bad.validate(); }, ErrorKind::InvalidArgument),
                 "out: overlaps k in memory"));
}

TEST_CASE("sage workspace layout: padded, aligned, sized per granularity", "[sage]") {
  AttentionSpec s = sageSpec(128, "sm_90a");
  s.config = {128, 64, 8, 2};
  SageWorkspaceLayout w = sageWorkspaceLayout(s, 2, 8, 2, 300, 1000);
  CHECK(w.seqQPad == 384);
  CHECK(w.seqKPad == 1024);
  CHECK(w.reduceChunks == 1);
  CHECK(w.reduceRows == 1000);
  for (uint64_t off : {w.qI8, w.qScale, w.qKmean, w.kI8, w.kScale, w.vF8, w.vScale, w.kSumPart,
                       w.vMaxPart, w.kRangePart, w.kChan, w.totalBytes})
    CHECK(off % 256 == 0);
  CHECK(w.qScale - w.qI8 >= uint64_t(2 * 8 * 384 * 128));
  CHECK(w.vScale - w.vF8 >= uint64_t(2 * 2 * 2 * 128 * 1024)); // V_hi and V_lo planes
  // K's max and min per chunk; channel factors and means per kv head.
  CHECK(w.kChan - w.kRangePart >= uint64_t(2 * 2 * 1 * 2 * 128 * 4));
  CHECK(w.totalBytes - w.kChan >= uint64_t(2 * 2 * 2 * 128 * 4));
  // per_thread: 64 Q groups per 128-row block and 4 K groups per key block.
  CHECK(sageQGroupsPerBlock(s) == 64);
  CHECK(sageKGroupsPerBlock(s) == 4);
  s.granularity = Granularity::PerWarp;
  CHECK(sageQGroupsPerBlock(s) == 8);
  CHECK(sageKGroupsPerBlock(s) == 1);
  s.granularity = Granularity::PerBlock;
  CHECK(sageQGroupsPerBlock(s) == 1);
  // Long sequences split the key reduction into at most 16 chunks.
  SageWorkspaceLayout longK = sageWorkspaceLayout(s, 1, 12, 12, 32760, 32760);
  CHECK(longK.reduceChunks == 16);
  CHECK(int64_t(longK.reduceChunks) * longK.reduceRows >= 32760);
}

TEST_CASE("sage plan: four kernels with the sage ABI and a per-launch workspace", "[sage]") {
  for (auto [arch, d] : {std::pair<const char *, int>{"sm_89", 32}, {"sm_89", 96},
                         {"sm_90a", 128}, {"sm_90a", 256}}) {
      AttentionSpec s = sageSpec(d, arch);
      s.causal = d == 96;
      s.returnLse = d == 128;
      CompiledKernel k = compileAttention(s);
      INFO(k.plan.summary());
      REQUIRE(k.plan.kernels.size() == size_t(kSageNumKernels));
      CHECK(k.plan.validate().empty());
      CHECK(k.plan.workspace.perLaunch);
      CHECK(k.abiVersion == kSageAbiVersion);
      std::string base = k.spec.kernelName();
      for (int i = 0; i < kSageNumKernels; ++i) {
        CHECK(k.plan.kernels[size_t(i)].entryName == base + kSageKernelSuffixes[i]);
        CHECK(k.plan.kernels[size_t(i)].params.size() == kNumSageParams);
        CHECK(contains(k.ptx, ".entry " + base + kSageKernelSuffixes[i] + "("));
      }
      CHECK(k.plan.kernels[0].blockRows == 1); // one CTA per key chunk
      CHECK(k.plan.kernels[1].blockRows == k.spec.config.blockN);
      CHECK(k.plan.kernels[3].blockRows == k.spec.config.blockM);
      CHECK(contains(k.ptx, "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"));
      CHECK(contains(k.ptx, "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32"));
      CHECK(contains(k.ptx, "cvt.rn.satfinite.e4m3x2.f32"));
      CHECK(contains(k.ptx, "cvt.rn.f16x2.e4m3x2")); // the residuals of P and V
      // quant_kv takes each channel's factor as a rounded square root (the
      // same f_c must reach quant_q, which only reads it).
      auto entryText = [&](int i) {
        size_t at = k.ptx.find(".entry " + base + kSageKernelSuffixes[i] + "(");
        size_t end = k.ptx.find(".entry ", at + 1);
        return at == std::string::npos ? std::string() : k.ptx.substr(at, end - at);
      };
      CHECK(contains(entryText(1), "sqrt.rn.f32"));
      CHECK(!contains(entryText(2), "sqrt"));
    }
}

TEST_CASE("sage recipe: archs, configs and head sizes it refuses say why", "[sage]") {
  auto error = [](const AttentionSpec &s) {
    return messageOf([&] { compileToStage(s, Stage::Kernel); }, ErrorKind::Unsupported);
  };
  CHECK(contains(error(sageSpec(128, "sm_80")), "arch: no sage recipe targets sm_80 with bf16 (recipes: "
                                                "sage-sm80)"));
  AttentionSpec s = sageSpec(128, "sm_90a");
  s.config = {128, 32, 8, 2};
  CHECK(contains(error(s), "config: block_n must be 64 or 128"));
  s.config = {96, 64, 2, 2};
  CHECK(contains(error(s), "config: block_m (96) must be 64 or 128"));
  s = sageSpec(256, "sm_90a");
  s.config = {128, 64, 8, 2};
  CHECK(contains(error(s), "block_m and block_n times head_dim must be at most 16384"));
  AttentionSpec bad = sageSpec(80, "sm_90a");
  CHECK(contains(messageOf([&] { compileToStage(bad, Stage::Kernel); },
                           ErrorKind::InvalidArgument),
                 "head_dim: sage supports 32, 64"));
  // Each Sage field reaches the kernel: other granularities emit other code.
  AttentionSpec a = sageSpec(64, "sm_90a"), b = a;
  b.granularity = Granularity::PerBlock;
  CHECK(compileToStage(a, Stage::Kernel) != compileToStage(b, Stage::Kernel));
  b = a;
  b.pvAccum = PvAccum::Fp32;
  CHECK(compileToStage(a, Stage::Kernel) != compileToStage(b, Stage::Kernel));
  b = a;
  b.smoothK = false;
  CHECK(compileToStage(a, Stage::Kernel) != compileToStage(b, Stage::Kernel));
}

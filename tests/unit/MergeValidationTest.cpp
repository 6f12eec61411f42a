//===- MergeValidationTest.cpp - mergeAttentionStates argument checks -----===//
//
// Part of attnjit. Every check runs before the driver is touched, so these
// need no GPU: fake device pointers, real messages.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/MergeAttention.h"

#include <limits>
#include <string>

using namespace attnjit;

namespace {
void *fake(uintptr_t a) { return reinterpret_cast<void *>(a); }

/// The message validateMergeArgs throws, or "" when it accepts.
std::string check(const TensorView &p, const TensorView &l, const TensorView &o,
                  const MergeOptions &mo = {}) {
  try {
    validateMergeArgs(p, l, o, mo);
  } catch (const Error &e) {
    return e.what();
  }
  return {};
}
} // namespace

TEST_CASE("merge arguments: valid views pass, each bad field is named", "[merge]") {
  // parts [2, 1, 8, 2, 64] bf16 at 0x100000, lse [2, 1, 2, 8] f32 at
  // 0x200000, out [1, 8, 2, 64] at 0x300000.
  TensorView P(fake(0x100000), DType::BF16, {2, 1, 8, 2, 64});
  TensorView L(fake(0x200000), DType::F32, {2, 1, 2, 8});
  TensorView O(fake(0x300000), DType::BF16, {1, 8, 2, 64});
  CHECK(check(P, L, O).empty());

  CHECK(check(P, TensorView(fake(0x200000), DType::F32, {2, 1, 8, 2}), O)
            .find("parts_lse.shape: expected [2, 1, 2, 8]") != std::string::npos);
  CHECK(check(P, TensorView(fake(0x200000), DType::BF16, {2, 1, 2, 8}), O)
            .find("parts_lse.dtype: expected f32") != std::string::npos);
  CHECK(check(P, L, TensorView(fake(0x300000), DType::F16, {1, 8, 2, 64}))
            .find("out.dtype: expected parts' dtype bf16") != std::string::npos);
  CHECK(check(P, L, TensorView(fake(0x300000), DType::BF16, {1, 8, 3, 64}))
            .find("out.shape") != std::string::npos);
  CHECK(check(P, L, TensorView(fake(0x100000), DType::BF16, {1, 8, 2, 64}))
            .find("out: overlaps parts") != std::string::npos);
  CHECK(check(TensorView(fake(0x100000), DType::BF16, {2, 1, 8, 2, 64}, {2048, 2048, 256, 128, 2}),
              L, O)
            .find("parts.strides[4]: expected 1") != std::string::npos);
  CHECK(check(TensorView(fake(0x100000), DType::BF16, {2, 1, 8, 64}), L, O)
            .find("parts.rank: expected 5") != std::string::npos);
  CHECK(check(TensorView(fake(0x100001), DType::BF16, {2, 1, 8, 2, 64}), L, O)
            .find("parts.data: expected a 2-byte aligned pointer") != std::string::npos);
  CHECK(check(TensorView(nullptr, DType::BF16, {2, 1, 8, 2, 64}), L, O)
            .find("parts.data: expected a non-null") != std::string::npos);
  CHECK(check(TensorView(fake(0x100000), DType::Bool, {2, 1, 8, 2, 64}), L,
              TensorView(fake(0x300000), DType::Bool, {1, 8, 2, 64}))
            .find("parts.dtype: expected f16, bf16 or f32") != std::string::npos);
  // Out whose rows alias each other.
  CHECK(check(P, L, TensorView(fake(0x300000), DType::BF16, {1, 8, 2, 64}, {1024, 0, 64, 1}))
            .find("out: its elements overlap each other") != std::string::npos);

  MergeOptions mo;
  mo.lse = static_cast<float *>(fake(0x200010)); // inside parts_lse
  CHECK(check(P, L, O, mo).find("opts.lse: overlaps parts_lse") != std::string::npos);
  mo.lse = static_cast<float *>(fake(0x400002));
  CHECK(check(P, L, O, mo).find("opts.lse: expected a 4-byte aligned pointer") !=
        std::string::npos);
  mo.lse = nullptr;
  mo.config.blockM = -1;
  CHECK(check(P, L, O, mo).find("opts.config") != std::string::npos);

  // Head sizes past 256 are Unsupported, not InvalidArgument.
  TensorView bigP(fake(0x100000), DType::F32, {2, 1, 8, 2, 300});
  TensorView bigO(fake(0x900000), DType::F32, {1, 8, 2, 300});
  try {
    validateMergeArgs(bigP, L, bigO, {});
    FAIL("head_dim 300 accepted");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
    CHECK(std::string(e.what()).find("head_dim") != std::string::npos);
  }
}

TEST_CASE("merge spec and arguments mirror the views", "[merge]") {
  TensorView P(fake(0x100000), DType::F16, {3, 2, 5, 4, 40}, {1600, 800, 160, 40, 1});
  TensorView L(fake(0x200000), DType::F32, {3, 2, 4, 5});
  TensorView O(fake(0x300000), DType::F16, {2, 5, 4, 40}, {2000, 400, 100, 1});
  MergeOptions mo;
  mo.lse = static_cast<float *>(fake(0x400000));
  AttentionSpec spec = makeMergeSpec(P, mo);
  CHECK(spec.variant == Variant::Merge);
  CHECK(spec.headDim == 40);
  CHECK(spec.dtype == DType::F16);
  CHECK(spec.returnLse);
  CHECK(spec.validate().empty());
  MergeLaunchArgs a = makeMergeLaunchArgs(P, L, O, mo);
  CHECK(a.numParts == 3);
  CHECK(a.seqlen == 5);
  CHECK(a.numHeads == 4);
  CHECK(a.partStride == 1600);
  CHECK(a.partRowStride == 160);
  CHECK(a.partHeadStride == 40);
  CHECK(a.lsePartStride == 40);
  CHECK(a.lseHeadStride == 5);
  CHECK(a.lseRowStride == 1);
  CHECK(a.oRowStride == 400);
  CHECK(a.oHeadStride == 100);
  AttentionSpec causal = spec;
  causal.causal = true;
  CHECK(causal.validate().find("causal") != std::string::npos);
}

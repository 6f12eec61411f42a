//===- AttnSpecBridgeTest.cpp - AttentionSpec <-> attn module -------------===//
//
// Part of attnjit. The spec -> attn module -> spec round trip, through the
// text-level API of libattnjit_compiler (its MLIR symbols are hidden).
//
//===----------------------------------------------------------------------===//
#ifdef ATTNJIT_HAVE_COMPILER
#include "attnjit/Compiler/OptMain.h"
#include "attnjit/Core/AttentionSpec.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace attnjit;

namespace {

AttentionSpec makeSpec(Variant variant, int headDim, DType dtype) {
  AttentionSpec spec;
  spec.variant = variant;
  spec.headDim = headDim;
  spec.dtype = dtype;
  return spec;
}

std::vector<AttentionSpec> roundTripSpecs() {
  std::vector<AttentionSpec> specs;
  specs.push_back(makeSpec(Variant::Flash, 128, DType::BF16));

  AttentionSpec flash = makeSpec(Variant::Flash, 64, DType::F16);
  flash.causal = true;
  flash.returnLse = true;
  flash.arch = "sm_80";
  flash.config = {128, 64, 4, 3};
  specs.push_back(flash);

  AttentionSpec flash256 = makeSpec(Variant::Flash, 256, DType::BF16);
  flash256.arch = "sm_120a";
  specs.push_back(flash256);

  AttentionSpec sdpaBool = makeSpec(Variant::Sdpa, 80, DType::F32);
  sdpaBool.maskKind = MaskKind::Bool;
  sdpaBool.dropout = true;
  specs.push_back(sdpaBool);

  AttentionSpec sdpaAdd = makeSpec(Variant::Sdpa, 1, DType::F16);
  sdpaAdd.maskKind = MaskKind::Additive;
  sdpaAdd.returnLse = true;
  sdpaAdd.causal = true;
  sdpaAdd.config = {64, 32, 4, 1};
  specs.push_back(sdpaAdd);

  specs.push_back(makeSpec(Variant::Sdpa, 256, DType::BF16));

  AttentionSpec sage = makeSpec(Variant::Sage, 64, DType::F16);
  sage.causal = true;
  sage.config = {128, 128, 8, 2};
  sage.arch = "sm_89";
  specs.push_back(sage);

  AttentionSpec sageLse = makeSpec(Variant::Sage, 128, DType::BF16);
  sageLse.returnLse = true;
  specs.push_back(sageLse);
  return specs;
}

} // namespace

TEST_CASE("specFromOp(buildAttnModule(spec)) round-trips the spec", "[dialect]") {
  for (const AttentionSpec &spec : roundTripSpecs()) {
    INFO("spec: " << spec.canonical());
    std::string error;
    std::string text = printAttnModule(spec, &error);
    INFO("module:\n" << text << "\nerror: " << error);
    REQUIRE(!text.empty());
    CHECK(text.find("attn.target = \"" + spec.arch + "\"") != std::string::npos);
    CHECK(text.find("func.func @" + spec.kernelName() + "(") != std::string::npos);
    CHECK(text.find("attn." + std::string(toString(spec.variant)) + " ") != std::string::npos);
    CHECK(text.find("#attn.layout<bshd>") != std::string::npos);

    std::optional<AttentionSpec> back = parseSpecFromAttnText(text, &error);
    INFO("parse error: " << error);
    REQUIRE(back.has_value());
    CHECK(back->canonical() == spec.canonical());
  }
}

TEST_CASE("buildAttnModule rejects specs no kernel can run", "[dialect]") {
  std::string error;
  AttentionSpec badHeadDim = makeSpec(Variant::Flash, 100, DType::BF16);
  CHECK(printAttnModule(badHeadDim, &error).empty());
  CHECK(error.find("head_dim") != std::string::npos);
  CHECK(error.find("100") != std::string::npos);

  AttentionSpec partialConfig = makeSpec(Variant::Flash, 128, DType::BF16);
  partialConfig.config.blockM = 64;
  error.clear();
  CHECK(printAttnModule(partialConfig, &error).empty());
  CHECK(error.find("config") != std::string::npos);

  AttentionSpec oldArch = makeSpec(Variant::Sage, 128, DType::F16);
  oldArch.arch = "sm_75";
  error.clear();
  CHECK(printAttnModule(oldArch, &error).empty());
  CHECK(error.find("sm_75") != std::string::npos);
}

TEST_CASE("parseSpecFromAttnText reads hand-written modules", "[dialect]") {
  std::string error;
  SECTION("no attn.target means sm_90a; config, mask and dropout are read") {
    const char *text = R"mlir(
      func.func @f(%q: memref<?x?x?x96xbf16>, %m: memref<?x1x?x?xbf16>,
                   %o: memref<?x?x?x96xbf16>) {
        attn.sdpa ins(%q, %q, %q : memref<?x?x?x96xbf16>, memref<?x?x?x96xbf16>,
                                   memref<?x?x?x96xbf16>)
                  mask(%m : memref<?x1x?x?xbf16>) outs(%o : memref<?x?x?x96xbf16>)
                  {causal, dropout, layout = #attn.layout<bhsd>,
                   num_heads = 8 : i64, num_kv_heads = 2 : i64,
                   config = #attn.config<block_m = 64, block_n = 64, warps = 4, stages = 2>}
        return
      })mlir";
    std::optional<AttentionSpec> spec = parseSpecFromAttnText(text, &error);
    INFO(error);
    REQUIRE(spec.has_value());
    CHECK(spec->variant == Variant::Sdpa);
    CHECK(spec->headDim == 96);
    CHECK(spec->dtype == DType::BF16);
    CHECK(spec->causal);
    CHECK(spec->maskKind == MaskKind::Additive);
    CHECK(spec->dropout);
    CHECK_FALSE(spec->returnLse);
    CHECK(spec->arch == "sm_90a");
    CHECK(spec->config == KernelConfig{64, 64, 4, 2});
  }
  SECTION("verifier errors are reported") {
    const char *text = R"mlir(
      func.func @f(%q: memref<?x?x?x128xf16>, %k: memref<?x?x?x64xf16>) {
        attn.flash ins(%q, %k, %k : memref<?x?x?x128xf16>, memref<?x?x?x64xf16>,
                                    memref<?x?x?x64xf16>)
                   outs(%q : memref<?x?x?x128xf16>)
                   {layout = #attn.layout<bshd>}
        return
      })mlir";
    CHECK_FALSE(parseSpecFromAttnText(text, &error).has_value());
    CHECK(error.find("head_dim of 'k' (64) must equal head_dim of 'q' (128)") !=
          std::string::npos);
  }
  SECTION("syntax errors are reported") {
    CHECK_FALSE(parseSpecFromAttnText("func.func @f( {", &error).has_value());
    CHECK_FALSE(error.empty());
  }
  SECTION("exactly one attn op is required") {
    CHECK_FALSE(parseSpecFromAttnText("module {}", &error).has_value());
    CHECK(error.find("found 0") != std::string::npos);
  }
}
#endif // ATTNJIT_HAVE_COMPILER

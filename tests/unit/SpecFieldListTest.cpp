//===- SpecFieldListTest.cpp - Every spec field reaches every key ---------===//
//
// Part of attnjit. AttentionSpec::forEachField is the one field list; the
// canonical text, parse, the memory-cache key, the disk-cache key and the attn
// op are derived from it or checked against it. These tests change each field
// in turn, iterating over the list itself, so a field added to the list is
// covered without touching this file: a key that ignores it, or a bridge that
// drops it, fails here instead of launching the wrong kernel.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/DiskCache.h"
#ifdef ATTNJIT_HAVE_COMPILER
#include "attnjit/Compiler/OptMain.h"
#endif

#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

using namespace attnjit;

namespace {

//===----------------------------------------------------------------------===//
// Candidate values per field type
//===----------------------------------------------------------------------===//

std::vector<Variant> candidates(Variant) { return {Variant::Flash, Variant::Sdpa, Variant::Sage}; }
std::vector<DType> candidates(DType) {
  return {DType::F16, DType::BF16, DType::F32, DType::Bool, DType::I8, DType::F8E4M3};
}
std::vector<MaskKind> candidates(MaskKind) {
  return {MaskKind::None, MaskKind::Bool, MaskKind::Additive, MaskKind::BoolHides};
}
std::vector<Granularity> candidates(Granularity) {
  return {Granularity::PerBlock, Granularity::PerWarp, Granularity::PerThread};
}
std::vector<PvAccum> candidates(PvAccum) { return {PvAccum::Fp32, PvAccum::Fp32Fp32}; }
// An array, not std::vector<bool>, whose proxy references would not be bools.
std::array<bool, 2> candidates(bool) { return {false, true}; }
std::vector<int> candidates(int) { return {0, 1, 16, 32, 64, 80, 96, 128, 256}; }
std::vector<std::string> candidates(const std::string &) {
  return {"sm_80", "sm_86", "sm_90a", "sm_120a"};
}

/// Sets the field at `index` (forEachField order) of `spec` to `value`.
template <class T> void setField(AttentionSpec &spec, int index, const T &value) {
  int i = 0;
  spec.forEachField([&](std::string_view, auto &member) {
    if constexpr (std::is_same_v<std::decay_t<decltype(member)>, T>)
      if (i == index)
        member = value;
    ++i;
  });
}

std::vector<std::string> splitItems(const std::string &text) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string::npos)
      end = text.size();
    items.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return items;
}

/// Three specs whose fields between them take every field off its default: a
/// flash one, an sdpa one with a mask (mask_per_key and dropout need it) and a
/// sage one (granularity, smooth_k and pv_accum need it).
std::vector<AttentionSpec> baseSpecs() {
  AttentionSpec flash;
  flash.variant = Variant::Flash;
  flash.headDim = 64;
  flash.dtype = DType::BF16;
  flash.arch = "sm_80";
  flash.config = {64, 64, 4, 2};
  AttentionSpec sdpa;
  sdpa.variant = Variant::Sdpa;
  sdpa.headDim = 64;
  sdpa.dtype = DType::F16;
  sdpa.maskKind = MaskKind::Bool;
  sdpa.arch = "sm_90a";
  sdpa.config = {128, 64, 4, 2};
  AttentionSpec sage;
  sage.variant = Variant::Sage;
  sage.headDim = 128;
  sage.arch = "sm_90a";
  return {flash, sdpa, sage};
}

/// One spec with one field changed.
struct Mutation {
  int index;
  std::string key;
  AttentionSpec base, changed;
};

/// Every (base, field, candidate) whose candidate differs from the base value.
std::vector<Mutation> mutations() {
  std::vector<Mutation> out;
  for (const AttentionSpec &base : baseSpecs()) {
    int index = 0;
    base.forEachField([&](std::string_view key, const auto &value) {
      for (const auto &candidate : candidates(value)) {
        if (candidate == value)
          continue;
        Mutation m{index, std::string(key), base, base};
        setField(m.changed, index, candidate);
        out.push_back(m);
      }
      ++index;
    });
  }
  return out;
}

bool isConfigKey(const std::string &key) {
  return key == "block_m" || key == "block_n" || key == "warps" || key == "stages";
}

} // namespace

TEST_CASE("spec field list: keys, count and the canonical text format", "[spec]") {
  std::vector<std::string> keys;
  AttentionSpec().forEachField([&](std::string_view key, const auto &) {
    keys.emplace_back(key);
  });
  CHECK(keys.size() == size_t(AttentionSpec::kNumFields));
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
  // The format existing cache entries and bundles are keyed by: keys, order
  // and value spelling must not change.
  CHECK(AttentionSpec().canonical() ==
        "variant=flash;head_dim=128;causal=0;dtype=bf16;lse=0;mask=none;mask_per_key=0;"
        "dropout=0;arch=sm_90a;block_m=0;block_n=0;warps=0;stages=0;granularity=per_thread;"
        "smooth_k=1;pv_accum=fp32_fp32");
  AttentionSpec s;
  s.variant = Variant::Sdpa;
  s.headDim = 80;
  s.causal = true;
  s.dtype = DType::F16;
  s.returnLse = true;
  s.maskKind = MaskKind::Additive;
  s.maskPerKey = true;
  s.dropout = true;
  s.arch = "sm_80";
  s.config = {128, 32, 4, 2};
  CHECK(s.canonical() ==
        "variant=sdpa;head_dim=80;causal=1;dtype=f16;lse=1;mask=additive;mask_per_key=1;"
        "dropout=1;arch=sm_80;block_m=128;block_n=32;warps=4;stages=2;granularity=per_thread;"
        "smooth_k=1;pv_accum=fp32_fp32");
  CHECK(memoryKeyFields(s) ==
        SpecKeyFields{int64_t(Variant::Sdpa), 80, 1, int64_t(DType::F16), 1,
                      int64_t(MaskKind::Additive), 1, 1, 0, 128, 32, 4, 2,
                      int64_t(Granularity::PerThread), 1, int64_t(PvAccum::Fp32Fp32)});
  AttentionSpec sage;
  sage.variant = Variant::Sage;
  sage.granularity = Granularity::PerWarp;
  sage.smoothK = false;
  sage.pvAccum = PvAccum::Fp32;
  CHECK(sage.canonical() ==
        "variant=sage;head_dim=128;causal=0;dtype=bf16;lse=0;mask=none;mask_per_key=0;"
        "dropout=0;arch=sm_90a;block_m=0;block_n=0;warps=0;stages=0;granularity=per_warp;"
        "smooth_k=0;pv_accum=fp32");
  CHECK(sage.kernelName() == "attnjit_sage_d128_bf16_perwarp_nosmoothk_pvfp32_sm90a");
}

TEST_CASE("spec field list: every field changes canonical text, parse, memory and disk keys",
          "[spec]") {
  std::map<std::string, int> covered;
  for (const Mutation &m : mutations()) {
    const AttentionSpec &base = m.base, &changed = m.changed;
    INFO("field " << m.key << ": " << base.canonical() << " -> " << changed.canonical());
    ++covered[m.key];

    // Exactly the field's own item of the canonical text changes.
    std::vector<std::string> before = splitItems(base.canonical()),
                             after = splitItems(changed.canonical());
    REQUIRE(before.size() == size_t(AttentionSpec::kNumFields));
    REQUIRE(after.size() == before.size());
    for (size_t i = 0; i < before.size(); ++i) {
      if (int(i) == m.index) {
        CHECK(before[i] != after[i]);
        CHECK(after[i].rfind(m.key + "=", 0) == 0);
      } else {
        CHECK(before[i] == after[i]);
      }
    }
    CHECK(!(base == changed));

    std::string error;
    std::optional<AttentionSpec> parsed = AttentionSpec::parse(changed.canonical(), &error);
    INFO("parse error: " << error);
    REQUIRE(parsed.has_value());
    CHECK(parsed->canonical() == changed.canonical());
    CHECK(memoryKeyFields(*parsed) == memoryKeyFields(changed));
    CHECK(parsed->arch == changed.arch);

    // The memory cache keys on the context too, whose device fixes the arch.
    if (m.key == "arch")
      CHECK(memoryKeyFields(changed) == memoryKeyFields(base));
    else
      CHECK(memoryKeyFields(changed) != memoryKeyFields(base));

    CHECK(computeCacheKey(changed, "build") != computeCacheKey(base, "build"));

    // Kernels that differ only in their tiling share a symbol name (they
    // live in different modules); everything else is in the name.
    if (isConfigKey(m.key))
      CHECK(changed.kernelName() == base.kernelName());
    else if (!(m.key == "mask_per_key" && changed.maskKind == MaskKind::None))
      CHECK(changed.kernelName() != base.kernelName());
  }
  AttentionSpec().forEachField([&](std::string_view key, const auto &) {
    INFO("field " << key);
    CHECK(covered[std::string(key)] > 0);
  });
}

TEST_CASE("spec field list: parse takes every key, rejects unknown keys and bad values",
          "[spec]") {
  std::string error;
  CHECK(!AttentionSpec::parse("variant=flash;colour=blue", &error));
  CHECK(error == "spec: unknown key 'colour'");
  CHECK(!AttentionSpec::parse("head_dim=1x", &error));
  CHECK(error == "spec: bad value '1x' for key 'head_dim'");
  CHECK(!AttentionSpec::parse("causal=yes", &error));
  CHECK(error == "spec: bad value 'yes' for key 'causal'");
  CHECK(!AttentionSpec::parse("dtype=f64", &error));
  CHECK(error == "spec: bad value 'f64' for key 'dtype'");
  CHECK(!AttentionSpec::parse("head_dim", &error));
  CHECK(error == "spec: expected key=value, got 'head_dim'");
  // Aliases and the hand-written form: missing keys keep their defaults.
  std::optional<AttentionSpec> s = AttentionSpec::parse("dtype=float16;causal=true;;arch=sm_80");
  REQUIRE(s);
  CHECK(s->dtype == DType::F16);
  CHECK(s->causal);
  CHECK(s->headDim == 128);
  CHECK(s->arch == "sm_80");
}

TEST_CASE("dtypes i8 and f8e4m3: names, sizes, and no current kernel takes them", "[spec]") {
  CHECK(toString(DType::I8) == "i8");
  CHECK(toString(DType::F8E4M3) == "f8e4m3");
  CHECK(parseDType("i8") == DType::I8);
  CHECK(parseDType("int8") == DType::I8);
  CHECK(parseDType("f8e4m3") == DType::F8E4M3);
  CHECK(parseDType("float8_e4m3fn") == DType::F8E4M3);
  CHECK(dtypeSize(DType::I8) == 1);
  CHECK(dtypeSize(DType::F8E4M3) == 1);
  for (Variant variant : {Variant::Flash, Variant::Sdpa, Variant::Sage})
    for (DType dtype : {DType::I8, DType::F8E4M3}) {
      AttentionSpec s;
      s.variant = variant;
      s.headDim = 64;
      s.dtype = dtype;
      std::string expected =
          "dtype: " + std::string(toString(dtype)) +
          " is a quantized dtype of the Sage kernels, not an input type; q, k and v of " +
          std::string(toString(variant)) + " must be " +
          (variant == Variant::Sdpa ? "f16, bf16 or f32" : "f16 or bf16");
      CHECK(s.validate() == expected);
    }
}

TEST_CASE("sage fields: names, parse, and only sage specs change them", "[spec]") {
  CHECK(toString(Granularity::PerBlock) == "per_block");
  CHECK(parseGranularity("per_thread") == Granularity::PerThread);
  CHECK(!parseGranularity("per_row"));
  CHECK(parsePvAccum("fp32+fp32") == PvAccum::Fp32Fp32); // the spelling
  CHECK(!parsePvAccum("fp16"));
  AttentionSpec flash;
  flash.smoothK = false;
  CHECK(flash.validate() == "granularity/smooth_k/pv_accum: only sage specs quantize; a flash spec "
                            "keeps the defaults (per_thread, 1, fp32_fp32), got per_thread, 0, "
                            "fp32_fp32");
  AttentionSpec sage;
  sage.variant = Variant::Sage;
  for (int d = 32; d <= 256; d += 32) {
    sage.headDim = d;
    CHECK(sage.validate().empty());
  }
  sage.headDim = 80;
  CHECK(sage.validate() == "head_dim: sage supports 32, 64, 96, 128, 160, 192, 224, 256; got 80");
  std::optional<AttentionSpec> parsed =
      AttentionSpec::parse("variant=sage;granularity=per_block;smooth_k=0;pv_accum=fp32");
  REQUIRE(parsed);
  CHECK(parsed->granularity == Granularity::PerBlock);
  CHECK_FALSE(parsed->smoothK);
  CHECK(parsed->pvAccum == PvAccum::Fp32);
}

TEST_CASE("checkArch: the one arch check", "[spec]") {
  CHECK(checkArch("sm_80").empty());
  CHECK(checkArch("sm_90a").empty());
  CHECK(checkArch("sm_120a").empty());
  CHECK(checkArch("sm_100f") == "expected sm_<NN>[a] (e.g. sm_80, sm_90a), got 'sm_100f'");
  CHECK(checkArch("gfx942") == "expected sm_<NN>[a] (e.g. sm_80, sm_90a), got 'gfx942'");
  CHECK(checkArch("sm_75") == "attnjit kernels need sm_80 or newer, got 'sm_75'");
  AttentionSpec s;
  s.arch = "sm_100f";
  CHECK(s.validate() == "arch: " + checkArch("sm_100f"));
}

#ifdef ATTNJIT_HAVE_COMPILER
TEST_CASE("spec field list: every field survives spec -> attn op -> spec", "[spec][dialect]") {
  std::map<std::string, int> bridged;
  for (const Mutation &m : mutations()) {
    const AttentionSpec &changed = m.changed;
    const KernelConfig &c = changed.config;
    bool configAllOrNothing = c.isComplete() || (!c.blockM && !c.blockN && !c.numWarps && !c.stages);
    if (!changed.validate().empty() || !configAllOrNothing)
      continue; // the bridge rejects it; the op verifier tests pin why
    INFO("field " << m.key << ": " << changed.canonical());
    std::string error;
    std::string text = printAttnModule(changed, &error);
    INFO("error: " << error);
    REQUIRE(!text.empty());
    std::optional<AttentionSpec> back = parseSpecFromAttnText(text, &error);
    INFO("module:\n" << text << "\nerror: " << error);
    REQUIRE(back.has_value());
    CHECK(back->canonical() == changed.canonical());
    ++bridged[m.key];
  }
  AttentionSpec().forEachField([&](std::string_view key, const auto &) {
    INFO("field " << key << " has no valid changed spec to bridge");
    CHECK(bridged[std::string(key)] > 0);
  });
}

TEST_CASE("dtypes i8 and f8e4m3: the attn op verifier rejects them for q", "[spec][dialect]") {
  for (auto [dtype, mlirType] : {std::pair{DType::I8, "i8"}, {DType::F8E4M3, "f8E4M3FN"}}) {
    AttentionSpec s;
    s.headDim = 64;
    s.dtype = dtype;
    std::string error;
    CHECK(printAttnModule(s, &error).empty());
    CHECK(error.find("'attn.flash' op element type of 'q' must be f16 or bf16, got " +
                     std::string(mlirType)) != std::string::npos);
  }
}
#endif

//===- BackendSelectorTest.cpp - Registry, selector, fallbacks, extras ----===//
//
// Part of attnjit. Selector precedence (explicit > ATTNJIT_ATTENTION_BACKEND >
// caller default > automatic), logged fallbacks and strict errors, unknown
// names, SAGE_ATTN's place, supported head sizes and typed extras. No GPU.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "CacheTestSupport.h"

#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/BackendImpls.h"
#include "attnjit/Runtime/Error.h"

#include <string>

using namespace attnjit;
using attnjit::testing::LogCapture;
using attnjit::testing::ScopedEnv;

namespace {

/// The attnjit::Error `fn` throws (FAIL when it throws none).
template <typename Fn> Error thrownBy(Fn &&fn) {
  try {
    fn();
  } catch (const Error &e) {
    return e;
  }
  FAIL("expected an attnjit::Error");
  return Error(ErrorKind::Io, "unreachable");
}

bool contains(const std::string &text, const std::string &part) {
  return text.find(part) != std::string::npos;
}

std::string nameOf(const BackendSelection &s) { return std::string(s.backend->name()); }

} // namespace

TEST_CASE("registry: built-in names, aliases and SAGE_ATTN's place", "[backend]") {
  BackendRegistry &reg = BackendRegistry::instance();
  CHECK(reg.names() == std::vector<std::string>{"FLASH_ATTN", "SDPA", "SAGE_ATTN"});
  CHECK(reg.find("flash_attn")->name() == kFlashAttnBackend);
  CHECK(reg.find("TORCH_SDPA")->name() == kSdpaBackend);
  CHECK(reg.find("torch_sdpa")->name() == kSdpaBackend);
  CHECK(reg.find("SAGE_ATTN") != nullptr);
  CHECK(reg.find("XFORMERS") == nullptr);

  Error e = thrownBy([&] { reg.get("XFORMERS"); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "'XFORMERS' is not known"));
  CHECK(contains(e.what(), "FLASH_ATTN, SDPA (alias TORCH_SDPA), SAGE_ATTN"));

  // Automatic order: FLASH_ATTN before SDPA; SAGE_ATTN never.
  auto order = reg.automaticOrder();
  REQUIRE(order.size() == 2);
  CHECK(order[0]->name() == kFlashAttnBackend);
  CHECK(order[1]->name() == kSdpaBackend);
}

TEST_CASE("registry: duplicates are refused unless replacing", "[backend]") {
  BackendRegistry reg;
  Error e = thrownBy([&] { reg.add(std::make_shared<SdpaBackend>()); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "SDPA is already registered"));
  auto replacement = std::make_shared<SdpaBackend>();
  reg.add(replacement, /*replace=*/true);
  CHECK(reg.find("SDPA") == replacement);
  CHECK(reg.names().size() == 3);
}

TEST_CASE("backends: supported head sizes and dtypes", "[backend]") {
  BackendRegistry &reg = BackendRegistry::instance();
  auto flash = reg.get("FLASH_ATTN"), sdpa = reg.get("SDPA"), sage = reg.get("SAGE_ATTN");
  CHECK(flash->supportedHeadSizes() == std::vector<int>{32, 64, 96, 128, 160, 192, 224, 256});
  CHECK(flash->supportedDTypes() == std::vector<DType>{DType::F16, DType::BF16});
  CHECK(flash->acceptsOutputBuffer());
  CHECK_FALSE(flash->supportsHeadSize(80));
  std::vector<int> sdpaSizes = sdpa->supportedHeadSizes();
  REQUIRE(sdpaSizes.size() == 256);
  CHECK(sdpaSizes.front() == 1);
  CHECK(sdpaSizes.back() == 256);
  CHECK(sdpa->supportsHeadSize(80));
  CHECK_FALSE(sdpa->supportsHeadSize(257));
  CHECK(sdpa->supportedDTypes() == std::vector<DType>{DType::F16, DType::BF16, DType::F32});
  CHECK(sage->supportedHeadSizes() == flash->supportedHeadSizes());
  CHECK(sage->supportedDTypes() == std::vector<DType>{DType::F16, DType::BF16});

  CHECK(flash->unsupportedReason(80, DType::BF16, {}) ==
        "head size 80 is not one of 32, 64, 96, 128, 160, 192, 224, 256");
  CHECK(sdpa->unsupportedReason(300, DType::BF16, {}) == "head size 300 is not one of 1..256");
  CHECK(flash->unsupportedReason(64, DType::F32, {}) == "dtype f32 is not one of f16, bf16");
  CHECK(flash->unsupportedReason(64, DType::BF16, {{"dropout_p", 0.1}}) ==
        "dropout_p=0.1 (FLASH_ATTN has no dropout; SDPA does)");
  CHECK(flash->unsupportedReason(64, DType::BF16, {{"dropout_p", 0.0}}).empty());
}

TEST_CASE("selector: explicit > env > caller default > automatic", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  SelectorOptions opts;
  auto pick = [&] { return selectAttentionBackend(128, DType::BF16, opts); };

  BackendSelection s = pick();
  CHECK(nameOf(s) == "FLASH_ATTN");
  CHECK(s.source == SelectionSource::Automatic);
  CHECK(s.requested == nullptr);
  CHECK_FALSE(s.isFallback());

  opts.callerDefault = "SDPA";
  s = pick();
  CHECK(nameOf(s) == "SDPA");
  CHECK(s.source == SelectionSource::CallerDefault);

  {
    ScopedEnv set(kAttentionBackendEnv, "FLASH_ATTN");
    s = pick();
    CHECK(nameOf(s) == "FLASH_ATTN");
    CHECK(s.source == SelectionSource::Env);

    opts.requested = "torch_sdpa";
    s = pick();
    CHECK(nameOf(s) == "SDPA");
    CHECK(s.source == SelectionSource::Explicit);
    opts.requested.clear();
  }
  {
    ScopedEnv empty(kAttentionBackendEnv, ""); // empty counts as unset
    s = pick();
    CHECK(nameOf(s) == "SDPA");
    CHECK(s.source == SelectionSource::CallerDefault);
  }
  // Automatic picks SDPA where FLASH_ATTN cannot serve, without a warning.
  opts.callerDefault.clear();
  LogCapture log;
  s = selectAttentionBackend(80, DType::BF16, opts);
  CHECK(nameOf(s) == "SDPA");
  CHECK(s.source == SelectionSource::Automatic);
  CHECK_FALSE(s.isFallback());
  CHECK(log.countWarnings() == 0);
}

TEST_CASE("selector: fallbacks are logged with their reason", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  SelectorOptions opts;
  opts.requested = "FLASH_ATTN";
  struct Case {
    int headSize;
    DType dtype;
    ImplArgs extra;
    std::string reason;
  };
  const Case cases[] = {
      {80, DType::BF16, {}, "head size 80 is not one of 32, 64"},
      {64, DType::F32, {}, "dtype f32 is not one of f16, bf16"},
      {64, DType::F16, {{"dropout_p", 0.25}}, "dropout_p=0.25"},
  };
  for (const Case &c : cases) {
    LogCapture log;
    BackendSelection s = selectAttentionBackend(c.headSize, c.dtype, opts, c.extra);
    INFO(log.text());
    CHECK(nameOf(s) == "SDPA");
    CHECK(s.requested->name() == kFlashAttnBackend);
    CHECK(s.isFallback());
    CHECK(contains(s.fallbackReason, c.reason));
    CHECK(log.countWarnings(c.reason) == 1);
    CHECK(log.countWarnings("FLASH_ATTN (requested explicitly) cannot serve") == 1);
    CHECK(log.countWarnings("falling back to SDPA") == 1);
  }
  // The same through the env var and the caller's default names the source.
  {
    ScopedEnv set(kAttentionBackendEnv, "FLASH_ATTN");
    LogCapture log;
    selectAttentionBackend(80, DType::BF16, {});
    CHECK(log.countWarnings("FLASH_ATTN (from ATTNJIT_ATTENTION_BACKEND)") == 1);
  }
  LogCapture log;
  SelectorOptions byDefault;
  byDefault.callerDefault = "FLASH_ATTN";
  selectAttentionBackend(80, DType::BF16, byDefault);
  CHECK(log.countWarnings("FLASH_ATTN (the caller's default)") == 1);
}

TEST_CASE("selector: strict mode turns fallbacks into errors", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  SelectorOptions opts;
  opts.requested = "FLASH_ATTN";
  opts.strict = true;
  LogCapture log;
  Error e = thrownBy([&] { selectAttentionBackend(80, DType::BF16, opts); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "FLASH_ATTN (requested explicitly) cannot serve head_size=80"));
  CHECK(contains(e.what(), "head size 80 is not one of"));
  CHECK(contains(e.what(), "strict"));
  e = thrownBy([&] { selectAttentionBackend(64, DType::F32, opts); });
  CHECK(contains(e.what(), "dtype f32"));
  CHECK(log.countWarnings() == 0);
  // Strict with a backend that serves is an ordinary selection.
  CHECK(nameOf(selectAttentionBackend(64, DType::F32, {"SDPA", "", true})) == "SDPA");
}

TEST_CASE("selector: unknown names are errors listing the known ones", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  Error e = thrownBy([] { selectAttentionBackend(64, DType::BF16, {"FLASH", "", false}); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "'FLASH' (requested explicitly) is not known"));
  CHECK(contains(e.what(), "FLASH_ATTN, SDPA (alias TORCH_SDPA), SAGE_ATTN"));

  ScopedEnv set(kAttentionBackendEnv, "xformers");
  e = thrownBy([] { selectAttentionBackend(64, DType::BF16, {}); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "'xformers' (from ATTNJIT_ATTENTION_BACKEND) is not known"));
}

TEST_CASE("selector: SAGE_ATTN serves by name, falls back logged, strict fails", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  SelectorOptions opts;
  opts.requested = "SAGE_ATTN";
  CHECK(nameOf(selectAttentionBackend(128, DType::BF16, opts)) == "SAGE_ATTN");
  CHECK(nameOf(selectAttentionBackend(256, DType::F16, opts)) == "SAGE_ATTN");
  {
    // f32 is not Sage's: SDPA serves it, and the log says why.
    LogCapture log;
    BackendSelection s = selectAttentionBackend(128, DType::F32, opts);
    CHECK(nameOf(s) == "SDPA");
    CHECK(s.isFallback());
    CHECK(log.countWarnings("dtype f32 is not one of f16, bf16") == 1);
  }
  opts.strict = true;
  Error e = thrownBy([&] { selectAttentionBackend(80, DType::BF16, opts); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "head size 80 is not one of 32, 64, 96, 128, 160, 192, 224, 256"));

  auto sage = BackendRegistry::instance().get("SAGE_ATTN");
  CHECK(sage->unsupportedReason(64, DType::BF16, {{"granularity", std::string("per_row")}}) ==
        "granularity='per_row' is not one of per_block, per_warp, per_thread");
  CHECK(sage->unsupportedReason(64, DType::BF16, {{"pv_accum", std::string("fp16")}}) ==
        "pv_accum='fp16' is not one of fp32, fp32_fp32");
  CHECK(sage->unsupportedReason(64, DType::BF16, {{"dropout_p", 0.5}}) ==
        "dropout_p=0.5 (SAGE_ATTN has no dropout; SDPA does)");
  CHECK(sage->unsupportedReason(64, DType::BF16,
                                {{"granularity", std::string("per_warp")},
                                 {"smooth_k", false},
                                 {"pv_accum", std::string("fp32")}})
            .empty());

  ImplParams p;
  p.numHeads = 8;
  p.headSize = 128;
  p.softmaxScale = 0.5f;
  p.causal = true;
  p.extra = {{"granularity", std::string("per_block")}, {"smooth_k", false},
             {"pv_accum", std::string("fp32")}};
  auto impl = sage->makeImpl(p);
  auto *sageImpl = dynamic_cast<SageAttnImpl *>(impl.get());
  REQUIRE(sageImpl != nullptr);
  SageOptions o = sageImpl->options(AttentionMetadata());
  CHECK(o.causal);
  CHECK(o.softmaxScale == 0.5f); // honoured, unlike FastVideo's Sage backend
  CHECK(o.granularity == Granularity::PerBlock);
  CHECK_FALSE(o.smoothK);
  CHECK(o.pvAccum == PvAccum::Fp32);
  p.extra = {{"qk_quant_gran", std::string("per_warp")}};
  e = thrownBy([&] { sage->makeImpl(p); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "qk_quant_gran"));
}

TEST_CASE("selector: nothing serves -> every reason", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  Error e = thrownBy([] { selectAttentionBackend(300, DType::BF16, {}); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "no attention backend serves head_size=300 dtype=bf16"));
  CHECK(contains(e.what(), "FLASH_ATTN: head size 300"));
  CHECK(contains(e.what(), "SDPA: head size 300 is not one of 1..256"));

  LogCapture log;
  e = thrownBy([] { selectAttentionBackend(300, DType::BF16, {"FLASH_ATTN", "", false}); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "no fallback serves it either"));
}

TEST_CASE("impl extras are typed, and unknown keys and bad values are named", "[backend]") {
  ImplArgs args{{"dropout_p", int64_t(0)}, {"name", std::string("x")}, {"flag", true}};
  CHECK(args.getDouble("dropout_p") == 0.0); // an integer reads as a double
  CHECK(args.getBool("flag") == true);
  CHECK_FALSE(args.getInt("missing").has_value());
  Error e = thrownBy([&] { args.getInt("name"); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "extra argument 'name': expected an integer, got string \"x\""));
  CHECK(args.str() == "{dropout_p=0, flag=true, name=\"x\"}");

  auto sdpa = BackendRegistry::instance().get("SDPA");
  ImplParams p;
  p.numHeads = 4;
  p.headSize = 80;
  p.prefix = "blocks.0.attn";
  p.extra = {{"dropout_p", 0.1}, {"dropout_seed", int64_t(7)}};
  auto impl = sdpa->makeImpl(p);
  CHECK(static_cast<SdpaImpl &>(*impl).dropoutP() == Approx(0.1f));
  CHECK(impl->numKvHeads() == 4);
  CHECK(impl->softmaxScale() == Approx(1.0 / std::sqrt(80.0)));

  p.extra = {{"dropout_q", 0.1}};
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "unknown extra argument 'dropout_q'"));
  CHECK(contains(e.what(), "blocks.0.attn"));
  p.extra = {{"dropout_p", 1.5}};
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "'dropout_p' must be in [0, 1), got 1.5"));
  p.extra = {{"dropout_seed", int64_t(-1)}};
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "'dropout_seed' must be >= 0"));
  p.extra = {{"dropout_p", std::string("0.1")}};
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "'dropout_p': expected a number"));

  // FLASH_ATTN refuses dropout and head sizes it cannot run when making an impl.
  auto flash = BackendRegistry::instance().get("FLASH_ATTN");
  p.headSize = 64;
  p.extra = {{"dropout_p", 0.1}};
  e = thrownBy([&] { flash->makeImpl(p); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "dropout_p=0.1"));
  p.extra = {};
  p.headSize = 80;
  e = thrownBy([&] { flash->makeImpl(p); });
  CHECK(e.kind() == ErrorKind::Unsupported);
  CHECK(contains(e.what(), "head size 80"));
}

TEST_CASE("impl parameters are checked", "[backend]") {
  auto sdpa = BackendRegistry::instance().get("SDPA");
  ImplParams p;
  p.numHeads = 6;
  p.headSize = 64;
  p.numKvHeads = 4;
  Error e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(e.kind() == ErrorKind::InvalidArgument);
  CHECK(contains(e.what(), "num_kv_heads must be a positive divisor of num_heads 6, got 4"));
  p.numKvHeads = 2;
  p.softmaxScale = std::numeric_limits<float>::infinity();
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "softmax_scale must be finite"));
  p.softmaxScale = 0.5f;
  auto impl = sdpa->makeImpl(p);
  CHECK(impl->softmaxScale() == 0.5f);
  CHECK(impl->numKvHeads() == 2);
  CHECK(impl->backendName() == "SDPA");
  p.numHeads = 0;
  e = thrownBy([&] { sdpa->makeImpl(p); });
  CHECK(contains(e.what(), "num_heads must be > 0"));
}

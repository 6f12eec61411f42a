//===- BackendImplTest.cpp - Impl forward, hooks, metadata, layer ---------===//
//
// Part of attnjit. forward() rejects every bad input with a message naming it
// before anything touches the driver (pointers are fake and never
// dereferenced); hooks run on every path and in order; metadata builders and
// the zero-copy field view; DLPack views through the interface; the layer's
// kv_cache and fallback rules. No GPU.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "CacheTestSupport.h"

#include "attnjit/Runtime/AttentionLayer.h"
#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/BackendImpls.h"
#include "attnjit/Runtime/Error.h"

#include <functional>
#include <string>

using namespace attnjit;
using attnjit::testing::ScopedEnv;

namespace {

void *at(uintptr_t address) { return reinterpret_cast<void *>(address); }

/// The message of the attnjit::Error that `fn` must throw, of kind `kind`.
std::string messageOf(const std::function<void()> &fn, ErrorKind kind) {
  std::optional<Error> caught;
  try {
    fn();
  } catch (const Error &e) {
    caught = e;
  }
  REQUIRE(caught.has_value());
  INFO(caught->what());
  CHECK(caught->kind() == kind);
  return caught->what();
}

/// BSHD q/out [2, 64, 8, D], k/v [2, 96, 2, D] at fake, disjoint addresses.
struct Operands {
  int64_t B = 2, Sq = 64, Sk = 96, H = 8, Hkv = 2, D = 64;
  DType dtype = DType::BF16;
  TensorView q = TensorView(at(0x10000000), dtype, {B, Sq, H, D});
  TensorView k = TensorView(at(0x20000000), dtype, {B, Sk, Hkv, D});
  TensorView v = TensorView(at(0x30000000), dtype, {B, Sk, Hkv, D});
  TensorView out = TensorView(at(0x40000000), dtype, {B, Sq, H, D});
};

ImplParams paramsFor(const Operands &o) {
  ImplParams p;
  p.numHeads = int(o.H);
  p.numKvHeads = int(o.Hkv);
  p.headSize = int(o.D);
  p.prefix = "test.attn";
  return p;
}

TensorView reshaped(const TensorView &t, std::vector<int64_t> shape,
                    std::vector<int64_t> strides = {}) {
  return TensorView(t.data(), t.dtype(), shape, strides, t.device(), t.deviceKind());
}

/// Records every call of the hook/check/launch sequence.
struct CallLog {
  std::vector<std::string> calls;
  QkvViews seen;
  TensorView seenOut;
};

/// An impl that computes nothing: it records, so ordering is testable
/// without a device.
class RecordingImpl : public AttentionImpl {
public:
  RecordingImpl(const ImplParams &p, CallLog &log) : AttentionImpl("RECORDING", p), log_(log) {}
  void preprocessQkv(QkvViews &, const AttentionMetadata &, CUstream) override {
    log_.calls.push_back("preprocess");
  }
  void postprocessOutput(TensorView &, const AttentionMetadata &, CUstream) override {
    log_.calls.push_back("postprocess");
  }

protected:
  void check(const QkvViews &, const AttentionMetadata &, const TensorView &) const override {
    log_.calls.push_back("check");
  }
  void launch(const QkvViews &qkv, const AttentionMetadata &, const TensorView &out,
              CUstream) override {
    log_.calls.push_back("launch");
    log_.seen = qkv;
    log_.seenOut = out;
  }

private:
  CallLog &log_;
};

class RecordingBackend : public AttentionBackend {
public:
  explicit RecordingBackend(CallLog &log, bool acceptsOut = true)
      : log_(log), acceptsOut_(acceptsOut) {}
  std::string_view name() const override { return "RECORDING"; }
  bool acceptsOutputBuffer() const override { return acceptsOut_; }
  std::vector<int> supportedHeadSizes() const override { return {64}; }
  std::vector<DType> supportedDTypes() const override { return {DType::BF16}; }
  bool causalAlignedBottomRight() const override { return true; }
  int autoPriority() const override { return -1; }
  std::unique_ptr<AttentionMetadata> makeMetadata(int64_t t) const override {
    return std::make_unique<AttentionMetadata>(t);
  }
  std::unique_ptr<AttentionMetadataBuilder> makeMetadataBuilder() const override {
    return SdpaBackend().makeMetadataBuilder();
  }

protected:
  std::unique_ptr<AttentionImpl> createImpl(const ImplParams &p) const override {
    return std::make_unique<RecordingImpl>(p, log_);
  }

private:
  CallLog &log_;
  bool acceptsOut_;
};

/// A built-in impl whose hooks count their calls.
template <typename Impl> class CountingImpl : public Impl {
public:
  using Impl::Impl;
  int pre = 0, post = 0;
  void preprocessQkv(QkvViews &qkv, const AttentionMetadata &m, CUstream s) override {
    ++pre;
    Impl::preprocessQkv(qkv, m, s);
  }
  void postprocessOutput(TensorView &out, const AttentionMetadata &m, CUstream s) override {
    ++post;
    Impl::postprocessOutput(out, m, s);
  }
};

/// One bad input and the words its message must contain.
struct BadInput {
  const char *what;
  std::function<void(Operands &, SdpaMetadata &)> mutate;
  std::vector<std::string> words;
};

/// forward() with and without `out` rejects every bad input with
/// InvalidArgument before the driver is touched (without a GPU that would be
/// NoDevice; with one, the fake pointers would never get that far either).
template <typename Impl> void expectRejected(const std::vector<BadInput> &cases) {
  for (const BadInput &c : cases) {
    for (bool withOut : {true, false}) {
      Operands o;
      SdpaMetadata meta(3);
      c.mutate(o, meta);
      CountingImpl<Impl> impl(paramsFor(Operands{}));
      INFO(c.what << (withOut ? " (out given)" : " (no out)"));
      std::string msg = messageOf(
          [&] {
            impl.forward(o.q, o.k, o.v, meta,
                         withOut ? std::optional<TensorView>(o.out) : std::nullopt, nullptr);
          },
          ErrorKind::InvalidArgument);
      for (const std::string &w : c.words) {
        INFO("expected to contain: " << w);
        CHECK(msg.find(w) != std::string::npos);
      }
      CHECK(impl.pre == 1);  // preprocess runs before the checks ...
      CHECK(impl.post == 0); // ... and nothing after a failed one
      CHECK(impl.ownedBufferBytes() == 0);
    }
  }
}

std::vector<BadInput> commonBadInputs() {
  return {
      {"cpu tensor",
       [](Operands &o, SdpaMetadata &) {
         o.q = TensorView(o.q.data(), o.q.dtype(), o.q.shape(), {}, 0, DeviceKind::Cpu);
       },
       {"q.device", "cpu"}},
      {"k dtype differs",
       [](Operands &o, SdpaMetadata &) { o.k = TensorView(o.k.data(), DType::F16, o.k.shape()); },
       {"k.dtype", "f16"}},
      {"head size differs from the impl's",
       [](Operands &o, SdpaMetadata &) {
         o.q = reshaped(o.q, {o.B, o.Sq, o.H, 128});
       },
       {"q.shape[3] (head_dim)", "expected 64", "head_size", "got 128"}},
      {"num_heads differs from the impl's",
       [](Operands &o, SdpaMetadata &) {
         o.q = reshaped(o.q, {o.B, o.Sq, 4, o.D});
       },
       {"q.shape[2] (num_heads)", "expected 8", "got 4"}},
      {"num_kv_heads differs from the impl's",
       [](Operands &o, SdpaMetadata &) {
         o.v = reshaped(o.v, {o.B, o.Sk, 4, o.D});
       },
       {"v.shape[2] (num_kv_heads)", "expected 2", "got 4"}},
      {"rank",
       [](Operands &o, SdpaMetadata &) {
         o.k = reshaped(o.k, {o.B * o.Sk, o.Hkv, o.D});
       },
       {"k.rank", "expected 4", "got 3"}},
      {"batch mismatch",
       [](Operands &o, SdpaMetadata &) {
         o.k = reshaped(o.k, {1, o.Sk, o.Hkv, o.D});
         o.v = reshaped(o.v, {1, o.Sk, o.Hkv, o.D});
       },
       {"k.shape[0] (batch)"}},
      {"head_dim stride",
       [](Operands &o, SdpaMetadata &) {
         o.v = reshaped(o.v, o.v.shape(), {o.Sk * o.Hkv * o.D * 2, o.Hkv * o.D * 2, o.D * 2, 2});
       },
       {"v.strides[3]", "expected 1"}},
      {"null pointer",
       [](Operands &o, SdpaMetadata &) { o.q = reshaped(TensorView(), o.q.shape()); },
       {"q.data"}},
  };
}

} // namespace

TEST_CASE("FLASH_ATTN forward: every bad input is named before the driver", "[backend]") {
  std::vector<BadInput> cases = commonBadInputs();
  cases.push_back({"f32 (flash runs f16/bf16)",
                   [](Operands &o, SdpaMetadata &) {
                     for (TensorView *t : {&o.q, &o.k, &o.v, &o.out})
                       *t = TensorView(t->data(), DType::F32, t->shape());
                   },
                   {"q.dtype", "expected f16 or bf16", "f32"}});
  cases.push_back({"a mask in the metadata",
                   [](Operands &o, SdpaMetadata &m) {
                     m.attnMask = TensorView(at(0x50000000), DType::Bool, {o.B, o.Sk});
                   },
                   {"metadata.attn_mask", "FLASH_ATTN", "select SDPA"}});
  cases.push_back({"is_causal differing from the impl",
                   [](Operands &, SdpaMetadata &m) { m.isCausal = true; },
                   {"metadata.is_causal"}});
  expectRejected<FlashAttnImpl>(cases);
}

TEST_CASE("SDPA forward: every bad input is named before the driver", "[backend]") {
  std::vector<BadInput> cases = commonBadInputs();
  cases.push_back({"mask shape",
                   [](Operands &o, SdpaMetadata &m) {
                     m.attnMask = TensorView(at(0x50000000), DType::Bool, {o.B, o.Sk + 1});
                   },
                   {"mask", "got 97"}});
  cases.push_back({"mask dtype",
                   [](Operands &o, SdpaMetadata &m) {
                     m.attnMask = TensorView(at(0x50000000), DType::F16, {o.B, o.Sq, o.Sk});
                   },
                   {"mask.dtype"}});
  cases.push_back(
      {"mask on the cpu",
       [](Operands &o, SdpaMetadata &m) {
         m.attnMask = TensorView(at(0x50000000), DType::Bool, {o.B, o.Sk}, {}, 0, DeviceKind::Cpu);
       },
       {"mask.device"}});
  expectRejected<SdpaImpl>(cases);
}

TEST_CASE("forward: hooks run on every path, in order", "[backend]") {
  CallLog log;
  Operands o;
  AttentionMetadata meta(1);
  RecordingImpl impl(paramsFor(o), log);
  TensorView r = impl.forward(o.q, o.k, o.v, meta, o.out, nullptr);
  CHECK(log.calls == std::vector<std::string>{"preprocess", "launch", "postprocess"});
  CHECK(r.data() == o.out.data());
  // A head-size mismatch stops after preprocess.
  log.calls.clear();
  CHECK_THROWS_AS(impl.forward(reshaped(o.q, {o.B, o.Sq, o.H, 32}), o.k, o.v, meta, o.out, nullptr),
                  Error);
  CHECK(log.calls == std::vector<std::string>{"preprocess"});
  // Without out on a device-less check failure: preprocess, check, nothing more.
  log.calls.clear();
  class FailingCheck : public RecordingImpl {
  public:
    using RecordingImpl::RecordingImpl;

  protected:
    void check(const QkvViews &qkv, const AttentionMetadata &m,
               const TensorView &out) const override {
      RecordingImpl::check(qkv, m, out);
      // The stand-in output lies past every operand and never aliases them.
      CHECK(out.byteExtent().first >= qkv.v.byteExtent().second);
      CHECK(out.shape() == qkv.q.shape());
      CHECK(out.isContiguous());
      throw Error(ErrorKind::InvalidArgument, "stop here");
    }
  };
  FailingCheck failing(paramsFor(o), log);
  CHECK_THROWS_AS(failing.forward(o.q, o.k, o.v, meta, std::nullopt, nullptr), Error);
  CHECK(log.calls == std::vector<std::string>{"preprocess", "check"});
  CHECK(failing.ownedBufferBytes() == 0);
}

TEST_CASE("forward: hooks may replace the views", "[backend]") {
  Operands o;
  TensorView other = TensorView(at(0x60000000), o.dtype, o.q.shape());
  TensorView finalOut = TensorView(at(0x70000000), o.dtype, o.q.shape());
  CallLog log;
  class Rewriting : public RecordingImpl {
  public:
    Rewriting(const ImplParams &p, CallLog &log, TensorView q, TensorView out)
        : RecordingImpl(p, log), q_(q), out_(out) {}
    void preprocessQkv(QkvViews &qkv, const AttentionMetadata &m, CUstream s) override {
      RecordingImpl::preprocessQkv(qkv, m, s);
      qkv.q = q_;
    }
    void postprocessOutput(TensorView &out, const AttentionMetadata &m, CUstream s) override {
      RecordingImpl::postprocessOutput(out, m, s);
      out = out_;
    }

  private:
    TensorView q_, out_;
  };
  Rewriting impl(paramsFor(o), log, other, finalOut);
  TensorView r = impl.forward(o.q, o.k, o.v, AttentionMetadata(0), o.out, nullptr);
  CHECK(log.seen.q.data() == other.data());
  CHECK(log.seenOut.data() == o.out.data());
  CHECK(r.data() == finalOut.data());
}

TEST_CASE("DLPack views pass through the interface unchanged", "[backend]") {
  // BHSD tensors as a framework would export them (q/out permuted strides).
  int64_t qShape[4] = {2, 8, 64, 64}, qStrides[4] = {8 * 64 * 64, 64, 8 * 64, 1};
  int64_t kShape[4] = {2, 2, 96, 64}, kStrides[4] = {2 * 96 * 64, 96 * 64, 64, 1};
  auto dl = [](void *data, int64_t *shape, int64_t *strides, uint64_t offset) {
    DLTensor t{};
    t.data = data;
    t.device = {kDLCUDA, 0};
    t.ndim = 4;
    t.dtype = {kDLBfloat, 16, 1};
    t.shape = shape;
    t.strides = strides;
    t.byte_offset = offset;
    return t;
  };
  DLTensor q = dl(at(0x10000000), qShape, qStrides, 0),
           k = dl(at(0x20000000), kShape, kStrides, 256),
           v = dl(at(0x30000000), kShape, nullptr, 0),
           out = dl(at(0x40000000), qShape, qStrides, 0);
  CallLog log;
  ImplParams p;
  p.numHeads = 8;
  p.numKvHeads = 2;
  p.headSize = 64;
  p.layout = Layout::BHSD;
  RecordingImpl impl(p, log);
  TensorView r =
      impl.forward(TensorView::fromDLPack(q), TensorView::fromDLPack(k), TensorView::fromDLPack(v),
                   AttentionMetadata(0), TensorView::fromDLPack(out), nullptr);
  CHECK(log.seen.q.strides() == std::vector<int64_t>(qStrides, qStrides + 4));
  CHECK(log.seen.k.data() == at(0x20000000 + 256)); // byte_offset folded in
  CHECK(log.seen.v.strides() == contiguousStrides({2, 2, 96, 64}));
  DLTensor back = r.toDLPack();
  CHECK(back.data == out.data);
  CHECK(back.ndim == 4);
  CHECK(back.dtype.code == kDLBfloat);
  CHECK(back.device.device_type == kDLCUDA);
  CHECK(std::vector<int64_t>(back.shape, back.shape + 4) ==
        std::vector<int64_t>(qShape, qShape + 4));
  CHECK(std::vector<int64_t>(back.strides, back.strides + 4) ==
        std::vector<int64_t>(qStrides, qStrides + 4));
  // The real FLASH_ATTN impl reads the BHSD head index (dim 1).
  CountingImpl<FlashAttnImpl> flash(p);
  std::string msg = messageOf(
      [&] {
        flash.forward(TensorView::fromDLPack(k), TensorView::fromDLPack(k),
                      TensorView::fromDLPack(v), AttentionMetadata(0), TensorView::fromDLPack(out),
                      nullptr);
      },
      ErrorKind::InvalidArgument);
  CHECK(msg.find("q.shape[1] (num_heads): expected 8") != std::string::npos);
}

TEST_CASE("metadata builders and the zero-copy field view", "[backend]") {
  auto sdpa = BackendRegistry::instance().get("SDPA");
  auto builder = sdpa->makeMetadataBuilder();
  builder->prepare();
  MetadataBuildArgs args;
  args.currentTimestep = 17;
  args.attnMask = TensorView(at(0x50000000), DType::Bool, {2, 96});
  args.isCausal = true;
  args.dropoutOffset = 5;
  std::unique_ptr<AttentionMetadata> m = builder->build(args);
  auto *sm = dynamic_cast<SdpaMetadata *>(m.get());
  REQUIRE(sm);
  CHECK(sm->currentTimestep == 17);
  CHECK(sm->attnMask->data() == at(0x50000000));
  CHECK(sm->isCausal == true);
  CHECK_FALSE(sm->dropoutSeed.has_value());

  std::vector<MetadataField> fields = m->asdictZeroCopy();
  std::vector<std::string_view> names;
  for (const auto &f : fields)
    names.push_back(f.name);
  CHECK(names == std::vector<std::string_view>{"current_timestep", "attn_mask", "is_causal",
                                               "dropout_seed", "dropout_offset",
                                               "mask_true_hides"});
  // References, not copies: the view sees later changes and shares addresses.
  CHECK(std::get<const int64_t *>(fields[0].ref) == &sm->currentTimestep);
  CHECK(std::get<const std::optional<TensorView> *>(fields[1].ref) == &sm->attnMask);
  sm->currentTimestep = 18;
  CHECK(*std::get<const int64_t *>(fields[0].ref) == 18);
  auto skipped = m->asdictZeroCopy({"attn_mask", "dropout_seed"});
  REQUIRE(skipped.size() == 4);
  CHECK(skipped[1].name == "is_causal");
  CHECK(skipped[3].name == "mask_true_hides");
  CHECK(std::get<const bool *>(skipped[3].ref) == &sm->maskTrueHides);

  // The metadata type of each backend (get_metadata_cls).
  CHECK(dynamic_cast<SdpaMetadata *>(sdpa->makeMetadata(4).get()));
  auto flash = BackendRegistry::instance().get("FLASH_ATTN");
  std::unique_ptr<AttentionMetadata> fm = flash->makeMetadata(4);
  CHECK(fm->currentTimestep == 4);
  CHECK(fm->asdictZeroCopy().size() == 1);

  // FLASH_ATTN's builder refuses SDPA-only fields by name.
  auto fb = flash->makeMetadataBuilder();
  fb->prepare();
  CHECK(fb->build({9})->currentTimestep == 9);
  std::string msg = messageOf([&] { fb->build(args); }, ErrorKind::InvalidArgument);
  CHECK(msg.find("metadata attn_mask: FLASH_ATTN takes only current_timestep") !=
        std::string::npos);
  MetadataBuildArgs hides;
  hides.maskTrueHides = true;
  CHECK(messageOf([&] { fb->build(hides); }, ErrorKind::InvalidArgument)
            .find("metadata mask_true_hides: FLASH_ATTN") != std::string::npos);
}

TEST_CASE("layer: backend selection, kv_cache and fallback semantics", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  Operands o;
  CallLog log;
  BackendRegistry reg;
  reg.add(std::make_shared<RecordingBackend>(log));
  SelectorOptions sel;
  sel.requested = "RECORDING";
  sel.registry = &reg;
  AttentionLayer layer(paramsFor(o), DType::BF16, sel);
  CHECK(layer.backend().name() == "RECORDING");
  CHECK(layer.impl().prefix() == "test.attn");
  auto meta = layer.makeMetadataBuilder()->build({2});

  // Plain call: hooks through the layer too.
  layer.forward(o.q, o.k, o.v, nullptr, *meta, o.out, nullptr);
  CHECK(log.calls == std::vector<std::string>{"preprocess", "launch", "postprocess"});

  // kv_cache: its K/V narrowed to `length` rows, without copying.
  TensorView cacheK(at(0x80000000), o.dtype, {o.B, 512, o.Hkv, o.D});
  TensorView cacheV(at(0x90000000), o.dtype, {o.B, 512, o.Hkv, o.D});
  KvCacheView cache{cacheK, cacheV, 200};
  layer.forward(o.q, TensorView(), TensorView(), &cache, *meta, o.out, nullptr);
  CHECK(log.seen.k.data() == cacheK.data());
  CHECK(log.seen.k.shape() == std::vector<int64_t>{o.B, 200, o.Hkv, o.D});
  CHECK(log.seen.v.strides() == cacheV.strides());
  cache.length = -1;
  layer.forward(o.q, TensorView(), TensorView(), &cache, *meta, o.out, nullptr);
  CHECK(log.seen.v.size(1) == 512);

  std::string msg = messageOf([&] { layer.forward(o.q, o.k, o.v, &cache, *meta, o.out, nullptr); },
                              ErrorKind::InvalidArgument);
  CHECK(msg.find("with kv_cache given, k and v must be empty views") != std::string::npos);
  cache.length = 513;
  msg = messageOf(
      [&] { layer.forward(o.q, TensorView(), TensorView(), &cache, *meta, o.out, nullptr); },
      ErrorKind::InvalidArgument);
  CHECK(msg.find("kv_cache.length: expected at most 512") != std::string::npos);

  // A backend without output-buffer support refuses out.
  CallLog log2;
  BackendRegistry reg2;
  reg2.add(std::make_shared<RecordingBackend>(log2, /*acceptsOut=*/false));
  sel.registry = &reg2;
  AttentionLayer noOut(paramsFor(o), DType::BF16, sel);
  msg = messageOf([&] { noOut.forward(o.q, o.k, o.v, nullptr, *meta, o.out, nullptr); },
                  ErrorKind::InvalidArgument);
  CHECK(msg.find("does not accept an output buffer") != std::string::npos);
}

TEST_CASE("layer: a FLASH_ATTN -> SDPA fallback refuses causal with Sq != Sk", "[backend]") {
  ScopedEnv env(kAttentionBackendEnv, nullptr);
  ImplParams p;
  p.numHeads = 8;
  p.numKvHeads = 2;
  p.headSize = 80;
  p.causal = true;
  SelectorOptions sel;
  sel.requested = "FLASH_ATTN";
  attnjit::testing::LogCapture capture;
  AttentionLayer layer(p, DType::BF16, sel);
  CHECK(layer.backend().name() == kSdpaBackend);
  CHECK(layer.selection().isFallback());
  Operands o;
  o.D = 80;
  TensorView q(at(0x10000000), o.dtype, {o.B, o.Sq, o.H, 80});
  TensorView k(at(0x20000000), o.dtype, {o.B, o.Sk, o.Hkv, 80});
  AttentionMetadata meta(0);
  std::string msg = messageOf([&] { layer.forward(q, k, k, nullptr, meta, q, nullptr); },
                              ErrorKind::InvalidArgument);
  CHECK(msg.find("seqlen_q 64 != seqlen_k 96") != std::string::npos);
  CHECK(msg.find("aligned top-left instead of bottom-right") != std::string::npos);
  // The SDPA metadata can turn causal off for a call; then the rule does not
  // apply and the call reaches the argument checks (v on the CPU stops it).
  SdpaMetadata off(0);
  off.isCausal = false;
  TensorView cpuV(at(0x30000000), o.dtype, k.shape(), {}, 0, DeviceKind::Cpu);
  TensorView out(at(0x40000000), o.dtype, q.shape());
  msg = messageOf([&] { layer.forward(q, k, cpuV, nullptr, off, out, nullptr); },
                  ErrorKind::InvalidArgument);
  CHECK(msg.find("v.device") != std::string::npos);
  CHECK(msg.find("seqlen_q 64") == std::string::npos);
}

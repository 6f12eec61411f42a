//===- BackendTest.cpp - Attention backends through the interface ---------===//
//
// Part of attnjit. FLASH_ATTN and SDPA through AttentionLayer / AttentionImpl
// against the float64 references: output buffer given and not, BSHD and BHSD,
// head sizes 40 and 80 (SDPA, and FLASH_ATTN falling back to SDPA) and
// 64/128/256, GQA, a custom scale, SDPA masks through metadata, f32 SDPA,
// hooks, the owned buffer's reuse and CUDA graph capture. Shapes are small:
// the reference runs on the CPU.
//
//===----------------------------------------------------------------------===//
#include "GpuTestUtil.h"

#include "attnjit/Runtime/AttentionLayer.h"
#include "attnjit/Runtime/BackendImpls.h"
#include "attnjit/Runtime/Error.h"

#include <catch2/catch.hpp>

#include <fmt/format.h>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

/// dst[b][j][i][d] = src[b][i][j][d] for src [B, n1, n2, D] (BSHD <-> BHSD).
std::vector<float> swapDims12(const std::vector<float> &src, int64_t B, int64_t n1, int64_t n2,
                              int64_t D) {
  std::vector<float> dst(src.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < n1; ++i)
      for (int64_t j = 0; j < n2; ++j)
        std::copy_n(&src[size_t(((b * n1 + i) * n2 + j) * D)], D,
                    &dst[size_t(((b * n2 + j) * n1 + i) * D)]);
  return dst;
}

/// Random values rounded to `t`.
std::vector<float> randomIn(DType t, int64_t n, uint64_t seed) {
  std::vector<float> x = randomNormal(size_t(n), seed);
  for (float &f : x)
    f = quantizeTo(f, t);
  return x;
}

/// A q-, k- or v-like tensor: host values in BSHD order, device copy in
/// `layout` order, and its view.
struct Operand {
  std::vector<float> host; ///< BSHD
  DeviceBuffer device;
  TensorView view;
};

Operand makeOperand(DType t, Layout layout, int64_t B, int64_t S, int64_t H, int64_t D,
                    uint64_t seed) {
  Operand o;
  o.host = randomIn(t, B * S * H * D, seed);
  bool bhsd = layout == Layout::BHSD;
  o.device = upload(encodeBytes(bhsd ? swapDims12(o.host, B, S, H, D) : o.host, t));
  o.view = viewOf(o.device, t,
                  bhsd ? std::vector<int64_t>{B, H, S, D} : std::vector<int64_t>{B, S, H, D});
  return o;
}

struct Case {
  const char *requested; ///< backend asked for
  const char *expected;  ///< backend that must serve
  int64_t headDim;
  DType dtype;
  Layout layout;
  bool giveOut;
  bool causal = false;
  bool mask = false; ///< SDPA: a bool key-padding mask [B, Sk] via metadata
  int64_t seqQ = 96, seqK = 96, heads = 4, kvHeads = 2;
  float scale = 0; ///< 0: default
};

std::string describe(const Case &c) {
  return fmt::format("{} -> {} d{} {} {} out={} causal={} mask={} Sq={} Sk={} H={} Hkv={}",
                     c.requested, c.expected, c.headDim, toString(c.dtype),
                     c.layout == Layout::BSHD ? "BSHD" : "BHSD", c.giveOut, c.causal, c.mask,
                     c.seqQ, c.seqK, c.heads, c.kvHeads);
}

/// Downloads `bytes` from a view's device memory.
std::vector<uint8_t> downloadView(const TensorView &t) {
  std::vector<uint8_t> host(size_t(t.numel()) * size_t(t.elementSize()));
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemcpyDtoH(host.data(), reinterpret_cast<CUdeviceptr>(t.data()), host.size()),
            "cuMemcpyDtoH");
  return host;
}

void runCase(const Case &c, uint64_t seed) {
  INFO(describe(c));
  const int64_t B = 2, D = c.headDim;
  ImplParams params;
  params.numHeads = int(c.heads);
  params.numKvHeads = int(c.kvHeads);
  params.headSize = int(D);
  params.causal = c.causal;
  params.layout = c.layout;
  params.prefix = "gpu.test";
  if (c.scale != 0)
    params.softmaxScale = c.scale;
  SelectorOptions sel;
  sel.requested = c.requested;
  AttentionLayer layer(params, c.dtype, sel);
  REQUIRE(layer.backend().name() == c.expected);

  Operand q = makeOperand(c.dtype, c.layout, B, c.seqQ, c.heads, D, seed * 5 + 1);
  Operand k = makeOperand(c.dtype, c.layout, B, c.seqK, c.kvHeads, D, seed * 5 + 2);
  Operand v = makeOperand(c.dtype, c.layout, B, c.seqK, c.kvHeads, D, seed * 5 + 3);

  AttnShape shape;
  shape.batch = B, shape.heads = c.heads, shape.kvHeads = c.kvHeads, shape.seqQ = c.seqQ;
  shape.seqK = c.seqK, shape.headDim = D, shape.causal = c.causal, shape.scale = c.scale;

  MetadataBuildArgs margs;
  margs.currentTimestep = 500;
  HostMask hostMask;
  DeviceBuffer maskBuffer;
  if (c.mask) {
    // Key padding: batch b attends to its first seqK - 7 * (b + 1) keys.
    hostMask.kind = MaskKind::Bool;
    hostMask.values.resize(size_t(B * c.seqK));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < c.seqK; ++j)
        hostMask.values[size_t(b * c.seqK + j)] = j < c.seqK - 7 * (b + 1) ? 1.0f : 0.0f;
    hostMask.strides[0] = c.seqK, hostMask.strides[3] = 1;
    maskBuffer = upload(encodeBytes(hostMask.values, DType::Bool));
    margs.attnMask = viewOf(maskBuffer, DType::Bool, {B, c.seqK});
  }
  std::unique_ptr<AttentionMetadataBuilder> builder = layer.makeMetadataBuilder();
  builder->prepare();
  std::unique_ptr<AttentionMetadata> meta = builder->build(margs);

  Stream stream;
  DeviceBuffer outBuffer;
  std::optional<TensorView> out;
  if (c.giveOut) {
    outBuffer = poisonedBuffer(size_t(q.view.numel()) * size_t(dtypeSize(c.dtype)));
    out = viewOf(outBuffer, c.dtype, q.view.shape());
  }
  TensorView result;
  try {
    result = layer.forward(q.view, k.view, v.view, nullptr, *meta, out, stream);
  } catch (const Error &e) {
    // As in SdpaAttentionTest: an f32 kernel may not fit a small device.
    if (c.dtype != DType::F32 || e.kind() != ErrorKind::Unsupported || !f32SdpaMayNotFit(0))
      throw;
    WARN("f32 sdpa kernels do not fit this device's shared memory, skipping: " << e.what());
    return;
  }
  stream.sync();
  if (c.giveOut)
    CHECK(result.data() == out->data());
  else
    CHECK(layer.impl().ownedBufferBytes() >= size_t(result.numel() * result.elementSize()));
  CHECK(result.shape() == q.view.shape());

  std::vector<float> got = decodeBytes(downloadView(result), c.dtype);
  if (c.layout == Layout::BHSD)
    got = swapDims12(got, B, c.heads, c.seqQ, D);
  std::vector<double> ref;
  if (std::string(c.expected) == "SDPA") {
    SdpaReference r;
    r.shape = shape;
    r.mask = c.mask ? &hostMask : nullptr;
    ref = r.run(q.host.data(), k.host.data(), v.host.data());
  } else {
    referenceAttention(shape, q.host.data(), k.host.data(), v.host.data(), ref);
  }
  Accuracy acc = compareToReference(ref, got);
  INFO(acc.str());
  CHECK(acc.nonFinite == 0);
  double tol = c.dtype == DType::BF16 ? 1e-2 : c.dtype == DType::F16 ? 2e-3 : 1e-3;
  CHECK(acc.relativeL2 <= tol);
  CHECK(acc.cosine >= 0.9999);
}

/// A built-in impl that appends "pre:<backend>" / "post:<backend>" to a trace.
template <typename Impl> class TracedImpl : public Impl {
public:
  TracedImpl(const ImplParams &p, std::vector<std::string> &trace) : Impl(p), trace_(trace) {}
  void preprocessQkv(QkvViews &qkv, const AttentionMetadata &m, CUstream s) override {
    trace_.push_back(fmt::format("pre:{}", this->backendName()));
    Impl::preprocessQkv(qkv, m, s);
  }
  void postprocessOutput(TensorView &out, const AttentionMetadata &m, CUstream s) override {
    Impl::postprocessOutput(out, m, s);
    trace_.push_back(fmt::format("post:{}", this->backendName()));
  }

private:
  std::vector<std::string> &trace_;
};

} // namespace

TEST_CASE("backends through the interface match float64", "[gpu][backend]") {
  using L = Layout;
  const Case cases[] = {
      // FLASH_ATTN: bottom-right causal with Sq != Sk, GQA, a custom scale.
      {"FLASH_ATTN", "FLASH_ATTN", 64, DType::BF16, L::BSHD, true, true, false, 80, 150, 8, 2},
      {"FLASH_ATTN", "FLASH_ATTN", 128, DType::F16, L::BHSD, false, false, false, 96, 96, 4, 4,
       0.3f},
      {"FLASH_ATTN", "FLASH_ATTN", 256, DType::BF16, L::BSHD, false, true},
      // SDPA: odd head sizes, top-left causal (Sq == Sk), f32.
      {"SDPA", "SDPA", 40, DType::BF16, L::BSHD, true, false, false, 70, 130, 8, 2},
      {"TORCH_SDPA", "SDPA", 80, DType::F16, L::BHSD, false, true},
      {"SDPA", "SDPA", 64, DType::F32, L::BSHD, true, false, false, 33, 65, 4, 1, 0.2f},
      // FLASH_ATTN asked for head size 80 falls back to SDPA.
      {"FLASH_ATTN", "SDPA", 80, DType::BF16, L::BSHD, true, false, false, 64, 100, 8, 2},
      {"FLASH_ATTN", "SDPA", 40, DType::F16, L::BHSD, false, true},
      // SDPA masks through metadata.
      {"SDPA", "SDPA", 64, DType::BF16, L::BSHD, true, false, true, 50, 120, 4, 2},
      {"SDPA", "SDPA", 128, DType::F16, L::BHSD, false, true, true},
  };
  uint64_t seed = 11;
  for (const Case &c : cases)
    runCase(c, seed++);
}

TEST_CASE("hooks run around the GPU computation", "[gpu][backend]") {
  AttnShape s;
  s.batch = 1, s.heads = 4, s.kvHeads = 2, s.seqQ = 64, s.seqK = 64, s.headDim = 64;
  AttentionInputs in = makeAttentionInputs(s, DType::BF16, 3);
  ImplParams p;
  p.numHeads = 4;
  p.numKvHeads = 2;
  p.headSize = 64;
  Stream stream;
  std::vector<std::string> trace;
  TracedImpl<FlashAttnImpl> flash(p, trace);
  TracedImpl<SdpaImpl> sdpa(p, trace);
  for (AttentionImpl *impl :
       {static_cast<AttentionImpl *>(&flash), static_cast<AttentionImpl *>(&sdpa)}) {
    INFO(impl->backendName());
    in.out.fill(kPoisonByte);
    impl->forward(in.qView(), in.kView(), in.vView(), AttentionMetadata(0), in.outView(), stream);
    TensorView owned = impl->forward(in.qView(), in.kView(), in.vView(), AttentionMetadata(0),
                                     std::nullopt, stream);
    stream.sync();
    Accuracy acc = compareToReference(in.reference(), in.outHost());
    CHECK(acc.relativeL2 <= 1e-2);
    CHECK(compareToReference(in.reference(), decodeBytes(downloadView(owned), DType::BF16))
              .relativeL2 <= 1e-2);
  }
  const std::vector<std::string> expected = {"pre:FLASH_ATTN",  "post:FLASH_ATTN", "pre:FLASH_ATTN",
                                             "post:FLASH_ATTN", "pre:SDPA",        "post:SDPA",
                                             "pre:SDPA",        "post:SDPA"};
  CHECK(trace == expected);
}

TEST_CASE("the owned output buffer is reused, grown, and refused under capture", "[gpu][backend]") {
  AttnShape s;
  s.batch = 1, s.heads = 2, s.kvHeads = 2, s.seqQ = 128, s.seqK = 128, s.headDim = 64;
  AttentionInputs big = makeAttentionInputs(s, DType::BF16, 5);
  s.seqQ = 32;
  AttentionInputs small = makeAttentionInputs(s, DType::BF16, 6);
  ImplParams p;
  p.numHeads = 2;
  p.headSize = 64;
  AttentionLayer layer(p, DType::BF16, {"FLASH_ATTN", "", true});
  AttentionMetadata meta(0);
  Stream stream;
  CudaDriver &drv = CudaDriver::get();

  // Growing during a capture is refused; the capture is left usable.
  drv.check(drv.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            "cuStreamBeginCapture");
  try {
    layer.forward(small.qView(), small.kView(), small.vView(), nullptr, meta, std::nullopt, stream);
    FAIL("expected an error");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()).find("CUDA graph capture") != std::string::npos);
  }
  CUgraph empty = nullptr;
  drv.check(drv.cuStreamEndCapture(stream, &empty), "cuStreamEndCapture");
  if (empty)
    drv.cuGraphDestroy(empty);
  CHECK(layer.impl().ownedBufferBytes() == 0);

  TensorView a = layer.forward(small.qView(), small.kView(), small.vView(), nullptr, meta,
                               std::nullopt, stream);
  size_t smallBytes = layer.impl().ownedBufferBytes();
  TensorView b = layer.forward(small.qView(), small.kView(), small.vView(), nullptr, meta,
                               std::nullopt, stream);
  CHECK(a.data() == b.data()); // reused
  TensorView c =
      layer.forward(big.qView(), big.kView(), big.vView(), nullptr, meta, std::nullopt, stream);
  CHECK(layer.impl().ownedBufferBytes() > smallBytes); // grown
  stream.sync();
  CHECK(compareToReference(big.reference(), decodeBytes(downloadView(c), DType::BF16)).relativeL2 <=
        1e-2);

  // Once large enough, forward without out is capturable too; with out always.
  CUgraph graph = nullptr;
  CUgraphExec exec = nullptr;
  drv.check(drv.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            "cuStreamBeginCapture");
  TensorView d = layer.forward(small.qView(), small.kView(), small.vView(), nullptr, meta,
                               std::nullopt, stream);
  layer.forward(big.qView(), big.kView(), big.vView(), nullptr, meta, big.outView(), stream);
  drv.check(drv.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
  drv.check(drv.cuGraphInstantiate(&exec, graph, 0), "cuGraphInstantiate");
  drv.check(drv.cuGraphLaunch(exec, stream), "cuGraphLaunch");
  stream.sync();
  CHECK(d.data() == c.data());
  CHECK(
      compareToReference(small.reference(), decodeBytes(downloadView(d), DType::BF16)).relativeL2 <=
      1e-2);
  CHECK(compareToReference(big.reference(), big.outHost()).relativeL2 <= 1e-2);
  drv.cuGraphExecDestroy(exec);
  drv.cuGraphDestroy(graph);
}

//===- MhaLayerTest.cpp - MultiHeadFlashAttention without a GPU -----------===//
//
// Part of attnjit. The layer's host side: constructor checks, parameter
// initialization, the mask as the attention reads it, forward()'s argument
// checks, state dicts (round trip through safetensors, and every kind of bad
// file naming what is wrong).
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Layers/MultiHeadFlashAttention.h"
#include "attnjit/Layers/StateDict.h"
#include "attnjit/Runtime/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

using namespace attnjit;

namespace {

void *fake(uintptr_t a) { return reinterpret_cast<void *>(a); }

template <class F> std::string errorOf(F &&f, ErrorKind kind = ErrorKind::InvalidArgument) {
  try {
    f();
  } catch (const Error &e) {
    CHECK(e.kind() == kind);
    return e.what();
  }
  return {};
}

bool has(const std::string &msg, const std::string &part) {
  INFO(msg);
  return msg.find(part) != std::string::npos;
}

/// A safetensors image from a header (JSON text) and `dataBytes` zero bytes.
std::vector<uint8_t> image(const std::string &header, size_t dataBytes) {
  std::vector<uint8_t> out(8 + header.size() + dataBytes, 0);
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<uint8_t>(uint64_t(header.size()) >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  return out;
}

std::string tempPath(const std::string &name) {
  return (std::filesystem::temp_directory_path() /
          ("attnjit-mha-" + std::to_string(::getpid()) + "-" + name))
      .string();
}

} // namespace

TEST_CASE("MultiHeadFlashAttention constructor checks", "[mha]") {
  MultiHeadFlashAttention ok(8, 128, 128);
  CHECK(ok.headDim() == 16);
  CHECK(ok.training());
  CHECK(ok.backendName() == "SDPA"); // the layer's default
  CHECK(ok.parameterNames() ==
        std::vector<std::string>{"W_query.weight", "W_query.bias", "W_key.weight", "W_key.bias",
                                 "W_val.weight", "W_val.bias", "W_out.weight", "W_out.bias"});
  MultiHeadFlashAttention noBias(8, 128, 256, 32, 32, false);
  CHECK(noBias.parameterNames().size() == 4);

  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, 128, 100); }),
            "embed_dim: expected a multiple of n_heads (8)"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, 128, 128, 32); }),
            "val_dim: the module computes every head with head_dim = embed_dim / n_heads = 16; "
            "expected 16 or none, got 32"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, 128, 128, std::nullopt, 8); }),
            "key_dim:"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(0, 128, 128); }), "n_heads: expected > 0"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, -1, 128); }), "input_dim: expected > 0"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, 128, 128, {}, {}, true, 1.0); }),
            "attention_dropout: expected a probability in [0, 1), got 1"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(8, 128, 128, {}, {}, true, std::nan("")); }),
            "attention_dropout"));
  CHECK(has(errorOf([] { MultiHeadFlashAttention(2, 12, 128); }, ErrorKind::Unsupported),
            "input_dim: the projection GEMM needs a multiple of 8, got 12"));
  MhaOptions i8;
  i8.dtype = DType::I8;
  CHECK(has(errorOf([&] { MultiHeadFlashAttention(8, 128, 128, {}, {}, true, 0.0, false, i8); }),
            "options.dtype: expected bf16, f16 or f32"));
  MhaOptions unknown;
  unknown.backend = "NOPE";
  CHECK(has(errorOf([&] {
              MultiHeadFlashAttention(8, 128, 128, {}, {}, true, 0.0, false, unknown);
            }),
            "NOPE"));
  // FLASH_ATTN serves head size 32 (embed 256, 8 heads), not 16: strict says so.
  MhaOptions flash;
  flash.backend = "FLASH_ATTN";
  CHECK(MultiHeadFlashAttention(8, 128, 256, {}, {}, true, 0.0, false, flash).backendName() ==
        "FLASH_ATTN");
  flash.strictBackend = true;
  CHECK(has(errorOf([&] { MultiHeadFlashAttention(8, 128, 128, {}, {}, true, 0.0, false, flash); },
                    ErrorKind::Unsupported),
            "head size 16"));
}

TEST_CASE("MultiHeadFlashAttention parameters: Xavier weights, Linear biases, seeded", "[mha]") {
  MultiHeadFlashAttention a(8, 128, 256), b(8, 128, 256);
  a.initParameters(7);
  b.initParameters(7);
  StateDict da = a.stateDict(), db = b.stateDict();
  CHECK(da.at("W_query.weight").bytes == db.at("W_query.weight").bytes);
  b.initParameters(8);
  CHECK(b.stateDict().at("W_query.weight").bytes != da.at("W_query.weight").bytes);

  auto bounds = [&](const std::string &key, double bound) {
    std::vector<float> v = da.at(key).toFloat(key);
    float lo = 0, hi = 0;
    double sumSq = 0;
    for (float x : v) {
      lo = std::min(lo, x);
      hi = std::max(hi, x);
      sumSq += double(x) * x;
    }
    INFO(key);
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    // Uniform(-a, a) has variance a^2 / 3: the draws fill the range.
    CHECK(sumSq / v.size() == Approx(bound * bound / 3).epsilon(0.1));
  };
  bounds("W_query.weight", std::sqrt(6.0 / (256 + 128)));
  bounds("W_out.weight", std::sqrt(6.0 / (256 + 256)));
  bounds("W_key.bias", 1.0 / std::sqrt(128.0));
  bounds("W_out.bias", 1.0 / std::sqrt(256.0));
  CHECK(a.stateDict().at("W_val.weight").shape == std::vector<int64_t>{256, 128});
  CHECK(a.stateDict().at("W_out.weight").shape == std::vector<int64_t>{256, 256});
}

TEST_CASE("MultiHeadFlashAttention masks: true = masked out, as a 4-D view", "[mha]") {
  const int64_t B = 4, H = 8, nq = 10, g = 12;
  // [B, graph]: key padding, broadcast over heads and queries.
  TensorView pad(fake(0x1000), DType::Bool, {B, g});
  TensorView m = MultiHeadFlashAttention::maskAs4d(pad, B, H, nq, g);
  CHECK(m.shape() == std::vector<int64_t>{B, 1, 1, g});
  CHECK(m.strides() == std::vector<int64_t>{g, 0, 0, 1});
  CHECK(m.data() == pad.data());
  // [B, n_query, graph].
  m = MultiHeadFlashAttention::maskAs4d(TensorView(fake(0x1000), DType::Bool, {B, nq, g}), B, H,
                                        nq, g);
  CHECK(m.shape() == std::vector<int64_t>{B, 1, nq, g});
  CHECK(m.strides() == std::vector<int64_t>{nq * g, 0, g, 1});
  // [B, H, n_query, graph], and a broadcast query dim.
  m = MultiHeadFlashAttention::maskAs4d(TensorView(fake(0x1000), DType::Bool, {B, H, 1, g}), B,
                                        H, nq, g);
  CHECK(m.shape() == std::vector<int64_t>{B, H, 1, g});
  CHECK(m.strides() == std::vector<int64_t>{H * g, g, 0, 1});

  auto bad = [&](TensorView t) {
    return errorOf([&] { MultiHeadFlashAttention::maskAs4d(t, B, H, nq, g); });
  };
  CHECK(has(bad(TensorView(fake(0x1000), DType::BF16, {B, g})),
            "mask.dtype: expected bool (true = masked out), got bf16"));
  CHECK(has(bad(TensorView(fake(0x1000), DType::Bool, {g})), "mask.rank: expected 2"));
  CHECK(has(bad(TensorView(fake(0x1000), DType::Bool, {B, g + 1})),
            "mask.shape[1] (graph): expected 12, got 13"));
  CHECK(has(bad(TensorView(fake(0x1000), DType::Bool, {B + 1, nq, g})),
            "mask.shape[0] (batch): expected 4 or 1 (to broadcast), got 5"));
  CHECK(has(bad(TensorView(fake(0x1000), DType::Bool, {B, 3, nq, g})),
            "mask.shape[1] (n_heads): expected 8 or 1 (to broadcast), got 3"));
  CHECK(has(bad(TensorView(fake(0x1000), DType::Bool, {B, g}, {1, B})),
            "mask.strides[1] (graph): expected 1"));
}

TEST_CASE("MultiHeadFlashAttention forward arguments are checked before any launch", "[mha]") {
  MultiHeadFlashAttention layer(8, 128, 128);
  TensorView q(fake(0x100000), DType::BF16, {2, 10, 128});
  TensorView h(fake(0x200000), DType::BF16, {2, 12, 128});
  TensorView pad(fake(0x300000), DType::Bool, {2, 12});
  CHECK(errorOf([&] { layer.validateForward(q, &h, &pad, std::nullopt); }).empty());
  CHECK(has(errorOf([&] { layer.validateForward(q, nullptr, &pad, std::nullopt); }),
            "mask.shape[1] (graph): expected 10, got 12"));
  CHECK(has(errorOf([&] {
              layer.validateForward(TensorView(fake(0x100000), DType::F16, {2, 10, 128}), nullptr,
                                    nullptr, std::nullopt);
            }),
            "q.dtype: expected the layer's dtype bf16, got f16"));
  CHECK(has(errorOf([&] {
              layer.validateForward(TensorView(fake(0x100000), DType::BF16, {2, 10, 64}), nullptr,
                                    nullptr, std::nullopt);
            }),
            "q.shape[2] (input_dim): expected 128, got 64"));
  CHECK(has(errorOf([&] {
              layer.validateForward(q, nullptr, nullptr,
                                    TensorView(fake(0x400000), DType::BF16, {2, 10, 64}));
            }),
            "out.shape: expected [2, 10, 128]"));
  CHECK(has(errorOf([&] {
              layer.validateForward(q, &h, nullptr,
                                    TensorView(fake(0x400000), DType::BF16, {2, 10, 128},
                                               {1280 * 2, 128, 1}));
            }),
            "out: expected a contiguous tensor"));
  CHECK(has(errorOf([&] {
              TensorView h3(fake(0x200000), DType::BF16, {3, 12, 128});
              layer.validateForward(q, &h3, nullptr, std::nullopt);
            }),
            "h.shape[0] (batch): expected 2 (q's), got 3"));
  CHECK(has(errorOf([&] {
              layer.validateForward(TensorView(fake(0x100000), DType::BF16, {2, 10, 128},
                                               {5120, 256, 1}),
                                    nullptr, nullptr, std::nullopt);
            }),
            "q: expected rows of input_dim contiguous"));
  CHECK(has(errorOf([&] {
              layer.validateForward(TensorView(fake(0x100008), DType::BF16, {2, 10, 128}), nullptr,
                                    nullptr, std::nullopt);
            }),
            "q.data: expected a 16-byte aligned pointer"));
  CHECK(has(errorOf([&] {
              TensorView hs(fake(0x200000), DType::BF16, {2, 12, 128}, {12 * 132, 132, 1});
              layer.validateForward(q, &hs, nullptr, std::nullopt);
            }),
            "h: expected a row stride of whole 16-byte units (8 elements), got 132"));
  CHECK(has(errorOf([&] {
              layer.validateForward(q, nullptr, nullptr,
                                    TensorView(fake(0x400002), DType::BF16, {2, 10, 128}));
            }),
            "out.data: expected a 4-byte aligned pointer"));
  // n_query = 1: batches of one row may sit any 16-byte multiple apart.
  CHECK(errorOf([&] {
          layer.validateForward(TensorView(fake(0x100000), DType::BF16, {2, 1, 128}, {256, 7, 1}),
                                &h, nullptr, std::nullopt);
        }).empty());
  MultiHeadFlashAttention store(8, 128, 128, {}, {}, true, 0.0, /*storeAttnWeights=*/true);
  TensorView big(fake(0x200000), DType::BF16, {2, 300, 128});
  CHECK(has(errorOf([&] { store.validateForward(q, &big, nullptr, std::nullopt); },
                    ErrorKind::Unsupported),
            "graph_size 300"));
}

TEST_CASE("MultiHeadFlashAttention state dict round trip through safetensors", "[mha]") {
  MultiHeadFlashAttention a(8, 128, 256), b(8, 128, 256);
  a.initParameters(42);
  std::string path = tempPath("roundtrip.safetensors");
  a.saveStateDict(path);
  b.loadStateDict(path);
  CHECK(b.stateDict().at("W_out.weight").bytes == a.stateDict().at("W_out.weight").bytes);
  for (const std::string &key : a.parameterNames())
    CHECK(b.stateDict().at(key).bytes == a.stateDict().at(key).bytes);

  // The file is what safetensors readers expect.
  StateDict read = readSafetensors(path);
  CHECK(read.size() == 8);
  CHECK(read.at("W_query.weight").dtypeName == "F32");
  CHECK(read.at("W_query.weight").shape == std::vector<int64_t>{256, 128});
  std::ifstream in(path, std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char *>(&n), 8);
  CHECK(n % 8 == 0);
  std::string header(n, ' ');
  in.read(header.data(), static_cast<std::streamsize>(n));
  nlohmann::json j = nlohmann::json::parse(header);
  CHECK(j["W_query.bias"]["shape"] == nlohmann::json::array({256}));

  // BF16 (truncated) and F64 (a double-precision torch model) entries convert.
  auto recoded = [&](const char *dtype, size_t width, auto encode) {
    StateDict d = a.stateDict();
    for (auto &entry : d) {
      std::vector<float> v = entry.second.toFloat(entry.first);
      entry.second.dtypeName = dtype;
      entry.second.bytes.resize(v.size() * width);
      for (size_t i = 0; i < v.size(); ++i)
        encode(v[i], &entry.second.bytes[width * i]);
    }
    return d;
  };
  b.loadStateDict(recoded("BF16", 2, [](float x, uint8_t *dst) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    uint16_t hi = static_cast<uint16_t>(bits >> 16);
    std::memcpy(dst, &hi, 2);
  }));
  float got = b.stateDict().at("W_key.weight").toFloat("W_key.weight")[3];
  float want = a.stateDict().at("W_key.weight").toFloat("W_key.weight")[3];
  CHECK(got == Approx(want).epsilon(1.0 / 128));
  StateDict dbl = recoded("F64", 8, [](float x, uint8_t *dst) {
    double d = x;
    std::memcpy(dst, &d, 8);
  });
  b.loadStateDict(dbl);
  CHECK(b.stateDict().at("W_val.bias").bytes == a.stateDict().at("W_val.bias").bytes);
  std::remove(path.c_str());
}

TEST_CASE("MultiHeadFlashAttention state dict errors name the key", "[mha]") {
  MultiHeadFlashAttention layer(8, 128, 128);
  layer.initParameters(1);
  const StateDict good = layer.stateDict();
  auto load = [&](StateDict d) { return errorOf([&] { layer.loadStateDict(d); }); };

  StateDict missing = good;
  missing.erase("W_val.bias");
  CHECK(has(load(missing), "W_val.bias: missing from the state dict"));
  StateDict extra = good;
  extra["W_gate.weight"] = good.at("W_out.weight");
  CHECK(has(load(extra), "W_gate.weight: unexpected key"));
  StateDict shape = good;
  shape["W_key.weight"].shape = {128, 64};
  CHECK(has(load(shape), "W_key.weight: expected shape [128, 128], got [128, 64]"));
  StateDict dtype = good;
  dtype["W_out.bias"].dtypeName = "I32";
  CHECK(has(load(dtype), "W_out.bias: dtype I32 is not a floating-point parameter type"));
  // Nothing changed after the failures.
  CHECK(layer.stateDict().at("W_val.bias").bytes == good.at("W_val.bias").bytes);
  MultiHeadFlashAttention noBias(8, 128, 128, {}, {}, false);
  CHECK(has(errorOf([&] { noBias.loadStateDict(good); }),
            "W_key.bias: unexpected key"));
  CHECK(has(errorOf([&] { noBias.loadStateDict(good); }), "built with bias = false"));

  // Files.
  auto parse = [](const std::vector<uint8_t> &img) {
    return errorOf([&] { parseSafetensors(img, "f"); });
  };
  CHECK(has(parse({1, 2, 3}), "f: truncated: 3 bytes"));
  CHECK(parse(image("{}", 0)).empty()); // an empty dict is a valid file
  std::vector<uint8_t> longHeader = image("{}", 0);
  longHeader[0] = 200;
  CHECK(has(parse(longHeader), "truncated: the header claims 200 bytes"));
  CHECK(has(parse(image("{\"a\": ", 0)), "the header is not valid JSON"));
  CHECK(has(parse(image("[1, 2]", 0)), "the header must be a JSON object, got array"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F32", "shape": [2]}})", 8)),
            "tensor 'W': missing 'data_offsets'"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F99", "shape": [2], "data_offsets": [0, 8]}})", 8)),
            "tensor 'W': unknown dtype 'F99'"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", 8)),
            "tensor 'W': data_offsets [0, 16] out of range: the data part has 8 bytes"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 8)),
            "tensor 'W': data_offsets [0, 8] hold 8 bytes, shape [3] of F32 needs 12"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", 8)),
            "tensor 'W': 'shape' must hold integers >= 0"));
  CHECK(has(parse(image(R"({"W": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8)),
            "tensor 'W': data_offsets [8, 0] out of range"));
  CHECK(has(parse(image(R"({"W": {"dtype": 3, "shape": [2], "data_offsets": [0, 8]}})", 8)),
            "tensor 'W': 'dtype' must be a string"));
  CHECK(has(parse(image(R"({"A": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "B": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                        8)),
            "tensors 'A' and 'B' overlap"));
  CHECK(parse(image(R"({"__metadata__": {"format": "pt"},
                        "W": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                    8))
            .empty());

  // A truncated file on disk (data cut short) and a missing one.
  std::string path = tempPath("truncated.safetensors");
  layer.saveStateDict(path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 100);
  CHECK(has(errorOf([&] { layer.loadStateDict(path); }), "out of range"));
  std::remove(path.c_str());
  CHECK(has(errorOf([&] { layer.loadStateDict(tempPath("absent.safetensors")); }, ErrorKind::Io),
            "cannot open state dict"));
}

#ifdef ATTNJIT_HAVE_COMPILER
#include "attnjit/Compiler/Compile.h"

TEST_CASE("the SDPA kernel reads a BoolHides mask with the other polarity", "[mha]") {
  AttentionSpec s;
  s.variant = Variant::Sdpa;
  s.headDim = 16;
  s.dtype = DType::BF16;
  s.arch = "sm_80";
  s.maskKind = MaskKind::Bool;
  s.maskPerKey = true;
  std::string attend = compileAttention(s).ptx;
  s.maskKind = MaskKind::BoolHides;
  std::string hides = compileAttention(s).ptx;
  // Same kernel but for the mask test: as many instructions, different text.
  auto lines = [](const std::string &p) { return std::count(p.begin(), p.end(), '\n'); };
  CHECK(attend != hides);
  CHECK(lines(attend) == lines(hides));
  CHECK(hides.find(".entry " + s.kernelName()) != std::string::npos);
}
#endif

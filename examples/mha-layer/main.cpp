//===- main.cpp - Load a MultiHeadFlashAttention state dict, run forward --===//
//
// Part of attnjit's examples. A model trained in PyTorch saves its
// MultiHeadFlashAttention weights with safetensors (keys W_query.weight,
// W_query.bias, ..., W_out.bias); this loads them and runs a forward pass:
//
//   mha-layer-example STATE.safetensors [n_heads input_dim embed_dim]
//   mha-layer-example --make STATE.safetensors   (writes Xavier-initialized
//                                                 weights of an 8 x 128 x 128 layer)
//
// Without a GPU it loads and checks the state dict, says so and exits 0.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Layers/MultiHeadFlashAttention.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

using namespace attnjit;

int main(int argc, char **argv) {
  try {
    if (argc == 3 && std::strcmp(argv[1], "--make") == 0) {
      MultiHeadFlashAttention layer(8, 128, 128);
      layer.initParameters(2026);
      layer.saveStateDict(argv[2]);
      std::printf("wrote %s (%zu tensors)\n", argv[2], layer.parameterNames().size());
      return 0;
    }
    if (argc != 2 && argc != 5) {
      std::fprintf(stderr, "usage: %s STATE.safetensors [n_heads input_dim embed_dim]\n"
                           "       %s --make STATE.safetensors\n",
                   argv[0], argv[0]);
      return 2;
    }
    int heads = argc == 5 ? std::atoi(argv[2]) : 8, in = argc == 5 ? std::atoi(argv[3]) : 128,
        embed = argc == 5 ? std::atoi(argv[4]) : 128;
    MultiHeadFlashAttention layer(heads, in, embed);
    layer.loadStateDict(argv[1]);
    layer.eval();
    std::printf("loaded %s: %d heads, input_dim %d, embed_dim %d, backend %s\n", argv[1], heads,
                in, embed, std::string(layer.backendName()).c_str());

    CudaDriver &drv = CudaDriver::get();
    if (!drv.available() || drv.deviceCount() == 0) {
      std::printf("no CUDA device present: %s; forward skipped\n",
                  drv.available() ? "0 devices" : drv.unavailableReason().c_str());
      return 0;
    }
    // q [B, graph, input_dim] bf16 with a key-padding mask (true = masked out).
    const int64_t B = 4, graph = 20;
    std::vector<uint16_t> q(size_t(B * graph * in));
    for (size_t i = 0; i < q.size(); ++i) {
      float x = std::sin(0.37f * float(i));
      uint32_t bits;
      std::memcpy(&bits, &x, 4);
      q[i] = uint16_t((bits + 0x7fff + ((bits >> 16) & 1)) >> 16); // to bf16
    }
    std::vector<uint8_t> mask(size_t(B * graph));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < graph; ++j)
        mask[size_t(b * graph + j)] = j >= graph - b; // pad the last b keys
    DeviceBuffer dq(q.size() * 2), dmask(mask.size()), dout(size_t(B * graph * embed * 2));
    dq.copyFromHost(q.data(), q.size() * 2);
    dmask.copyFromHost(mask.data(), mask.size());
    TensorView qv(dq.data(), DType::BF16, {B, graph, in});
    TensorView mv(dmask.data(), DType::Bool, {B, graph});
    layer.forward(qv, nullptr, &mv, nullptr, TensorView(dout.data(), DType::BF16, {B, graph, embed}));
    std::vector<uint16_t> out(size_t(B * graph * embed));
    dout.copyToHost(out.data(), out.size() * 2);
    double sum = 0;
    for (uint16_t h : out) {
      uint32_t bits = uint32_t(h) << 16;
      float f;
      std::memcpy(&f, &bits, 4);
      sum += std::fabs(f);
    }
    std::printf("forward: out [%lld, %lld, %d], mean |out| = %.5f\n", (long long)B,
                (long long)graph, embed, sum / double(out.size()));
  } catch (const Error &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

//===- MultiHeadFlashAttention.h - The RL4CO-style attention layer -*- C++ -*-===//
//
// Part of attnjit. The C++ counterpart of the PyTorch module
// MultiHeadFlashAttention(n_heads, input_dim, embed_dim, val_dim=None,
// key_dim=None, bias=True, attention_dropout=0.0, store_attn_weights=False,
// sdpa_fn=None) of a routing-problem model:
//
//   Q = q W_query^T + b, K = h W_key^T + b, V = h W_val^T + b   (h defaults to q)
//   A = dropout_train(softmax(Q_h K_h^T / sqrt(head_dim) with the mask)) V_h
//   out = concat_h(A) W_out^T + b_out
//
// The projections run on the generated GEMM (linear(), Linear.h): one launch
// over the concatenated [3E, input_dim] weight when h is q, two (Q; then K and
// V over [2E, input_dim]) when it is not. The projection output [B, S, 3E] is
// read by the attention as strided BSHD views (no copies). Attention goes
// through the backend interface (Backend.h): SDPA by default, FLASH_ATTN when
// asked for and the head size allows (calls with a mask or dropout always use
// SDPA, which takes them).
//
// Masks are bool with **true = masked out** (the module's convention, the
// opposite of SDPA's), shaped [B, graph] (key padding), [B, n_query, graph] or
// [B, n_heads, n_query, graph]; the SDPA kernel reads them that way
// (MaskKind::BoolHides), so nothing is converted per call. A query row whose
// every key is masked gets zeros (the PyTorch module's manual path gives NaN
// there, its SDPA path zeros or NaN depending on the backend).
//
// Parameters are kept as float32 on the host (what init_parameters() draws
// and state dicts carry) and mirrored in the layer's dtype in device memory,
// uploaded once after they change. forward() allocates nothing once it has
// seen its shapes: a workspace that only grows holds the projections and the
// outputs.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_LAYERS_MULTIHEADFLASHATTENTION_H
#define ATTNJIT_LAYERS_MULTIHEADFLASHATTENTION_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Layers/StateDict.h"
#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Linear.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attnjit {

/// Constructor arguments beyond the module's own.
struct MhaOptions {
  /// Element type of the device parameters, inputs and outputs: bf16, f16 or f32.
  DType dtype = DType::BF16;
  /// Attention backend: explicit name (FLASH_ATTN, SDPA); empty: the selector's
  /// order ($ATTNJIT_ATTENTION_BACKEND, then SDPA, the layer's default).
  std::string backend;
  /// Fail instead of falling back when the named backend cannot serve.
  bool strictBackend = false;
  /// Tiling of the projection GEMMs (zero fields: the recipe's table).
  KernelConfig gemmConfig;
};

/// What store_attn_weights keeps of the last forward() (the module's
/// last_attn): views into the layer's workspace, valid until the next forward.
struct MhaAttnWeights {
  /// Attention probabilities before dropout, [B, H, n_query, graph], the
  /// layer's dtype; masked keys and fully masked rows are 0.
  TensorView weights;
  /// The mask as 4-D [B, H, n_query, graph] (stride-0 broadcast view of the
  /// caller's mask, true = masked out), or empty when forward had none.
  TensorView mask;
};

class MultiHeadFlashAttention {
public:
  /// The module's arguments. head_dim = embedDim / nHeads must divide exactly;
  /// valDim and keyDim (unused by the module) are accepted when they equal
  /// head_dim and rejected otherwise. attentionDropout in [0, 1). Throws
  /// InvalidArgument naming the argument; touches no GPU.
  MultiHeadFlashAttention(int nHeads, int inputDim, int embedDim,
                          std::optional<int> valDim = std::nullopt,
                          std::optional<int> keyDim = std::nullopt, bool bias = true,
                          double attentionDropout = 0.0, bool storeAttnWeights = false,
                          MhaOptions options = {});
  ~MultiHeadFlashAttention();
  MultiHeadFlashAttention(const MultiHeadFlashAttention &) = delete;
  MultiHeadFlashAttention &operator=(const MultiHeadFlashAttention &) = delete;

  int nHeads() const { return nHeads_; }
  int inputDim() const { return inputDim_; }
  int embedDim() const { return embedDim_; }
  int headDim() const { return headDim_; }
  bool hasBias() const { return bias_; }
  double attentionDropout() const { return dropout_; }
  DType dtype() const { return options_.dtype; }

  /// Xavier-uniform weights (bound sqrt(6 / (fan_in + fan_out))) and
  /// Linear-default biases (uniform +-1/sqrt(fan_in)), drawn from `seed`
  /// (a fixed stream: the same seed gives the same parameters).
  void initParameters(uint64_t seed = 0);
  /// torch's train()/eval(): dropout applies only in training mode.
  void train(bool mode = true) { training_ = mode; }
  void eval() { training_ = false; }
  bool training() const { return training_; }

  /// Parameters by PyTorch name (W_query.weight [E, input_dim], W_query.bias
  /// [E], W_key.*, W_val.*, W_out.weight [E, E], W_out.bias [E]; no biases
  /// when bias = false), as F32 tensors.
  StateDict stateDict() const;
  /// Takes parameters from `dict`: every expected key with its shape, dtype
  /// F32, F64, F16 or BF16 (converted), and no other key. Throws InvalidArgument
  /// naming the key (missing, unexpected, wrong shape, bad dtype); the layer
  /// is unchanged then.
  void loadStateDict(const StateDict &dict);
  /// The same from / to a safetensors file (StateDict.h for file errors).
  void loadStateDict(const std::string &path);
  void saveStateDict(const std::string &path) const;
  /// The parameter names this layer expects, in order.
  std::vector<std::string> parameterNames() const;

  /// out [B, n_query, embed] = the module's forward(q, h, mask).
  /// q [B, n_query, input_dim], h [B, graph, input_dim] (null: q), in the
  /// layer's dtype, rows contiguous (the last dim stride 1, every row
  /// `input_dim` apart within a batch: q viewable as [B * n_query, input_dim]);
  /// mask bool (true = masked out) [B, graph], [B, n_query, graph] or
  /// [B, n_heads, n_query, graph] (dims of size 1 broadcast). `out` (given:
  /// [B, n_query, embed], contiguous) or the layer's workspace receives the
  /// result; the returned view is valid until the next forward(). Validates
  /// everything before launching; runs on `stream`.
  TensorView forward(const TensorView &q, const TensorView *h = nullptr,
                     const TensorView *mask = nullptr, CUstream stream = nullptr,
                     std::optional<TensorView> out = std::nullopt);

  /// The last forward's attention weights and 4-D mask (store_attn_weights);
  /// nullopt when the layer does not store them or has not run.
  const std::optional<MhaAttnWeights> &lastAttn() const { return lastAttn_; }

  /// The backend the layer selected (for masks and dropout it uses SDPA).
  std::string_view backendName() const;
  /// Bytes of the workspace (0 before the first forward).
  size_t workspaceBytes() const { return workspace_.size(); }

  /// Checks q, h, mask and out as forward() does, without a GPU.
  void validateForward(const TensorView &q, const TensorView *h, const TensorView *mask,
                       const std::optional<TensorView> &out) const;

  /// The mask as the attention takes it: a 4-D [B, H|1, n_query|1, graph]
  /// view of the caller's mask (no copy) with stride 0 on broadcast dims, for
  /// mask ranks 2, 3 and 4. Throws InvalidArgument naming the dim that does
  /// not fit. Host-only arithmetic on the view.
  static TensorView maskAs4d(const TensorView &mask, int64_t batch, int64_t heads,
                             int64_t nQuery, int64_t graph);

private:
  struct Param {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  Param &param(const std::string &name);
  void uploadIfNeeded();
  void runAttention(const TensorView &qv, const TensorView &kv, const TensorView &vv,
                    const TensorView &ov, const TensorView *mask4d, bool dropout,
                    CUstream stream);

  int nHeads_, inputDim_, embedDim_, headDim_;
  bool bias_;
  double dropout_;
  bool storeAttnWeights_;
  MhaOptions options_;
  bool training_ = true; // torch modules start in training mode
  uint64_t dropoutOffset_ = 0;

  std::vector<Param> params_; ///< host float32 masters, parameterNames() order
  bool dirty_ = true;         ///< params_ changed since the last upload
  DeviceBuffer deviceParams_; ///< W_qkv [3E, in], b_qkv [3E], W_out [E, E], b_out [E]
  size_t wOutOffset_ = 0, bQkvOffset_ = 0, bOutOffset_ = 0; ///< bytes into deviceParams_
  DeviceBuffer workspace_;
  /// store_attn_weights: an identity matrix [graph, pitch] (zeros past graph)
  /// for the largest graph seen, whose column windows extract P.
  DeviceBuffer identity_;
  int64_t identityGraph_ = 0, identityPitch_ = 0;

  std::unique_ptr<AttentionImpl> impl_;      ///< selected backend, no mask, no dropout
  std::unique_ptr<AttentionImpl> sdpaImpl_;  ///< SDPA, masks
  std::unique_ptr<AttentionImpl> dropImpl_;  ///< SDPA with dropout (training)
  std::optional<MhaAttnWeights> lastAttn_;
};

} // namespace attnjit

#endif // ATTNJIT_LAYERS_MULTIHEADFLASHATTENTION_H

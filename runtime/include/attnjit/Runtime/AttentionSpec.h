//===- AttentionSpec.h - What attention a kernel computes --------*- C++ -*-===//
//
// Part of attnjit. The spec is the compile-time description of an attention
// kernel: everything that changes generated code and nothing that does not
// (batch, sequence lengths, head counts and strides are run-time values).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_ATTENTIONSPEC_H
#define ATTNJIT_RUNTIME_ATTENTIONSPEC_H

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace attnjit {

/// Kernel families. Merge is not an attention but its companion: it combines
/// partial outputs with their log-sum-exps (MergeKernelABI.h).
enum class Variant { Flash, Sdpa, Sage, Merge };
/// Element types. Bool (one byte, nonzero = true) is only a mask dtype.
enum class DType { F16, BF16, F32, Bool };
/// How an SDPA mask operand is interpreted (compile-time).
enum class MaskKind { None, Bool, Additive };

std::string_view toString(Variant v);
std::string_view toString(DType t);
std::string_view toString(MaskKind m);
std::optional<Variant> parseVariant(std::string_view s);
std::optional<DType> parseDType(std::string_view s);
std::optional<MaskKind> parseMaskKind(std::string_view s);
/// Bytes per element of a dtype.
int dtypeSize(DType t);

/// Tiling of a kernel. Zero fields mean "pick from the config table".
struct KernelConfig {
  int blockM = 0;   ///< query rows per CTA
  int blockN = 0;   ///< key rows per inner iteration
  int numWarps = 0; ///< warps per CTA
  int stages = 0;   ///< K/V shared-memory pipeline depth
  bool isComplete() const { return blockM > 0 && blockN > 0 && numWarps > 0 && stages > 0; }
  bool operator==(const KernelConfig &o) const {
    return blockM == o.blockM && blockN == o.blockN && numWarps == o.numWarps &&
           stages == o.stages;
  }
  std::string str() const;
};

/// Compile-time description of one attention kernel.
struct AttentionSpec {
  Variant variant = Variant::Flash;
  int headDim = 128;
  bool causal = false;
  DType dtype = DType::BF16;
  bool returnLse = false;          ///< also write log-sum-exp [B, H, Sq] (fp32)
  MaskKind maskKind = MaskKind::None; ///< SDPA only
  /// SDPA with a mask only: the mask is the same for every query row (its
  /// query-row stride is 0, e.g. a [B, Sk] key-padding mask), so the kernel
  /// reads one mask value per key instead of one per score.
  bool maskPerKey = false;
  bool dropout = false;            ///< SDPA only
  std::string arch = "sm_90a";     ///< target, e.g. sm_80, sm_90a
  KernelConfig config;             ///< zero fields: chosen by the compiler

  /// Returns an empty string when the spec can be compiled, else a message
  /// naming the offending field, what was expected and what was found.
  std::string validate() const;
  /// Canonical, order-stable text; the cache key hashes it.
  std::string canonical() const;
  /// Parses canonical() output (and hand-written `key=value;...` text).
  static std::optional<AttentionSpec> parse(std::string_view text, std::string *error = nullptr);
  /// A short name usable in symbol and file names, e.g. flash_d128_causal_bf16_sm90a.
  std::string kernelName() const;
  bool operator==(const AttentionSpec &o) const { return canonical() == o.canonical(); }
};

/// Head sizes the flash kernels are built for.
bool isSupportedFlashHeadDim(int headDim);
/// Compute capability (e.g. 90) of an arch string like sm_90a; -1 when unknown.
int archComputeCapability(std::string_view arch);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_ATTENTIONSPEC_H

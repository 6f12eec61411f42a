//===- AttentionSpec.h - What attention a kernel computes --------*- C++ -*-===//
//
// Part of attnjit. The spec is the compile-time description of an attention
// kernel: everything that changes generated code and nothing that does not
// (batch, sequence lengths, head counts and strides are run-time values).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_CORE_ATTENTIONSPEC_H
#define ATTNJIT_CORE_ATTENTIONSPEC_H

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace attnjit {

/// Kernel families. Merge is not an attention but its companion: it combines
/// partial outputs with their log-sum-exps (MergeKernelABI.h). Gemm is the
/// attention layers' projection, y = x w^T + bias (GemmKernelABI.h); it has
/// no head_dim (0: M, N and K are run-time values).
enum class Variant { Flash, Sdpa, Sage, Merge, Gemm };
/// Element types. Bool (one byte, nonzero = true) is only a mask dtype. I8 and
/// F8E4M3 (e4m3 "fn": no infinities, as NVIDIA's and torch's float8_e4m3fn)
/// are the quantized types of the Sage kernels; no current kernel takes them
/// for q, k or v (AttentionSpec::validate rejects them).
enum class DType { F16, BF16, F32, Bool, I8, F8E4M3 };
/// How an SDPA mask operand is interpreted (compile-time). Bool: true (nonzero)
/// attends, as torch's SDPA; BoolHides: true hides the key, the convention of
/// the MultiHeadFlashAttention module (read as such, never converted);
/// Additive: added to the scaled scores.
enum class MaskKind { None, Bool, Additive, BoolHides };
/// Sage: which rows share one INT8 scale of Q and of K, relative to the
/// attention kernel's tiling (SageAttention2's granularities; docs/SAGE.md).
/// PerBlock: Q per CTA tile of block_m rows, K per block of block_n keys.
/// PerWarp: Q per warp's rows, K per block of block_n keys. PerThread: Q per
/// pair of rows an MMA thread holds (rows i and i + 8 of each 16-row tile), K
/// per quarter of a key block (the keys whose column mod 8 is 2c or 2c + 1,
/// which one thread of a quad holds).
enum class Granularity { PerBlock, PerWarp, PerThread };
/// Sage: how P V is accumulated. Fp32: straight into the fp32 output
/// accumulator. Fp32Fp32: each key block's P V in a fresh fp32 accumulator,
/// then added to the output (two-level accumulation).
enum class PvAccum { Fp32, Fp32Fp32 };

std::string_view toString(Variant v);
std::string_view toString(DType t);
std::string_view toString(MaskKind m);
std::optional<Variant> parseVariant(std::string_view s);
std::optional<DType> parseDType(std::string_view s);
std::optional<MaskKind> parseMaskKind(std::string_view s);
std::string_view toString(Granularity g); ///< per_block, per_warp, per_thread
std::string_view toString(PvAccum a);     ///< fp32, fp32_fp32
std::optional<Granularity> parseGranularity(std::string_view s);
std::optional<PvAccum> parsePvAccum(std::string_view s);
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
///
/// The fields are listed once, in forEachField: canonical(), parse(), the
/// memory-cache key (memoryKeyFields) and through canonical() the disk-cache
/// and bundle keys are derived from that list, so a field added there reaches
/// every key. A new field must also be carried by the attn op (AttnSpecBridge),
/// which a static_assert on kNumFields there reminds of, and be covered by
/// tests/unit/SpecFieldListTest.cpp, which iterates over the list itself.
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
  /// Sage only (other variants keep the defaults; validate() says so): the
  /// attn.sage op's granularity, smooth_k and pv_accum, with its defaults.
  Granularity granularity = Granularity::PerThread;
  bool smoothK = true; ///< subtract K's mean over the keys before quantizing
  PvAccum pvAccum = PvAccum::Fp32Fp32;

  /// Number of fields forEachField visits.
  static constexpr int kNumFields = 16;
  /// The one field list. Calls `f(key, member)` for every compile-time field,
  /// config included, in canonical order; `key` is the canonical key and
  /// `member` a reference to the field (const when `self` is), of type
  /// Variant, int, bool, DType, MaskKind, Granularity, PvAccum or std::string
  /// (only the arch). The
  /// order and keys are the canonical text format that existing cache entries
  /// and bundles are keyed by: append new fields, never reorder or rename.
  template <class Self, class F> static void forEachField(Self &self, F &&f) {
    f("variant", self.variant);
    f("head_dim", self.headDim);
    f("causal", self.causal);
    f("dtype", self.dtype);
    f("lse", self.returnLse);
    f("mask", self.maskKind);
    f("mask_per_key", self.maskPerKey);
    f("dropout", self.dropout);
    f("arch", self.arch);
    f("block_m", self.config.blockM);
    f("block_n", self.config.blockN);
    f("warps", self.config.numWarps);
    f("stages", self.config.stages);
    f("granularity", self.granularity);
    f("smooth_k", self.smoothK);
    f("pv_accum", self.pvAccum);
  }
  template <class F> void forEachField(F &&f) { forEachField(*this, f); }
  template <class F> void forEachField(F &&f) const { forEachField(*this, f); }

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

/// The spec's fields as integers in forEachField order, for keys that must not
/// allocate (the memory cache's per-thread hit path): enums and bools as their
/// value, ints as they are. The arch is 0: every memory-cache key also holds
/// the CUDA context, whose device fixes the arch (the shared map's key is the
/// canonical text with the arch cleared, for the same reason).
using SpecKeyFields = std::array<int64_t, AttentionSpec::kNumFields>;
SpecKeyFields memoryKeyFields(const AttentionSpec &spec);

/// Returns an empty string when `arch` names a target attnjit kernels can be
/// built for (sm_<NN>[a] with NN >= 80), else why not, e.g. "expected
/// sm_<NN>[a] (e.g. sm_80, sm_90a), got 'sm_100f'". The one arch check: the
/// spec's validate() and the attn dialect's `attn.target` verifier use it.
std::string checkArch(std::string_view arch);

/// Head sizes the flash kernels are built for (32..256, step 32); the Sage
/// kernels take the same ones.
bool isSupportedFlashHeadDim(int headDim);
/// Compute capability (e.g. 90) of an arch string like sm_90a; -1 when unknown.
int archComputeCapability(std::string_view arch);

/// A target attnjit compiles for, and the first PTX ISA version (e.g. 86 for
/// 8.6) that knows it: PTX is emitted at max(8.0, that, what the kernel's
/// instructions need), so a newer GPU (sm_100a, sm_120a, ...) gets PTX its
/// driver and LLVM accept instead of a fatal LLVM error.
struct ArchInfo {
  std::string_view name;
  int minPtxVersion;
  int maxSharedBytes; ///< dynamic shared memory a CTA may opt in to
};
/// Every arch checkArch accepts, oldest first.
const std::vector<ArchInfo> &knownArchs();
/// knownArchs()' PTX version for `arch`; 0 when it is not known.
int archMinPtxVersion(std::string_view arch);
/// knownArchs()' opt-in shared memory per CTA for `arch`; 0 when not known.
int archMaxSharedBytes(std::string_view arch);
/// The largest value a KernelConfig field may take (tiles, warps, stages);
/// recipes apply their own, tighter limits.
inline constexpr int kMaxConfigValue = 1024;

} // namespace attnjit

#endif // ATTNJIT_CORE_ATTENTIONSPEC_H

//===- AttentionSpec.cpp - Spec validation and canonical text -------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Core/AttentionSpec.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace attnjit {

std::string_view toString(Variant v) {
  switch (v) {
  case Variant::Flash: return "flash";
  case Variant::Sdpa: return "sdpa";
  case Variant::Sage: return "sage";
  case Variant::Merge: return "merge";
  case Variant::Gemm: return "gemm";
  }
  return "?";
}
std::string_view toString(DType t) {
  switch (t) {
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::F32: return "f32";
  case DType::Bool: return "bool";
  case DType::I8: return "i8";
  case DType::F8E4M3: return "f8e4m3";
  }
  return "?";
}
std::string_view toString(MaskKind m) {
  switch (m) {
  case MaskKind::None: return "none";
  case MaskKind::Bool: return "bool";
  case MaskKind::Additive: return "additive";
  case MaskKind::BoolHides: return "bool_hides";
  }
  return "?";
}
std::string_view toString(Granularity g) {
  switch (g) {
  case Granularity::PerBlock: return "per_block";
  case Granularity::PerWarp: return "per_warp";
  case Granularity::PerThread: return "per_thread";
  }
  return "?";
}
std::string_view toString(PvAccum a) {
  switch (a) {
  case PvAccum::Fp32: return "fp32";
  case PvAccum::Fp32Fp32: return "fp32_fp32";
  }
  return "?";
}
std::optional<Granularity> parseGranularity(std::string_view s) {
  for (Granularity g : {Granularity::PerBlock, Granularity::PerWarp, Granularity::PerThread})
    if (toString(g) == s)
      return g;
  return std::nullopt;
}
std::optional<PvAccum> parsePvAccum(std::string_view s) {
  if (s == "fp32") return PvAccum::Fp32;
  if (s == "fp32_fp32" || s == "fp32+fp32") return PvAccum::Fp32Fp32;
  return std::nullopt;
}
std::optional<Variant> parseVariant(std::string_view s) {
  if (s == "flash") return Variant::Flash;
  if (s == "sdpa") return Variant::Sdpa;
  if (s == "sage") return Variant::Sage;
  if (s == "merge") return Variant::Merge;
  if (s == "gemm") return Variant::Gemm;
  return std::nullopt;
}
std::optional<DType> parseDType(std::string_view s) {
  if (s == "f16" || s == "fp16" || s == "float16") return DType::F16;
  if (s == "bf16" || s == "bfloat16") return DType::BF16;
  if (s == "f32" || s == "fp32" || s == "float32") return DType::F32;
  if (s == "bool") return DType::Bool;
  if (s == "i8" || s == "int8") return DType::I8;
  if (s == "f8e4m3" || s == "float8_e4m3fn") return DType::F8E4M3;
  return std::nullopt;
}
std::optional<MaskKind> parseMaskKind(std::string_view s) {
  if (s == "none") return MaskKind::None;
  if (s == "bool") return MaskKind::Bool;
  if (s == "additive") return MaskKind::Additive;
  if (s == "bool_hides") return MaskKind::BoolHides;
  return std::nullopt;
}
int dtypeSize(DType t) {
  // No default: a new dtype must say its size here (-Wswitch).
  switch (t) {
  case DType::F16:
  case DType::BF16: return 2;
  case DType::F32: return 4;
  case DType::Bool:
  case DType::I8:
  case DType::F8E4M3: return 1;
  }
  return 0;
}

std::string KernelConfig::str() const {
  return fmt::format("bm{}_bn{}_w{}_s{}", blockM, blockN, numWarps, stages);
}

bool isSupportedFlashHeadDim(int d) {
  return d >= 32 && d <= 256 && d % 32 == 0;
}

int archComputeCapability(std::string_view arch) {
  if (arch.size() < 5 || arch.substr(0, 3) != "sm_")
    return -1;
  std::string_view rest = arch.substr(3);
  if (!rest.empty() && rest.back() == 'a')
    rest.remove_suffix(1); // arch-specific variant, e.g. sm_90a
  std::string digits;
  for (char c : rest) {
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return -1;
    digits += c;
  }
  if (digits.size() < 2)
    return -1;
  return std::atoi(digits.c_str());
}

const std::vector<ArchInfo> &knownArchs() {
  // sm_80..sm_90a since PTX 7.0..8.0 (attnjit's floor is 8.0); Blackwell and
  // its successors from the PTX versions that introduced them (CUDA 12.8:
  // 8.7, 12.9: 8.8, 13.0: 9.0). The "a" forms are what the runtime names a
  // device of compute capability 9.0 and newer (archForComputeCapability).
  // Shared memory: the opt-in per-block limit of each generation (CUDA
  // programming guide, compute capabilities table): 163 KB on sm_80/87, 99 KB
  // on sm_86/89/120/121, 227 KB on sm_90/100/103/110 and 99 KB on sm_101.
  constexpr int k163 = 166912, k99 = 101376, k227 = 232448;
  static const std::vector<ArchInfo> archs = {
      {"sm_80", 80, k163},   {"sm_86", 80, k99},    {"sm_87", 80, k163},
      {"sm_89", 80, k99},    {"sm_90", 80, k227},   {"sm_90a", 80, k227},
      {"sm_100", 86, k227},  {"sm_100a", 86, k227}, {"sm_101", 86, k99},
      {"sm_101a", 86, k99},  {"sm_103", 88, k227},  {"sm_103a", 88, k227},
      {"sm_110", 90, k227},  {"sm_110a", 90, k227}, {"sm_120", 87, k99},
      {"sm_120a", 87, k99},  {"sm_121", 88, k99},   {"sm_121a", 88, k99}};
  return archs;
}

int archMinPtxVersion(std::string_view arch) {
  for (const ArchInfo &a : knownArchs())
    if (a.name == arch)
      return a.minPtxVersion;
  return 0;
}

int archMaxSharedBytes(std::string_view arch) {
  for (const ArchInfo &a : knownArchs())
    if (a.name == arch)
      return a.maxSharedBytes;
  return 0;
}

std::string checkArch(std::string_view arch) {
  int cc = archComputeCapability(arch);
  if (cc < 0)
    return fmt::format("expected sm_<NN>[a] (e.g. sm_80, sm_90a), got '{}'", arch);
  if (cc < 80)
    return fmt::format("attnjit kernels need sm_80 or newer, got '{}'", arch);
  if (archMinPtxVersion(arch) == 0) {
    std::string names;
    for (const ArchInfo &a : knownArchs())
      names += (names.empty() ? "" : ", ") + std::string(a.name);
    return fmt::format("'{}' is not an arch this build targets (known: {})", arch, names);
  }
  return {};
}

std::string AttentionSpec::validate() const {
  if (std::string err = checkArch(arch); !err.empty())
    return "arch: " + err;
  if (dtype == DType::Bool)
    return "dtype: bool is a mask dtype; q, k and v must be f16, bf16 or f32";
  if (dtype == DType::I8 || dtype == DType::F8E4M3)
    return fmt::format("dtype: {} is a quantized dtype of the Sage kernels, not an input "
                       "type; q, k and v of {} must be {}",
                       toString(dtype), toString(variant),
                       variant == Variant::Sdpa || variant == Variant::Merge ||
                               variant == Variant::Gemm
                           ? "f16, bf16 or f32"
                                                                       : "f16 or bf16");
  if (maskPerKey && (variant != Variant::Sdpa || maskKind == MaskKind::None))
    return "mask_per_key: only for an sdpa spec with a mask";
  if (variant != Variant::Sage) {
    AttentionSpec defaults;
    if (granularity != defaults.granularity || smoothK != defaults.smoothK ||
        pvAccum != defaults.pvAccum)
      return fmt::format("granularity/smooth_k/pv_accum: only sage specs quantize; a {} spec "
                         "keeps the defaults (per_thread, 1, fp32_fp32), got {}, {}, {}",
                         toString(variant), toString(granularity), smoothK ? 1 : 0,
                         toString(pvAccum));
  }
  switch (variant) {
  case Variant::Flash:
    if (!isSupportedFlashHeadDim(headDim))
      return fmt::format("head_dim: flash supports 32, 64, 96, 128, 160, 192, 224, 256; got {}",
                         headDim);
    if (dtype == DType::F32)
      return "dtype: flash supports f16 and bf16, got f32";
    if (maskKind != MaskKind::None)
      return "mask: flash takes no mask (use sdpa)";
    if (dropout)
      return "dropout: flash has no dropout (use sdpa)";
    break;
  case Variant::Sdpa:
    if (headDim < 1 || headDim > 256)
      return fmt::format("head_dim: sdpa supports 1..256, got {}", headDim);
    break;
  case Variant::Sage:
    if (!isSupportedFlashHeadDim(headDim))
      return fmt::format("head_dim: sage supports 32, 64, 96, 128, 160, 192, 224, 256; got {}",
                         headDim);
    if (dtype == DType::F32)
      return "dtype: sage supports f16 and bf16 inputs, got f32";
    if (maskKind != MaskKind::None)
      return "mask: sage takes no mask (use sdpa)";
    if (dropout)
      return "dropout: sage has no dropout (use sdpa)";
    break;
  case Variant::Merge:
    if (headDim < 1 || headDim > 256)
      return fmt::format("head_dim: merge supports 1..256, got {}", headDim);
    if (causal)
      return "causal: merge combines finished partial outputs and has no causal form";
    if (maskKind != MaskKind::None || dropout)
      return "mask/dropout: merge takes no mask and no dropout";
    break;
  case Variant::Gemm:
    if (headDim != 0)
      return fmt::format("head_dim: gemm has none (M, N and K are run-time values); expected 0, "
                         "got {}",
                         headDim);
    if (causal || returnLse || maskKind != MaskKind::None || dropout)
      return "causal/lse/mask/dropout: gemm (y = x w^T + bias) has none of them";
    break;
  }
  if (config.blockM < 0 || config.blockN < 0 || config.numWarps < 0 || config.stages < 0)
    return fmt::format("config: fields must be >= 0, got {}", config.str());
  for (int v : {config.blockM, config.blockN, config.numWarps, config.stages})
    if (v > kMaxConfigValue)
      return fmt::format("config: fields must be at most {}, got {}", kMaxConfigValue,
                         config.str());
  return {};
}

//===----------------------------------------------------------------------===//
// Field values as text and integers: one overload per field type, so the
// visitors over the field list below need no per-field code.
//===----------------------------------------------------------------------===//

namespace {

void appendValue(std::string &out, Variant v) { out += toString(v); }
void appendValue(std::string &out, DType v) { out += toString(v); }
void appendValue(std::string &out, MaskKind v) { out += toString(v); }
void appendValue(std::string &out, Granularity v) { out += toString(v); }
void appendValue(std::string &out, PvAccum v) { out += toString(v); }
void appendValue(std::string &out, bool v) { out += v ? '1' : '0'; }
void appendValue(std::string &out, int v) { out += std::to_string(v); }
void appendValue(std::string &out, const std::string &v) { out += v; }

bool parseInt(std::string_view s, int &out) {
  if (s.empty())
    return false;
  int sign = 1;
  size_t i = 0;
  if (s[0] == '-') {
    sign = -1;
    i = 1;
  }
  if (i == s.size())
    return false;
  long v = 0;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i])))
      return false;
    v = v * 10 + (s[i] - '0');
    if (v > 1 << 30)
      return false;
  }
  out = static_cast<int>(sign * v);
  return true;
}

template <class T> bool assignParsed(std::optional<T> parsed, T &dst) {
  if (parsed)
    dst = *parsed;
  return parsed.has_value();
}
bool parseValue(std::string_view s, Variant &dst) { return assignParsed(parseVariant(s), dst); }
bool parseValue(std::string_view s, DType &dst) { return assignParsed(parseDType(s), dst); }
bool parseValue(std::string_view s, MaskKind &dst) { return assignParsed(parseMaskKind(s), dst); }
bool parseValue(std::string_view s, Granularity &dst) {
  return assignParsed(parseGranularity(s), dst);
}
bool parseValue(std::string_view s, PvAccum &dst) { return assignParsed(parsePvAccum(s), dst); }
bool parseValue(std::string_view s, int &dst) { return parseInt(s, dst); }
bool parseValue(std::string_view s, bool &dst) {
  if (s == "1" || s == "true") { dst = true; return true; }
  if (s == "0" || s == "false") { dst = false; return true; }
  return false;
}
bool parseValue(std::string_view s, std::string &dst) {
  dst = std::string(s);
  return true;
}

template <class T> int64_t keyValue(T v) { return static_cast<int64_t>(v); }
int64_t keyValue(const std::string &) { return 0; } // the arch: see memoryKeyFields

} // namespace

std::string AttentionSpec::canonical() const {
  std::string out;
  out.reserve(160);
  forEachField([&](std::string_view key, const auto &value) {
    if (!out.empty())
      out += ';';
    out += key;
    out += '=';
    appendValue(out, value);
  });
  return out;
}

SpecKeyFields memoryKeyFields(const AttentionSpec &spec) {
  SpecKeyFields fields{};
  size_t i = 0;
  // The bound only guards memory should kNumFields lag behind the list; the
  // field-list unit test pins the count.
  spec.forEachField([&](std::string_view, const auto &value) {
    if (i < fields.size())
      fields[i] = keyValue(value);
    ++i;
  });
  return fields;
}

std::string AttentionSpec::kernelName() const {
  std::string a = arch;
  a.erase(std::remove(a.begin(), a.end(), '_'), a.end());
  std::string name = fmt::format("attnjit_{}_d{}{}_{}{}", toString(variant), headDim,
                                 causal ? "_causal" : "", toString(dtype), returnLse ? "_lse" : "");
  if (maskKind != MaskKind::None)
    name += fmt::format("_mask{}{}", toString(maskKind), maskPerKey ? "_perkey" : "");
  if (dropout)
    name += "_dropout";
  // Sage's defaults (per_thread, smooth_k, fp32_fp32) add nothing.
  if (granularity != Granularity::PerThread)
    name += granularity == Granularity::PerBlock ? "_perblock" : "_perwarp";
  if (!smoothK)
    name += "_nosmoothk";
  if (pvAccum == PvAccum::Fp32)
    name += "_pvfp32";
  return name + "_" + a;
}

std::optional<AttentionSpec> AttentionSpec::parse(std::string_view text, std::string *error) {
  auto fail = [&](std::string msg) -> std::optional<AttentionSpec> {
    if (error)
      *error = std::move(msg);
    return std::nullopt;
  };
  AttentionSpec spec;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string_view::npos)
      end = text.size();
    std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty())
      continue;
    size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      return fail(fmt::format("spec: expected key=value, got '{}'", item));
    std::string_view key = item.substr(0, eq), val = item.substr(eq + 1);
    bool known = false, ok = false;
    spec.forEachField([&](std::string_view fieldKey, auto &member) {
      if (fieldKey == key) {
        known = true;
        ok = parseValue(val, member);
      }
    });
    if (!known)
      return fail(fmt::format("spec: unknown key '{}'", key));
    if (!ok)
      return fail(fmt::format("spec: bad value '{}' for key '{}'", val, key));
  }
  return spec;
}

} // namespace attnjit

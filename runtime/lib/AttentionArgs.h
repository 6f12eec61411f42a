//===- AttentionArgs.h - Checks shared by the attention entries -*- C++ -*-===//
//
// Part of attnjit. Private to the runtime library. flashAttention() and
// sdpaAttention() take the same q, k, v and out tensors and launch on the same
// grid, so they share the checks of those tensors (pointers, devices, ranks,
// sizes, strides, alignment, 64-bit spans, GQA, grid limits, aliasing), the
// messages those checks produce, and the load-and-check-device step. What
// differs between them (dtypes, the access granule, head sizes, extra
// operands) is passed in or checked by each entry.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LIB_ATTENTIONARGS_H
#define ATTNJIT_RUNTIME_LIB_ATTENTIONARGS_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace attnjit {
struct LoadedKernel;
} // namespace attnjit

namespace attnjit::detail {

/// Logical dimensions of q, k, v and out, in BSHD order.
enum Dim { kBatch = 0, kSeq = 1, kHeads = 2, kHeadDim = 3 };

/// Names the dimensions as the caller passed them: views are validated in BSHD
/// order, but messages use the caller's indices.
struct DimNames {
  int physical[4]; ///< caller's index of each logical dimension

  static DimNames forLayout(Layout l);
};

/// What the kernel's global accesses need from q, k, v and out. Built on
/// every call, so its reason is text only when a check fails.
struct AccessRule {
  int alignBytes = 16;  ///< data pointers must be aligned to this many bytes
  int strideElems = 8;  ///< batch, row and head strides must be multiples of this
  /// The reason, for messages (e.g. "the kernel uses 16-byte vector loads"),
  /// or null when `describe` writes it from the fields.
  const char *why = nullptr;
  std::string (*describe)(const AccessRule &) = nullptr;
  int64_t headDim = 0;  ///< for `describe`
  int elementBytes = 0; ///< for `describe`

  std::string reason() const { return describe ? describe(*this) : std::string(why ? why : ""); }
};

/// Bit (1 << DType) of a dtype, for QkvoRules::dtypes.
constexpr uint32_t dtypeBit(DType t) { return 1u << static_cast<int>(t); }

/// The entry-specific parts of the q/k/v/out checks.
struct QkvoRules {
  uint32_t dtypes = 0; ///< q's allowed dtypes (dtypeBit); k, v and out must have q's
  AccessRule access;
};

/// Throws InvalidArgument with `msg`.
[[noreturn]] void invalid(const std::string &msg);

/// The BSHD view of a tensor given in `layout` order.
TensorView toBshd(const TensorView &t, Layout layout);
/// "[2, 128, 8, 64]" in the caller's dimension order.
std::string shapeStr(const TensorView &t, const DimNames &names);
/// "[0x1000, 0x2000)".
std::string extentStr(std::pair<uintptr_t, uintptr_t> e);
/// Whether two half-open byte ranges intersect.
bool overlaps(std::pair<uintptr_t, uintptr_t> a, std::pair<uintptr_t, uintptr_t> b);

/// Throws when the element offsets of `t` overflow 64 bits or its bytes wrap
/// the address space. Messages print its shape in the caller's order of
/// `names`, or in its own order when `names` is null.
void checkSpan(const char *name, const TensorView &t, const DimNames *names = nullptr);

/// "[2, 128, 8, 64]" in the tensor's own dimension order.
std::string shapeText(const TensorView &t);

/// Same rank and sizes (no allocation, unlike comparing shape()s).
bool sameShape(const TensorView &a, const TensorView &b);

/// One tensor on its own: pointer, CUDA device, rank (`dims` names the
/// dimensions in messages), sizes (> 0, 32-bit), non-negative strides, the
/// last dim contiguous when `contiguousLast` names it (null: any stride), the
/// element alignment, the span.
void checkView(const char *name, const TensorView &t, int rank, const char *dims,
               const char *contiguousLast);

/// True when no two elements of `t` share memory (sufficient check: sorted by
/// stride, every stride exceeds the span of the smaller dimensions).
bool isNonOverlapping(const TensorView &t);

/// Everything about q [B, Sq, H, D], k and v [B, Sk, Hkv, D] and out (like q)
/// that does not depend on the variant: each tensor on its own (pointer,
/// device, rank, sizes, contiguous head_dim, strides and alignment per
/// `rules.access`, span), then dtypes and devices against q's, shapes against
/// each other, H % Hkv, the grid limits, and out overlapping itself or q, k, v
/// (out may be exactly q).
void validateQkvo(const TensorView &q, const TensorView &k, const TensorView &v,
                  const TensorView &out, const DimNames &names, const QkvoRules &rules);

/// An optional fp32 [B, H, Sq] contiguous LSE output (null: none): 4-byte
/// aligned, overlapping none of out, q, k, v. Messages name it opts.lse.
void checkLseOutput(const float *lse, const TensorView &q, const TensorView &k,
                    const TensorView &v, const TensorView &out);
/// opts.softmaxScale finite; opts.config fields >= 0.
void checkScaleAndConfig(const std::optional<float> &softmaxScale, const KernelConfig &config);

/// What flash and Sage check alike on BSHD views: q, k, v, out as f16/bf16
/// read in 16-byte vectors (validateQkvo), the LSE output, the scale and
/// config, and a head size of the flash set (Unsupported naming `variant`).
void validateFlashFamilyArgs(const TensorView &q, const TensorView &k, const TensorView &v,
                             const TensorView &out, const float *lse,
                             const std::optional<float> &softmaxScale,
                             const KernelConfig &config, const DimNames &names,
                             const char *variant);

/// The kernel for `spec` loaded in the context of `stream`; throws
/// InvalidArgument when that context is not on q's device.
const LoadedKernel &loadKernelFor(const AttentionSpec &spec, const TensorView &q,
                                  CUstream stream);

} // namespace attnjit::detail

#endif // ATTNJIT_RUNTIME_LIB_ATTENTIONARGS_H

//===- Linear.cpp - y = x w^T + bias through the generated GEMM -----------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Linear.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdint>

namespace attnjit {

using namespace detail;

namespace {

uintptr_t addressOf(const TensorView &t) { return reinterpret_cast<uintptr_t>(t.data()); }

/// x and w move in 16-byte cp.async chunks (f32: 16-byte vector loads).
void checkChunked(const char *name, const TensorView &t) {
  if (addressOf(t) % 16 != 0)
    invalid(fmt::format("{}.data: expected a 16-byte aligned pointer (the kernel loads rows in "
                        "16-byte chunks), got {}",
                        name, t.data()));
  int64_t unit = 16 / t.elementSize();
  if (t.size(0) > 1 && t.stride(0) % unit != 0)
    invalid(fmt::format("{}.strides[0]: expected a multiple of {} elements (16 bytes; the kernel "
                        "loads rows in 16-byte chunks), got {}",
                        name, unit, t.stride(0)));
}

} // namespace

void validateLinearArgs(const TensorView &x, const TensorView &w, const TensorView *bias,
                        const TensorView &y, const LinearOptions &opts) {
  checkView("x", x, 2, "[M, K]", "K");
  checkView("w", w, 2, "[N, K]", "K");
  checkView("y", y, 2, "[M, N]", "N");
  if (bias)
    checkView("bias", *bias, 1, "[N]", "N");
  if (x.dtype() != DType::F16 && x.dtype() != DType::BF16 && x.dtype() != DType::F32)
    invalid(fmt::format("x.dtype: expected f16, bf16 or f32, got {}", toString(x.dtype())));
  std::pair<const char *, const TensorView *> others[] = {{"w", &w}, {"y", &y}, {"bias", bias}};
  for (auto [name, t] : others) {
    if (!t)
      continue;
    if (t->dtype() != x.dtype())
      invalid(fmt::format("{}.dtype: expected x's dtype {}, got {}", name, toString(x.dtype()),
                          toString(t->dtype())));
    if (t->device() != x.device())
      invalid(fmt::format("{}.device: expected cuda:{} (x's), got cuda:{}", name, x.device(),
                          t->device()));
  }
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  if (w.size(1) != K)
    invalid(fmt::format("w.shape[1] (K): expected {} (x.shape[1]), got {}", K, w.size(1)));
  if (y.size(0) != M || y.size(1) != N)
    invalid(fmt::format("y.shape: expected [{}, {}] ([M, N] of x {} and w {}), got {}", M, N,
                        shapeText(x), shapeText(w), shapeText(y)));
  if (bias && bias->size(0) != N)
    invalid(fmt::format("bias.shape[0] (N): expected {} (w.shape[0]), got {}", N, bias->size(0)));
  if (K % 8 != 0)
    invalid(fmt::format("x.shape[1] (K): expected a multiple of 8 (the kernel moves K in chunks "
                        "of 8 elements), got {}",
                        K));
  checkChunked("x", x);
  checkChunked("w", w);
  // 16-bit outputs are stored as element pairs.
  if (y.elementSize() == 2) {
    if (addressOf(y) % 4 != 0)
      invalid(fmt::format("y.data: expected a 4-byte aligned pointer (pairs of 16-bit outputs "
                          "are stored together), got {}",
                          y.data()));
    if (y.size(0) > 1 && y.stride(0) % 2 != 0)
      invalid(fmt::format("y.strides[0]: expected an even number of elements (pairs of 16-bit "
                          "outputs are stored together), got {}",
                          y.stride(0)));
  }
  if (!isNonOverlapping(y))
    invalid(fmt::format("y: its elements overlap each other (shape {}, strides [{}])",
                        shapeText(y), fmt::join(y.strides(), ", ")));
  for (auto [name, t] : {std::pair<const char *, const TensorView *>{"x", &x}, {"w", &w},
                         {"bias", bias}})
    if (t && overlaps(y.byteExtent(), t->byteExtent()))
      invalid(fmt::format("y: overlaps {} in memory (y spans {}, {} spans {})", name,
                          extentStr(y.byteExtent()), name, extentStr(t->byteExtent())));
  checkScaleAndConfig(std::nullopt, opts.config);
}

AttentionSpec makeLinearSpec(const TensorView &x, const LinearOptions &opts) {
  AttentionSpec spec;
  spec.variant = Variant::Gemm;
  spec.headDim = 0;
  spec.dtype = x.dtype();
  spec.config = opts.config;
  return spec;
}

GemmLaunchArgs makeLinearLaunchArgs(const TensorView &x, const TensorView &w,
                                    const TensorView *bias, const TensorView &y) {
  GemmLaunchArgs a;
  a.x = x.data();
  a.w = w.data();
  a.bias = bias ? bias->data() : nullptr;
  a.y = y.data();
  a.m = static_cast<int32_t>(x.size(0));
  a.n = static_cast<int32_t>(w.size(0));
  a.k = static_cast<int32_t>(x.size(1));
  a.hasBias = bias ? 1 : 0;
  // A dimension of size 1 may carry any stride; the kernel never steps it.
  a.xRowStride = x.size(0) > 1 ? x.stride(0) : 0;
  a.wRowStride = w.size(0) > 1 ? w.stride(0) : 0;
  a.yRowStride = y.size(0) > 1 ? y.stride(0) : 0;
  return a;
}

void linear(const TensorView &x, const TensorView &w, const TensorView *bias,
            const TensorView &y, CUstream stream, const LinearOptions &opts) {
  validateLinearArgs(x, w, bias, y, opts);
  const LoadedKernel &lk = loadKernelFor(makeLinearSpec(x, opts), x, stream);
  GemmLaunchArgs args = makeLinearLaunchArgs(x, w, bias, y);
  const int blockN = lk.kernel->spec.config.blockN;
  const int64_t nTiles = (args.n + blockN - 1) / blockN;
  if (nTiles > 65535)
    invalid(fmt::format("w.shape[0] (N): at most {} tiles of {} columns fit the grid, got N = {}",
                        65535, blockN, args.n));
  void *params[kNumGemmParams];
  args.fillParamPointers(params);
  KernelRuntime::instance().launch(lk, 0, params,
                                   LaunchDims{args.m, static_cast<int>(nTiles), 1}, stream);
}

} // namespace attnjit

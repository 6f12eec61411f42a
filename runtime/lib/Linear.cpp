//===- Linear.cpp - y = x w^T + bias through the generated GEMM -----------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Linear.h"

#include "AttentionArgs.h"

#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
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

namespace {

/// A 16-bit row-major matrix [rows, cols] as a TMA tensor map (cols
/// innermost) with a box of 64 columns x boxRows rows, 128B swizzle.
CUtensorMap gemmTensorMap(DType dtype, const void *data, int64_t rows, int64_t cols,
                          int64_t rowStride, int boxRows, const char *what) {
  TiledTensorMapDesc d;
  d.dataType =
      dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  d.rank = 2;
  d.globalAddress = data;
  d.globalDim[0] = uint64_t(cols);
  d.globalDim[1] = uint64_t(rows);
  // A single row is never stepped over; its stride (free in a view, 0 in
  // the launch arguments) is replaced by a packed one that TMA accepts.
  d.globalStrides[0] = rows > 1 ? uint64_t(rowStride) * 2 : (uint64_t(cols) * 2 + 15) / 16 * 16;
  d.boxDim[0] = kGemmTmaBoxCols;
  d.boxDim[1] = uint32_t(boxRows);
  d.swizzle = CU_TENSOR_MAP_SWIZZLE_128B;
  d.l2Promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B;
  return encodeTiledTensorMap(d, what);
}

/// The sm_90a recipe's kernels (kGemmTmaParams): tensor maps of x, w and
/// (when TMA can store it) y, and a persistent grid of one CTA per SM (the
/// recipe's tiles take more than half an SM's shared memory), fewer when
/// there are fewer tiles.
void launchGemmSm90(const LoadedKernel &lk, GemmLaunchArgs &args, CUstream stream) {
  const AttentionSpec &spec = lk.kernel->spec;
  const KernelConfig &c = spec.config;
  CUtensorMap maps[3] = {};
  maps[0] = gemmTensorMap(spec.dtype, args.x, args.m, args.k, args.xRowStride, c.blockM, "x");
  maps[1] = gemmTensorMap(spec.dtype, args.w, args.n, args.k, args.wRowStride, c.blockN, "w");
  // TMA stores need a 16-byte aligned y with 16-byte row strides, and rows
  // of whole 16-byte units: past N they clip at 16-byte granularity (on the
  // H200 an f16 y with N = 33 had columns 33..39 of its padded rows written).
  // Any other y (linear() allows 4-byte pairs) is stored by the kernel's
  // threads, which write exactly [M, N].
  int32_t yByTma = reinterpret_cast<uintptr_t>(args.y) % 16 == 0 && args.n % 8 == 0 &&
                   (args.m == 1 || (args.yRowStride * 2) % 16 == 0);
  if (yByTma)
    maps[2] = gemmTensorMap(spec.dtype, args.y, args.m, args.n, args.yRowStride, 64, "y");
  void *params[kNumGemmParams + kNumGemmTmaParams];
  args.fillParamPointers(params);
  for (int i = 0; i < 3; ++i)
    params[kNumGemmParams + i] = &maps[i];
  params[kNumGemmParams + 3] = &yByTma;
  const int64_t tiles = (int64_t(args.m) + c.blockM - 1) / c.blockM *
                        ((int64_t(args.n) + c.blockN - 1) / c.blockN);
  const int64_t ctas = std::min<int64_t>(tiles, std::max(lk.smCount, 1));
  KernelRuntime::instance().launch(lk, 0, params, LaunchDims{ctas * c.blockM, 1, 1}, stream);
}

} // namespace

void linear(const TensorView &x, const TensorView &w, const TensorView *bias,
            const TensorView &y, CUstream stream, const LinearOptions &opts) {
  validateLinearArgs(x, w, bias, y, opts);
  const LoadedKernel &lk = loadKernelFor(makeLinearSpec(x, opts), x, stream);
  GemmLaunchArgs args = makeLinearLaunchArgs(x, w, bias, y);
  if (lk.kernel->plan.kernels.front().params.size() == kNumGemmParams + kNumGemmTmaParams) {
    launchGemmSm90(lk, args, stream);
    return;
  }
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

//===- Linear.h - y = x w^T + bias through the generated GEMM ---*- C++ -*-===//
//
// Part of attnjit. torch.nn.functional.linear on the GEMM recipe
// (GemmKernelABI.h): the projections of the multi-head attention layer.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LINEAR_H
#define ATTNJIT_RUNTIME_LINEAR_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Core/GemmKernelABI.h"
#include "attnjit/Runtime/Tensor.h"

#include <cuda.h>

namespace attnjit {

struct LinearOptions {
  /// Zero fields are chosen by the compiler (block_m x block_n outputs per
  /// CTA, warps, cp.async stages; f32: stages 1, 4 x 4 outputs per thread).
  KernelConfig config;
};

/// Checks everything linear() checks, without a driver: x [M, K], w [N, K],
/// y [M, N] (rank 2, columns contiguous, rows of any stride) and the optional
/// bias [N] (contiguous), all f16, bf16 or f32 and the same dtype, on one CUDA
/// device. K must be a multiple of 8 (the kernel moves K in 16-byte chunks),
/// x and w 16-byte aligned with row strides of whole 16-byte units, y aligned
/// to two elements (16-bit dtypes: its row stride even), M, N, K < 2^31, N
/// tiles within the grid. y must not overlap x, w or bias. Throws
/// InvalidArgument naming the tensor and field.
void validateLinearArgs(const TensorView &x, const TensorView &w, const TensorView *bias,
                        const TensorView &y, const LinearOptions &opts = {});
/// The spec and kernel arguments linear() uses (valid arguments).
AttentionSpec makeLinearSpec(const TensorView &x, const LinearOptions &opts);
GemmLaunchArgs makeLinearLaunchArgs(const TensorView &x, const TensorView &w,
                                    const TensorView *bias, const TensorView &y);

/// y = x w^T (+ bias), fp32 accumulation, rounded once to y's dtype.
/// Validates before anything is launched; runs on `stream`; allocates nothing.
void linear(const TensorView &x, const TensorView &w, const TensorView *bias,
            const TensorView &y, CUstream stream, const LinearOptions &opts = {});

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_LINEAR_H

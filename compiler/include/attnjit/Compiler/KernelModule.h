//===- KernelModule.h - Kernel IR for a spec ---------------------*- C++ -*-===//
//
// Part of attnjit. Chooses the kernel recipe for a spec (variant, arch) and
// emits its gpu.module. Used by the attn -> kernel pass and by the pipeline.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_KERNELMODULE_H
#define ATTNJIT_COMPILER_KERNELMODULE_H

#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/LaunchPlan.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinOps.h"

#include <string>
#include <vector>

namespace attnjit {

/// Registers every dialect of the kernel IR and the LLVM dialect, with the
/// to-LLVM conversion interfaces and LLVM IR translations the pipeline needs.
void registerKernelDialects(mlir::DialectRegistry &registry);

/// Appends `gpu.module @<spec.kernelName()>_gpu` holding the kernel to `parent`.
/// Returns null and sets `error` when no recipe can build `spec` (config
/// complete).
mlir::gpu::GPUModuleOp emitKernelModule(mlir::ModuleOp parent, mlir::Location loc,
                                        const AttentionSpec &spec, std::string &error);

/// Threads per block and dynamic shared memory of the kernel for `spec`.
struct LaunchShape {
  int threads = 0;
  int sharedMemBytes = 0;
  /// Rows (query rows, or token rows) per CTA: grid x = ceil(rows / rowsPerCta).
  int rowsPerCta = 0;
  std::string recipe; ///< the recipe's name
  /// The kernel takes TMA tensor maps after its ABI table (abiParamKinds).
  bool tensorMaps = false;
  /// > 0: persistent, this many CTAs per SM (RecipeLaunch::ctasPerSm).
  int ctasPerSm = 0;
  /// A plan of several kernels (Sage), in launch order, each with the
  /// variant's ABI table and a per-launch workspace; empty for one kernel.
  std::vector<KernelLaunchInfo> planKernels;
};
/// Fails (error set) when no recipe serves the spec or its config cannot be used.
bool computeLaunchShape(const AttentionSpec &spec, LaunchShape &shape, std::string &error);

} // namespace attnjit

#endif // ATTNJIT_COMPILER_KERNELMODULE_H

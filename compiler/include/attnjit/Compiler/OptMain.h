//===- OptMain.h - attnjit-opt and text-level access to the dialect -*- C++ -*-===//
//
// Part of attnjit. MLIR's symbols are hidden inside libattnjit_compiler, so
// tools and tests reach the attn dialect through these plain C++ functions:
// attnjit-opt's main, and the spec <-> attn-module text bridge.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_OPTMAIN_H
#define ATTNJIT_COMPILER_OPTMAIN_H

#include "attnjit/Core/AttentionSpec.h"

#include <optional>
#include <string>

namespace attnjit {

/// attnjit-opt: mlir-opt with the attn dialect, the upstream dialects of the
/// pipeline (func, arith, math, scf, cf, memref, vector, gpu, nvgpu, nvvm,
/// llvm), the upstream transform/conversion/GPU passes and attnjit's passes.
/// Returns the process exit code.
int optMain(int argc, char **argv);

/// The text of buildAttnModule(spec) (see AttnSpecBridge.h). On failure
/// returns an empty string and, when `error` is non-null, stores the
/// diagnostics there.
std::string printAttnModule(const AttentionSpec &spec, std::string *error = nullptr);

/// Parses and verifies `mlirText`, which must hold exactly one attn.flash,
/// attn.sdpa or attn.sage op, and returns specFromOp of it. On failure returns
/// nullopt and, when `error` is non-null, stores the diagnostics there.
std::optional<AttentionSpec> parseSpecFromAttnText(const std::string &mlirText,
                                                   std::string *error = nullptr);

/// attnjit-opt's `.mlir` path in one call, for fuzzing and tools: parses and
/// verifies `mlirText`, runs attnjit-convert-attn-to-kernel, then the kernel ->
/// LLVM pipeline, and returns the lowered module's text. On failure returns
/// nullopt and, when `error` is non-null, stores the diagnostics (or which
/// stage failed) there. Never throws for bad input; every context it makes is
/// its own.
std::optional<std::string> lowerAttnText(const std::string &mlirText,
                                         std::string *error = nullptr);

/// The back half of the pipeline on text: parses `mlirText`, a module holding
/// one lowered gpu.module (LLVM and NVVM dialects), and emits PTX for `arch`
/// (emitPTX: O3, the NVPTX backend). On failure returns nullopt and stores the
/// diagnostics or the emission error there, an LLVM fatal error included.
std::optional<std::string> ptxFromLLVMDialectText(const std::string &mlirText,
                                                  const std::string &arch,
                                                  std::string *error = nullptr);

} // namespace attnjit

#endif // ATTNJIT_COMPILER_OPTMAIN_H

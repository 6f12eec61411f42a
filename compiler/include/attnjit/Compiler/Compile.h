//===- Compile.h - spec -> PTX, the compiler's entry point -------*- C++ -*-===//
//
// Part of attnjit. compileAttention runs the whole pipeline for one spec:
// build an attn-dialect module, verify, pick a config, lower attn -> kernel IR
// -> LLVM dialect -> LLVM IR -> NVPTX (O3) -> PTX, and (when ptxas is found)
// assemble a cubin. Thread-safe: each call uses its own MLIRContext.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_COMPILE_H
#define ATTNJIT_COMPILER_COMPILE_H

#include "attnjit/Runtime/CompiledKernel.h"
#include "attnjit/Runtime/KernelProvider.h"

#include <memory>
#include <string>

namespace attnjit {

/// Stages of the pipeline, in order; also the values of --emit.
enum class Stage { Attn, Kernel, LLVMDialect, LLVMIR, PTX, Cubin };

struct CompileOptions {
  bool produceCubin = true; ///< run ptxas when it can be found
  std::string dumpDir;      ///< when non-empty, every stage is written there
                            ///< (defaults to $ATTNJIT_DUMP_DIR)
};

/// Compiles `spec`; throws attnjit::Error (ErrorKind::InvalidArgument for a bad
/// spec, ErrorKind::Compile when a stage fails).
CompiledKernel compileAttention(const AttentionSpec &spec, const CompileOptions &opts = {});

/// Runs the pipeline up to `stage` and returns that stage's text (cubin: bytes).
std::string compileToStage(const AttentionSpec &spec, Stage stage, const CompileOptions &opts = {});

/// The spec with its config filled in from the config table when incomplete.
AttentionSpec withDefaultConfig(const AttentionSpec &spec);

/// The name of the recipe that builds `spec` (its variant and arch), e.g.
/// "flash-sm90a"; empty when none serves it.
std::string recipeName(const AttentionSpec &spec);

/// A KernelProvider that compiles on demand (the JIT).
std::shared_ptr<KernelProvider> makeJitProvider(CompileOptions opts = {});

/// A string identifying this compiler build (version, git hash, a hash of the
/// compiler and kernel-recipe sources, LLVM version, kernel ABI version);
/// part of every cache key.
std::string compilerBuildId();

} // namespace attnjit

#endif // ATTNJIT_COMPILER_COMPILE_H

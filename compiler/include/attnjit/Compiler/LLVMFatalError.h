//===- LLVMFatalError.h - LLVM fatal errors as failures ----------*- C++ -*-===//
//
// Part of attnjit. LLVM reports some failures (the NVPTX backend's "Cannot
// select", an unsupported PTX version, ...) with report_fatal_error, which
// ends the process. attnjit runs LLVM's passes under this guard instead, so an
// embedded JIT never ends its host. Needs neither LLVM nor MLIR headers.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_COMPILER_LLVMFATALERROR_H
#define ATTNJIT_COMPILER_LLVMFATALERROR_H

#include <functional>
#include <string>

namespace attnjit {

/// Runs `fn`, which runs LLVM code, so that an LLVM fatal error in it returns
/// false with LLVM's message in `message` instead of ending the process. The
/// objects `fn` worked on must not be used or destroyed after such a failure
/// (LLVM's frames were not unwound); emitPTX and emitLLVMIR keep theirs aside.
/// Guards nest (the innermost one of the thread catches) and are per thread.
/// Installs attnjit's LLVM fatal-error handler on first use: LLVM has one per
/// process, so a host that installs its own afterwards replaces it.
bool runCatchingLLVMFatalErrors(const std::function<void()> &fn, std::string &message);

} // namespace attnjit

#endif // ATTNJIT_COMPILER_LLVMFATALERROR_H

//===- BuildInfo.h - Which attnjit build this is -----------------*- C++ -*-===//
//
// Part of attnjit. The build id is part of every cache key, so that kernels
// compiled by one build are never served to another.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_BUILDINFO_H
#define ATTNJIT_RUNTIME_BUILDINFO_H

#include <string>

namespace attnjit {

/// The project version, e.g. "0.1.0".
const char *runtimeVersion();
/// The git hash the runtime was built from (12 hex digits, or "unknown").
const char *runtimeGitHash();
/// "<version>+<git hash>", e.g. "0.1.0+3f2a9c1d0e4b".
std::string runtimeBuildId();

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_BUILDINFO_H

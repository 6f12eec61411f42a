//===- BuildInfo.cpp - Which attnjit build this is ------------------------===//
//
// Part of attnjit. ATTNJIT_VERSION and ATTNJIT_GIT_HASH come from
// runtime/CMakeLists.txt.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/BuildInfo.h"

#ifndef ATTNJIT_VERSION
#define ATTNJIT_VERSION "unknown"
#endif
#ifndef ATTNJIT_GIT_HASH
#define ATTNJIT_GIT_HASH "unknown"
#endif

namespace attnjit {

const char *runtimeVersion() { return ATTNJIT_VERSION; }
const char *runtimeGitHash() { return ATTNJIT_GIT_HASH; }
std::string runtimeBuildId() { return std::string(ATTNJIT_VERSION) + "+" + ATTNJIT_GIT_HASH; }

} // namespace attnjit

//===- Logging.h - The attnjit spdlog logger ---------------------*- C++ -*-===//
//
// Part of attnjit. One logger named "attnjit"; its level comes from
// ATTNJIT_LOG_LEVEL (trace, debug, info, warn, error, critical, off), default warn.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LOGGING_H
#define ATTNJIT_RUNTIME_LOGGING_H

#include <memory>
#include <optional>
#include <string_view>

#include <spdlog/spdlog.h>

namespace attnjit {

/// The process-wide attnjit logger (created on first use, writes to stderr).
spdlog::logger &logger();
/// Parses a level name; nullopt when it is not one.
std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view name);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_LOGGING_H

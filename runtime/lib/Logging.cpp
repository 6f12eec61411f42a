//===- Logging.cpp - The attnjit spdlog logger ----------------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <string>

namespace attnjit {

std::optional<spdlog::level::level_enum> parseLogLevel(std::string_view name) {
  static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
      {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},   {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"critical", spdlog::level::critical}, {"off", spdlog::level::off}};
  for (auto &[n, l] : kLevels)
    if (n == name)
      return l;
  return std::nullopt;
}

static std::shared_ptr<spdlog::logger> makeLogger() {
  auto existing = spdlog::get("attnjit");
  if (existing)
    return existing;
  auto log = spdlog::stderr_color_mt("attnjit");
  log->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [attnjit] [%^%l%$] %v");
  log->set_level(spdlog::level::warn);
  if (const char *env = std::getenv("ATTNJIT_LOG_LEVEL")) {
    if (auto lvl = parseLogLevel(env))
      log->set_level(*lvl);
    else
      log->warn("ATTNJIT_LOG_LEVEL='{}' is not one of trace, debug, info, warn, error, "
                "critical, off; using warn",
                env);
  }
  return log;
}

spdlog::logger &logger() {
  static std::shared_ptr<spdlog::logger> log = makeLogger();
  return *log;
}

} // namespace attnjit

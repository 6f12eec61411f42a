//===- BackendRegistry.cpp - Backend registry and selector ----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/BackendImpls.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace attnjit {

namespace {

/// Other spellings of backend names (FastVideo's).
constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
    {"TORCH_SDPA", kSdpaBackend},
};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) ==
                  std::toupper(static_cast<unsigned char>(y));
         });
}

} // namespace

//===----------------------------------------------------------------------===//
// BackendRegistry
//===----------------------------------------------------------------------===//

BackendRegistry::BackendRegistry() {
  backends_.push_back(std::make_shared<FlashAttnBackend>());
  backends_.push_back(std::make_shared<SdpaBackend>());
  backends_.push_back(std::make_shared<SageAttnBackend>());
}

BackendRegistry &BackendRegistry::instance() {
  static BackendRegistry registry;
  return registry;
}

void BackendRegistry::add(std::shared_ptr<const AttentionBackend> backend, bool replace) {
  if (!backend)
    throw Error(ErrorKind::InvalidArgument, "BackendRegistry::add: null backend");
  std::lock_guard<std::mutex> lock(mu_);
  for (auto &b : backends_) {
    if (!equalsIgnoreCase(b->name(), backend->name()))
      continue;
    if (!replace)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("attention backend {} is already registered (pass replace = true "
                              "to take its place)",
                              backend->name()));
    b = std::move(backend);
    return;
  }
  backends_.push_back(std::move(backend));
}

std::shared_ptr<const AttentionBackend> BackendRegistry::find(std::string_view name) const {
  for (auto [alias, target] : kAliases)
    if (equalsIgnoreCase(name, alias))
      name = target;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto &b : backends_)
    if (equalsIgnoreCase(b->name(), name))
      return b;
  return nullptr;
}

std::shared_ptr<const AttentionBackend> BackendRegistry::get(std::string_view name) const {
  if (auto b = find(name))
    return b;
  throw Error(ErrorKind::InvalidArgument,
              fmt::format("attention backend '{}' is not known; known backends: {}", name,
                          knownNamesText()));
}

std::vector<std::string> BackendRegistry::names() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> r;
  for (const auto &b : backends_)
    r.emplace_back(b->name());
  return r;
}

std::vector<std::shared_ptr<const AttentionBackend>> BackendRegistry::automaticOrder() const {
  std::vector<std::shared_ptr<const AttentionBackend>> r;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &b : backends_)
      if (b->autoPriority() >= 0)
        r.push_back(b);
  }
  std::stable_sort(r.begin(), r.end(), [](const auto &a, const auto &b) {
    return a->autoPriority() > b->autoPriority();
  });
  return r;
}

std::string BackendRegistry::knownNamesText() const {
  std::vector<std::string> parts;
  for (const std::string &n : names()) {
    std::string text = n;
    for (auto [alias, target] : kAliases)
      if (target == n)
        text += fmt::format(" (alias {})", alias);
    parts.push_back(std::move(text));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

//===----------------------------------------------------------------------===//
// Selector
//===----------------------------------------------------------------------===//

std::string_view toString(SelectionSource s) {
  switch (s) {
  case SelectionSource::Explicit: return "requested explicitly";
  case SelectionSource::Env: return "from ATTNJIT_ATTENTION_BACKEND";
  case SelectionSource::CallerDefault: return "the caller's default";
  case SelectionSource::Automatic: return "automatic";
  }
  return "?";
}

namespace {

/// The first automatic backend (other than `skip`) that serves; null when
/// none does, with every reason in `reasons`.
std::shared_ptr<const AttentionBackend> automaticChoice(const BackendRegistry &reg, int headSize,
                                                        DType dtype, const ImplArgs &extra,
                                                        const AttentionBackend *skip,
                                                        std::vector<std::string> &reasons) {
  for (const auto &b : reg.automaticOrder()) {
    if (b.get() == skip)
      continue;
    std::string reason = b->unsupportedReason(headSize, dtype, extra);
    if (reason.empty())
      return b;
    reasons.push_back(fmt::format("{}: {}", b->name(), reason));
  }
  return nullptr;
}

std::string requestText(int headSize, DType dtype, const ImplArgs &extra) {
  std::string text = fmt::format("head_size={} dtype={}", headSize, toString(dtype));
  if (!extra.empty())
    text += fmt::format(" extras={}", extra.str());
  return text;
}

} // namespace

BackendSelection selectAttentionBackend(int headSize, DType dtype, const SelectorOptions &options,
                                        const ImplArgs &extra) {
  const BackendRegistry &reg = options.registry ? *options.registry : BackendRegistry::instance();
  BackendSelection sel;
  std::string named;
  if (!options.requested.empty()) {
    named = options.requested;
    sel.source = SelectionSource::Explicit;
  } else if (const char *env = std::getenv(kAttentionBackendEnv); env && *env) {
    named = env;
    sel.source = SelectionSource::Env;
  } else if (!options.callerDefault.empty()) {
    named = options.callerDefault;
    sel.source = SelectionSource::CallerDefault;
  }

  std::vector<std::string> reasons;
  std::string failure; // why the named backend cannot serve, with context
  if (!named.empty()) {
    sel.requested = reg.find(named);
    if (!sel.requested)
      throw Error(ErrorKind::InvalidArgument,
                  fmt::format("attention backend '{}' ({}) is not known; known backends: {}", named,
                              toString(sel.source), reg.knownNamesText()));
    std::string reason = sel.requested->unsupportedReason(headSize, dtype, extra);
    if (reason.empty()) {
      sel.backend = sel.requested;
      logger().debug("attention backend {} ({}) for {}", sel.backend->name(), toString(sel.source),
                     requestText(headSize, dtype, extra));
      return sel;
    }
    failure = fmt::format("attention backend {} ({}) cannot serve {}: {}", sel.requested->name(),
                          toString(sel.source), requestText(headSize, dtype, extra), reason);
    if (options.strict)
      throw Error(ErrorKind::Unsupported, failure + "; strict selection allows no fallback");
    sel.fallbackReason = reason;
  }

  sel.backend = automaticChoice(reg, headSize, dtype, extra, sel.requested.get(), reasons);
  if (!sel.backend) {
    std::string msg = failure.empty() ? fmt::format("no attention backend serves {}",
                                                    requestText(headSize, dtype, extra))
                                      : failure + "; and no fallback serves it either";
    if (!reasons.empty())
      msg += fmt::format(" ({})", fmt::join(reasons, "; "));
    throw Error(ErrorKind::Unsupported, msg);
  }
  if (sel.isFallback())
    logger().warn("{}; falling back to {}", failure, sel.backend->name());
  else
    logger().debug("attention backend {} (automatic) for {}", sel.backend->name(),
                   requestText(headSize, dtype, extra));
  return sel;
}

} // namespace attnjit

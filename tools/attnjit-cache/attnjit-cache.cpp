//===- attnjit-cache.cpp - Inspect and maintain the kernel disk cache -----===//
//
// Part of attnjit.
//
//   attnjit-cache list|show KEY|verify|clear|stats [--json] [--dir D] [--ptx]
//   attnjit-cache bundle FILE [--json]
//
// Exit status: 0 on success, 1 when verify finds corrupt entries or show/clear
// fails, 2 on a usage error.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/Error.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <dirent.h>

using namespace attnjit;
using nlohmann::json;

namespace {

const char *kUsage =
    "usage: attnjit-cache <command> [--json] [--dir DIR]\n"
    "\n"
    "commands:\n"
    "  list        per entry: key, arch, size, age, spec, build id, launch plan\n"
    "  show KEY    one entry's metadata and launch plan (KEY may be a unique prefix);\n"
    "              --ptx prints its PTX\n"
    "  verify      check every entry's checksum and metadata; exit 1 if any is corrupt\n"
    "  clear       remove every entry and stale temporary file (lock files stay)\n"
    "  stats       totals: entries, bytes, corrupt, by arch and build id\n"
    "  bundle FILE the kernels of a bundle made by attnjit-aot (checks it)\n"
    "\n"
    "options:\n"
    "  --dir DIR   cache directory (default: $ATTNJIT_CACHE_DIR, else\n"
    "              $XDG_CACHE_HOME/attnjit, else ~/.cache/attnjit)\n"
    "  --json      machine-readable output\n";

std::string humanSize(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024)
    std::snprintf(buf, sizeof(buf), "%llu B", static_cast<unsigned long long>(bytes));
  else if (bytes < 1024 * 1024)
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  else
    std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

std::vector<std::string> splitLines(const std::string &text) {
  std::vector<std::string> lines;
  size_t at = 0;
  while (at <= text.size() && !text.empty()) {
    size_t nl = text.find('\n', at);
    if (nl == std::string::npos)
      nl = text.size();
    lines.push_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

/// `text` with every line after the first indented by `indent` spaces, so that
/// a multi-line plan summary lines up under its label.
std::string indentLines(const std::string &text, int indent) {
  std::string out;
  for (const std::string &line : splitLines(text))
    out += (out.empty() ? "" : "\n" + std::string(indent, ' ')) + line;
  return out;
}

std::string humanAge(int64_t s) {
  char buf[32];
  if (s < 120)
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  else if (s < 7200)
    std::snprintf(buf, sizeof(buf), "%lldm", static_cast<long long>(s / 60));
  else if (s < 172800)
    std::snprintf(buf, sizeof(buf), "%lldh", static_cast<long long>(s / 3600));
  else
    std::snprintf(buf, sizeof(buf), "%lldd", static_cast<long long>(s / 86400));
  return buf;
}

json entryJson(const CacheEntryInfo &e) {
  json j = {{"key", e.key},           {"path", e.path},
            {"valid", e.valid},       {"size_bytes", e.sizeBytes},
            {"age_seconds", e.ageSeconds}};
  if (e.valid) {
    j["spec"] = e.spec;
    j["arch"] = e.arch;
    j["build_id"] = e.buildId;
    j["entry"] = e.entryName;
    j["plan"] = e.planSummary;
    j["ptx_bytes"] = e.ptxBytes;
    j["cubin_bytes"] = e.cubinBytes;
  } else {
    j["error"] = e.error;
  }
  return j;
}

int cmdList(const std::string &dir, bool asJson) {
  auto entries = DiskCache::listEntries(dir);
  if (asJson) {
    json arr = json::array();
    for (const auto &e : entries)
      arr.push_back(entryJson(e));
    std::cout << json{{"dir", dir}, {"entries", arr}}.dump(2) << "\n";
    return 0;
  }
  if (entries.empty()) {
    std::cout << "no entries in " << dir << "\n";
    return 0;
  }
  std::printf("%-16s  %-7s  %10s  %5s  %-7s  %s\n", "KEY", "ARCH", "SIZE", "AGE", "CUBIN",
              "SPEC / BUILD");
  for (const auto &e : entries) {
    if (!e.valid) {
      std::printf("%-16.16s  %-7s  %10s  %5s  %-7s  CORRUPT: %s\n", e.key.c_str(), "?",
                  humanSize(e.sizeBytes).c_str(), humanAge(e.ageSeconds).c_str(), "?",
                  e.error.c_str());
      continue;
    }
    std::printf("%-16.16s  %-7s  %10s  %5s  %-7s  %s\n%42s build: %s\n", e.key.c_str(),
                e.arch.c_str(), humanSize(e.sizeBytes).c_str(), humanAge(e.ageSeconds).c_str(),
                e.cubinBytes ? "yes" : "no", e.spec.c_str(), "", e.buildId.c_str());
    for (const std::string &line : splitLines(e.planSummary))
      std::printf("%42s plan: %s\n", "", line.c_str());
  }
  std::printf("%zu entries in %s\n", entries.size(), dir.c_str());
  return 0;
}

int cmdShow(const std::string &dir, const std::string &key, bool asJson, bool ptx) {
  std::string error;
  auto e = DiskCache::readEntry(dir, key, &error);
  if (!e) {
    std::cerr << "attnjit-cache: " << error << "\n";
    return 1;
  }
  if (ptx) {
    std::cout << e->kernel.ptx;
    return 0;
  }
  json meta = json::parse(e->metadataJson, nullptr, false);
  if (asJson) {
    std::cout << json{{"key", e->key}, {"metadata", meta}}.dump(2) << "\n";
    return 0;
  }
  std::cout << "key:      " << e->key << "\n"
            << "spec:     " << e->kernel.spec.canonical() << "\n"
            << "arch:     " << e->kernel.spec.arch << "\n"
            << "build id: " << e->buildId << "\n"
            << "plan:     " << indentLines(e->kernel.plan.summary(), 10) << "\n"
            << "abi:      " << e->kernel.abiVersion << "\n"
            << "compile:  " << e->kernel.compileMs << " ms\n"
            << "ptx:      " << humanSize(e->kernel.ptx.size()) << "\n"
            << "cubin:    "
            << (e->kernel.cubin.empty() ? std::string("none") : humanSize(e->kernel.cubin.size()))
            << "\n"
            << "metadata: " << meta.dump() << "\n";
  return 0;
}

int cmdVerify(const std::string &dir, bool asJson) {
  auto entries = DiskCache::listEntries(dir);
  size_t bad = 0;
  json corrupt = json::array();
  for (const auto &e : entries)
    if (!e.valid) {
      ++bad;
      corrupt.push_back({{"key", e.key}, {"path", e.path}, {"error", e.error}});
    }
  if (asJson) {
    std::cout << json{{"dir", dir}, {"checked", entries.size()}, {"corrupt", corrupt}}.dump(2)
              << "\n";
  } else {
    for (const auto &c : corrupt)
      std::cout << "CORRUPT " << c["path"].get<std::string>() << ": "
                << c["error"].get<std::string>() << "\n";
    std::cout << entries.size() << " entries checked, " << bad << " corrupt\n";
  }
  return bad ? 1 : 0;
}

int cmdClear(const std::string &dir, bool asJson) {
  CacheClearResult r = DiskCache::clear(dir);
  if (asJson) {
    std::cout << json{{"dir", dir},
                      {"entries_removed", r.entriesRemoved},
                      {"temp_files_removed", r.tempFilesRemoved},
                      {"bytes_removed", r.bytesRemoved},
                      {"errors", r.errors}}
                     .dump(2)
              << "\n";
  } else {
    for (const auto &e : r.errors)
      std::cerr << "attnjit-cache: " << e << "\n";
    std::cout << "removed " << r.entriesRemoved << " entries and " << r.tempFilesRemoved
              << " temporary files (" << humanSize(r.bytesRemoved) << ") from " << dir << "\n";
  }
  return r.errors.empty() ? 0 : 1;
}

int cmdStats(const std::string &dir, bool asJson) {
  auto entries = DiskCache::listEntries(dir);
  uint64_t bytes = 0, corrupt = 0, withCubin = 0;
  int64_t oldest = 0, newest = -1;
  std::map<std::string, uint64_t> byArch, byBuild;
  for (const auto &e : entries) {
    bytes += e.sizeBytes;
    oldest = std::max(oldest, e.ageSeconds);
    newest = newest < 0 ? e.ageSeconds : std::min(newest, e.ageSeconds);
    if (!e.valid) {
      ++corrupt;
      continue;
    }
    ++byArch[e.arch];
    ++byBuild[e.buildId];
    withCubin += e.cubinBytes ? 1 : 0;
  }
  uint64_t locks = 0, temps = 0;
  if (DIR *d = ::opendir(dir.c_str())) {
    while (struct dirent *de = ::readdir(d)) {
      std::string n = de->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".lock") == 0)
        ++locks;
      else if (n.rfind(".tmp-", 0) == 0)
        ++temps;
    }
    ::closedir(d);
  }
  if (asJson) {
    std::cout << json{{"dir", dir},
                      {"entries", entries.size()},
                      {"corrupt", corrupt},
                      {"with_cubin", withCubin},
                      {"total_bytes", bytes},
                      {"oldest_age_seconds", oldest},
                      {"newest_age_seconds", std::max<int64_t>(newest, 0)},
                      {"by_arch", byArch},
                      {"by_build_id", byBuild},
                      {"lock_files", locks},
                      {"temp_files", temps}}
                     .dump(2)
              << "\n";
    return 0;
  }
  std::cout << "directory:   " << dir << "\n"
            << "entries:     " << entries.size() << " (" << corrupt << " corrupt, " << withCubin
            << " with cubin)\n"
            << "total size:  " << humanSize(bytes) << "\n";
  if (!entries.empty())
    std::cout << "age:         newest " << humanAge(std::max<int64_t>(newest, 0)) << ", oldest "
              << humanAge(oldest) << "\n";
  for (const auto &[arch, n] : byArch)
    std::cout << "arch " << arch << ": " << n << "\n";
  for (const auto &[build, n] : byBuild)
    std::cout << "build " << build << ": " << n << "\n";
  std::cout << "lock files:  " << locks << "\ntemp files:  " << temps << "\n";
  return 0;
}

int cmdBundle(const std::string &path, bool asJson) {
  std::shared_ptr<BundleProvider> b;
  try {
    b = BundleProvider::load(path);
  } catch (const Error &e) {
    std::cerr << "attnjit-cache: " << e.what() << "\n";
    return 1;
  }
  if (asJson) {
    json arr = json::array();
    for (const auto &k : b->kernels())
      arr.push_back(json::parse(k->metadataJson()));
    std::cout << json{{"bundle", path}, {"size_bytes", b->sizeBytes()}, {"kernels", arr}}.dump(2)
              << "\n";
    return 0;
  }
  std::printf("%s: %zu kernels, %s\n", path.c_str(), b->kernels().size(),
              humanSize(b->sizeBytes()).c_str());
  for (const auto &k : b->kernels()) {
    std::printf("  %-7s %10s %10s  %s\n", k->spec.arch.c_str(), humanSize(k->ptx.size()).c_str(),
                k->cubin.empty() ? "no cubin" : humanSize(k->cubin.size()).c_str(),
                k->spec.canonical().c_str());
    for (const std::string &line : splitLines(k->plan.summary()))
      std::printf("%33s plan: %s\n", "", line.c_str());
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> positional;
  std::string dir = defaultCacheDir();
  bool dirGiven = false, asJson = false, ptx = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json") {
      asJson = true;
    } else if (a == "--ptx") {
      ptx = true;
    } else if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
      dirGiven = true;
    } else if (a.rfind("--dir=", 0) == 0) {
      dir = a.substr(6);
      dirGiven = true;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else if (!a.empty() && a[0] == '-') {
      std::cerr << "attnjit-cache: unknown option '" << a << "'\n" << kUsage;
      return 2;
    } else {
      positional.push_back(a);
    }
  }
  if (positional.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string &cmd = positional[0];
  size_t want = (cmd == "show" || cmd == "bundle") ? 2 : 1;
  if (positional.size() != want) {
    std::cerr << "attnjit-cache: '" << cmd << "' takes " << (want - 1) << " argument(s)\n"
              << kUsage;
    return 2;
  }
  if (cmd != "bundle") {
    // A cache directory that is a file, or one named with --dir that does not
    // exist, is a mistake to report, not an empty cache ("0 entries, 0
    // corrupt" would read as a clean verify). The default directory may not
    // exist yet: nothing has been cached.
    std::error_code ec;
    bool exists = std::filesystem::exists(dir, ec);
    if (exists && !std::filesystem::is_directory(dir, ec)) {
      std::cerr << "attnjit-cache: " << dir << " is not a directory\n";
      return 1;
    }
    if (!exists && dirGiven) {
      std::cerr << "attnjit-cache: cache directory " << dir << " does not exist\n";
      return 1;
    }
  }
  if (cmd == "list")
    return cmdList(dir, asJson);
  if (cmd == "show")
    return cmdShow(dir, positional[1], asJson, ptx);
  if (cmd == "verify")
    return cmdVerify(dir, asJson);
  if (cmd == "clear")
    return cmdClear(dir, asJson);
  if (cmd == "stats")
    return cmdStats(dir, asJson);
  if (cmd == "bundle")
    return cmdBundle(positional[1], asJson);
  std::cerr << "attnjit-cache: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}

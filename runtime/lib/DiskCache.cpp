//===- DiskCache.cpp - Compiled kernels cached on disk --------------------===//
//
// Part of attnjit. See DiskCache.h for the entry layout and the guarantees.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/DiskCache.h"

#include "KernelRecord.h"
#include "attnjit/Runtime/FileLock.h"
#include "attnjit/Runtime/Hash.h"
#include "attnjit/Runtime/Logging.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attnjit {

using namespace detail;

namespace {

constexpr char kMagic[8] = {'A', 'T', 'J', 'C', 'A', 'C', 'H', 'E'};
constexpr size_t kHeaderBytes = 48;
constexpr size_t kChecksumOffset = 40;
/// Sanity bounds that keep a corrupt length field from causing a huge allocation.
constexpr uint64_t kMaxKeyBytes = 1024;
constexpr uint64_t kMaxMetadataBytes = 1 << 20;

const char *envOrNull(const char *name) {
  const char *v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

uint64_t entryChecksum(std::string_view bytes) {
  uint64_t seed = xxh64(bytes.data(), kChecksumOffset);
  return xxh64(bytes.data() + kHeaderBytes, bytes.size() - kHeaderBytes, seed);
}

bool endsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// mkdir -p. Returns 0 or errno.
int makeDirectories(const std::string &path) {
  if (path.empty())
    return ENOENT;
  std::string cur;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos)
      next = path.size();
    cur = path.substr(0, next);
    pos = next + 1;
    if (cur.empty())
      continue;
    if (::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST)
      return errno;
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    return errno;
  return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

std::vector<std::string> listDirectory(const std::string &dir) {
  std::vector<std::string> names;
  DIR *d = ::opendir(dir.c_str());
  if (!d)
    return names;
  while (struct dirent *e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..")
      names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::string tempPrefix(std::string_view key) { return ".tmp-" + std::string(key) + "-"; }

/// Reads a cache entry: a regular file inside the cache directory (a symbolic
/// link, which could point anywhere, is refused) of at most kMaxCacheEntryBytes.
ReadOutcome readEntryBytes(const std::string &path, std::string &bytes) {
  ReadOutcome r = readRegularFile(path, bytes, {kMaxCacheEntryBytes, /*followSymlink=*/false});
  if (!r && r.err != ENOENT && r.err != ENOTDIR)
    r.message = "cannot read: " + r.message;
  return r;
}

/// Empty when a stored kernel of spec `stored` serves `requested` (the same
/// spec; config fields the request leaves at 0 are the compiler's choice),
/// else what differs. The key hashes the requested spec, so a mismatch means
/// an entry written for another spec under this key.
std::string specMismatch(const AttentionSpec &stored, const AttentionSpec &requested) {
  AttentionSpec normalized = stored;
  const KernelConfig &want = requested.config;
  KernelConfig &have = normalized.config;
  for (auto [w, h] : {std::pair<int, int *>{want.blockM, &have.blockM},
                      {want.blockN, &have.blockN},
                      {want.numWarps, &have.numWarps},
                      {want.stages, &have.stages}})
    if (w == 0)
      *h = 0;
  if (normalized.canonical() == requested.canonical())
    return {};
  return "stored spec '" + stored.canonical() + "' is not the requested '" +
         requested.canonical() + "'";
}

} // namespace

//===----------------------------------------------------------------------===//
// Keys and environment
//===----------------------------------------------------------------------===//

const std::vector<std::string> &codeAffectingEnvVars() {
  // Placeholder: no environment variable changes generated code yet. Add each
  // one here when the compiler starts reading it (e.g. a fast-math switch).
  static const std::vector<std::string> kVars = {};
  return kVars;
}

std::string defaultCacheDir() {
  if (const char *d = envOrNull("ATTNJIT_CACHE_DIR"))
    return d;
  if (const char *x = envOrNull("XDG_CACHE_HOME"))
    return joinPath(x, "attnjit");
  if (const char *h = envOrNull("HOME"))
    return joinPath(joinPath(h, ".cache"), "attnjit");
  return ".attnjit-cache";
}

bool alwaysCompileRequested() {
  const char *v = std::getenv("ATTNJIT_ALWAYS_COMPILE");
  if (!v)
    return false;
  std::string s = v;
  return !(s.empty() || s == "0" || s == "false" || s == "off" || s == "no");
}

bool dumpDirRequested() { return envOrNull("ATTNJIT_DUMP_DIR") != nullptr; }

CacheKeyInputs CacheKeyInputs::forSpec(const AttentionSpec &spec, std::string_view buildId) {
  CacheKeyInputs in;
  in.specCanonical = spec.canonical();
  in.arch = spec.arch;
  in.buildId = std::string(buildId);
  in.abiVersion = attnjit::abiVersion(spec.variant);
  for (const std::string &name : codeAffectingEnvVars()) {
    const char *v = std::getenv(name.c_str());
    in.env.emplace_back(name, v ? v : "<unset>");
  }
  return in;
}

std::string CacheKeyInputs::text() const {
  // Versioned and line-oriented so that no two input sets print alike.
  std::string t = "attnjit-cache-key-v1\n";
  t += "spec=" + specCanonical + "\n";
  t += "arch=" + arch + "\n";
  t += "build=" + buildId + "\n";
  t += "abi=" + std::to_string(abiVersion) + "\n";
  for (const auto &[name, value] : env)
    t += "env:" + name + "=" + value + "\n";
  return t;
}

std::string CacheKeyInputs::key() const { return sha256Hex(text()); }

std::string computeCacheKey(const AttentionSpec &spec, std::string_view buildId) {
  return CacheKeyInputs::forSpec(spec, buildId).key();
}

//===----------------------------------------------------------------------===//
// Entry encoding
//===----------------------------------------------------------------------===//

std::string encodeCacheEntry(std::string_view key, std::string_view buildId,
                             const CompiledKernel &kernel) {
  nlohmann::json meta = detail::kernelRecordToJson(kernel);
  meta["key"] = std::string(key);
  meta["build_id"] = std::string(buildId);
  meta["format_version"] = kCacheFormatVersion;
  std::string metaText = meta.dump();

  std::string out;
  out.reserve(kHeaderBytes + key.size() + metaText.size() + kernel.ptx.size() +
              kernel.cubin.size());
  out.append(kMagic, sizeof(kMagic));
  putU32(out, kCacheFormatVersion);
  putU32(out, static_cast<uint32_t>(key.size()));
  putU32(out, static_cast<uint32_t>(metaText.size()));
  putU32(out, 0);
  putU64(out, kernel.ptx.size());
  putU64(out, kernel.cubin.size());
  putU64(out, 0); // checksum, filled below
  out.append(key);
  out.append(metaText);
  out.append(kernel.ptx);
  out.append(reinterpret_cast<const char *>(kernel.cubin.data()), kernel.cubin.size());
  setU64(out, kChecksumOffset, entryChecksum(out));
  return out;
}

std::optional<CacheEntry> decodeCacheEntry(std::string_view bytes, std::string *error) {
  auto fail = [&](std::string msg) -> std::optional<CacheEntry> {
    if (error)
      *error = std::move(msg);
    return std::nullopt;
  };
  if (bytes.size() < kHeaderBytes)
    return fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                std::to_string(kHeaderBytes) + "-byte header");
  if (std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0)
    return fail("not an attnjit cache entry (bad magic)");
  uint32_t version = getU32(bytes.data() + 8);
  if (version != kCacheFormatVersion)
    return fail("format version " + std::to_string(version) + ", expected " +
                std::to_string(kCacheFormatVersion));
  uint64_t keyLen = getU32(bytes.data() + 12), metaLen = getU32(bytes.data() + 16);
  uint64_t ptxLen = getU64(bytes.data() + 24), cubinLen = getU64(bytes.data() + 32);
  if (keyLen > kMaxKeyBytes || metaLen > kMaxMetadataBytes || ptxLen > kMaxCacheEntryBytes ||
      cubinLen > kMaxCacheEntryBytes)
    return fail("corrupt header: implausible section lengths");
  uint64_t expected = kHeaderBytes + keyLen + metaLen + ptxLen + cubinLen;
  if (bytes.size() != expected)
    return fail((bytes.size() < expected ? "truncated: " : "trailing bytes: ") +
                std::to_string(bytes.size()) + " bytes, header says " + std::to_string(expected));
  uint64_t stored = getU64(bytes.data() + kChecksumOffset);
  if (stored != entryChecksum(bytes))
    return fail("checksum mismatch");

  CacheEntry entry;
  size_t pos = kHeaderBytes;
  entry.key = std::string(bytes.substr(pos, keyLen));
  pos += keyLen;
  entry.metadataJson = std::string(bytes.substr(pos, metaLen));
  pos += metaLen;
  nlohmann::json meta = nlohmann::json::parse(entry.metadataJson, nullptr,
                                              /*allow_exceptions=*/false);
  if (meta.is_discarded())
    return fail("metadata is not valid JSON");
  std::string recordError;
  if (!detail::kernelRecordFromJson(meta, ptxLen, cubinLen, entry.kernel, &recordError))
    return fail(recordError);
  auto keyIt = meta.find("key");
  if (keyIt == meta.end() || !keyIt->is_string() || keyIt->get<std::string>() != entry.key)
    return fail("metadata key differs from the header key");
  auto buildIt = meta.find("build_id");
  if (buildIt == meta.end() || !buildIt->is_string())
    return fail("metadata: missing string field 'build_id'");
  entry.buildId = buildIt->get<std::string>();
  entry.kernel.ptx = std::string(bytes.substr(pos, ptxLen));
  pos += ptxLen;
  const auto *cubin = reinterpret_cast<const uint8_t *>(bytes.data() + pos);
  entry.kernel.cubin.assign(cubin, cubin + cubinLen);
  return entry;
}

//===----------------------------------------------------------------------===//
// DiskCache
//===----------------------------------------------------------------------===//

DiskCache::DiskCache(std::shared_ptr<KernelProvider> compiler, std::string buildId,
                     std::string dir)
    : compiler_(std::move(compiler)), buildId_(std::move(buildId)), dir_(std::move(dir)),
      alwaysCompile_(alwaysCompileRequested()), dumpRequested_(dumpDirRequested()) {
  if (alwaysCompile_)
    logger().info("ATTNJIT_ALWAYS_COMPILE is set: the disk cache in {} is bypassed", dir_);
  else if (dumpRequested_ && compiler_)
    logger().info("ATTNJIT_DUMP_DIR is set: kernels are recompiled (and their cache entries "
                  "refreshed) so that every stage is dumped");
}

DiskCache::~DiskCache() = default;

std::string DiskCache::entryPath(std::string_view key) const {
  return joinPath(dir_, std::string(key) + std::string(kCacheEntrySuffix));
}

std::string DiskCache::lockPath(std::string_view key) const {
  return joinPath(dir_, std::string(key) + ".lock");
}

DiskCacheStats DiskCache::stats() const {
  DiskCacheStats s;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.corrupt = corrupt_.load();
  s.writes = writes_.load();
  s.memoryHits = memoryHits_.load();
  return s;
}

DiskCache::ReadStatus DiskCache::readEntryFile(const std::string &path, const std::string &key,
                                               const AttentionSpec &spec,
                                               std::shared_ptr<const CompiledKernel> &out,
                                               std::string &error) const {
  std::string bytes;
  ReadOutcome read = readEntryBytes(path, bytes);
  if (read.err == ENOENT || read.err == ENOTDIR)
    return ReadStatus::Missing;
  if (!read) {
    error = read.message;
    return ReadStatus::Corrupt;
  }
  auto entry = decodeCacheEntry(bytes, &error);
  if (!entry)
    return ReadStatus::Corrupt;
  // The checksum proves the file is whole; these prove it is the right kernel.
  if (entry->key != key) {
    error = "stored key " + entry->key + " is not the requested key";
    return ReadStatus::Corrupt;
  }
  if (entry->buildId != buildId_) {
    error = "built by '" + entry->buildId + "', expected '" + buildId_ + "'";
    return ReadStatus::Corrupt;
  }
  // Each variant's table has its own version (LaunchPlan.h's abiVersion).
  if (int want = abiVersion(spec.variant); entry->kernel.abiVersion != want) {
    error = "kernel ABI version " + std::to_string(entry->kernel.abiVersion) + ", expected " +
            std::to_string(want);
    return ReadStatus::Corrupt;
  }
  if (std::string why = specMismatch(entry->kernel.spec, spec); !why.empty()) {
    error = why;
    return ReadStatus::Corrupt;
  }
  out = std::make_shared<const CompiledKernel>(std::move(entry->kernel));
  return ReadStatus::Hit;
}

void DiskCache::noteCorrupt(const std::string &key, const std::string &path,
                            const std::string &error) {
  corrupt_.fetch_add(1);
  std::lock_guard<std::mutex> lock(mutex_);
  if (warnedKeys_.insert(key).second)
    logger().warn("disk cache: ignoring unusable entry {} ({}); {}", path, error,
                  compiler_ ? "recompiling" : "no compiler linked to rebuild it");
}

void DiskCache::degrade(const std::string &why) {
  degraded_.store(true, std::memory_order_release);
  std::call_once(degradeWarning_, [&] {
    logger().warn("disk cache: cannot write to {} ({}); kernels compiled from now on are kept "
                  "in memory only for this process",
                  dir_, why);
  });
}

bool DiskCache::ensureDirectory(std::string &error) {
  if (dirReady_.load(std::memory_order_acquire))
    return true;
  int err = makeDirectories(dir_);
  if (err != 0) {
    error = std::string("cannot create the directory: ") + std::strerror(err);
    return false;
  }
  dirReady_.store(true, std::memory_order_release);
  return true;
}

void DiskCache::removeStaleTempFiles(const std::string &key) {
  // Writers hold the key's lock while their temporary file exists, so any temp
  // file of this key seen under the lock belongs to a writer that died.
  std::string prefix = tempPrefix(key);
  for (const std::string &name : listDirectory(dir_))
    if (name.compare(0, prefix.size(), prefix) == 0)
      ::unlink(joinPath(dir_, name).c_str());
}

bool DiskCache::writeEntryFile(const std::string &key, const CompiledKernel &kernel,
                               std::string &error) {
  static std::atomic<uint64_t> counter{0};
  std::string bytes = encodeCacheEntry(key, buildId_, kernel);
  std::string tmp = joinPath(dir_, tempPrefix(key) + std::to_string(::getpid()) + "-" +
                                       std::to_string(counter.fetch_add(1)));
  return writeFileAtomically(entryPath(key), tmp, bytes.data(), bytes.size(), &error);
}

std::shared_ptr<const CompiledKernel> DiskCache::compileInMemory(const AttentionSpec &spec,
                                                                 const std::string &key) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = memory_.find(key);
    if (it != memory_.end()) {
      memoryHits_.fetch_add(1);
      return it->second;
    }
  }
  misses_.fetch_add(1);
  auto kernel = compiler_->getKernel(spec);
  if (!kernel)
    return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  return memory_.emplace(key, std::move(kernel)).first->second;
}

std::shared_ptr<const CompiledKernel> DiskCache::getKernel(const AttentionSpec &spec) {
  if (alwaysCompile_)
    return compiler_ ? compiler_->getKernel(spec) : nullptr;

  const std::string key = keyFor(spec);
  const std::string path = entryPath(key);
  std::shared_ptr<const CompiledKernel> kernel;
  std::string error;

  // With dumps requested the compiler must run, so an existing entry counts
  // as missing and is refreshed.
  const bool forceCompile = dumpRequested_ && compiler_;

  // Lock-free first look: the common case is a complete entry (renamed into
  // place whole), so readers never wait on a compile of another key.
  ReadStatus status =
      forceCompile ? ReadStatus::Missing : readEntryFile(path, key, spec, kernel, error);
  if (status == ReadStatus::Hit) {
    hits_.fetch_add(1);
    return kernel;
  }
  if (!compiler_) {
    if (status == ReadStatus::Corrupt)
      noteCorrupt(key, path, error);
    misses_.fetch_add(1);
    return nullptr;
  }
  if (degraded_.load(std::memory_order_acquire)) {
    if (status == ReadStatus::Corrupt)
      noteCorrupt(key, path, error);
    return compileInMemory(spec, key);
  }

  std::string lockError;
  std::optional<FileLock> lock;
  if (ensureDirectory(lockError))
    lock = FileLock::acquire(lockPath(key), &lockError);
  if (!lock) {
    degrade(lockError);
    if (status == ReadStatus::Corrupt)
      noteCorrupt(key, path, error);
    return compileInMemory(spec, key);
  }

  // Another process may have written the entry while we waited for the lock.
  error.clear();
  status = forceCompile ? ReadStatus::Missing : readEntryFile(path, key, spec, kernel, error);
  if (status == ReadStatus::Hit) {
    hits_.fetch_add(1);
    return kernel;
  }
  if (status == ReadStatus::Corrupt)
    noteCorrupt(key, path, error);
  misses_.fetch_add(1);
  kernel = compiler_->getKernel(spec); // may throw; the lock is released by RAII
  if (!kernel)
    return nullptr;
  removeStaleTempFiles(key);
  std::string writeError;
  if (writeEntryFile(key, *kernel, writeError)) {
    writes_.fetch_add(1);
  } else {
    degrade(writeError);
    std::lock_guard<std::mutex> guard(mutex_);
    memory_.emplace(key, kernel);
  }
  return kernel;
}

bool DiskCache::addCubin(const AttentionSpec &spec, const std::vector<uint8_t> &cubin) {
  if (cubin.empty() || alwaysCompile_ || degraded_.load(std::memory_order_acquire))
    return false;
  const std::string key = keyFor(spec);
  std::string error;
  if (!ensureDirectory(error))
    return false;
  auto lock = FileLock::acquire(lockPath(key), &error);
  if (!lock)
    return false;
  std::shared_ptr<const CompiledKernel> kernel;
  if (readEntryFile(entryPath(key), key, spec, kernel, error) != ReadStatus::Hit ||
      !kernel->cubin.empty())
    return false;
  CompiledKernel updated = *kernel;
  updated.cubin = cubin;
  removeStaleTempFiles(key);
  if (!writeEntryFile(key, updated, error)) {
    logger().debug("disk cache: could not add a cubin to {}: {}", entryPath(key), error);
    return false;
  }
  writes_.fetch_add(1);
  return true;
}

//===----------------------------------------------------------------------===//
// Maintenance
//===----------------------------------------------------------------------===//

std::vector<CacheEntryInfo> DiskCache::listEntries(const std::string &dir) {
  std::vector<CacheEntryInfo> out;
  std::time_t now = std::time(nullptr);
  for (const std::string &name : listDirectory(dir)) {
    if (name.empty() || name[0] == '.' || !endsWith(name, kCacheEntrySuffix))
      continue;
    CacheEntryInfo info;
    info.key = name.substr(0, name.size() - kCacheEntrySuffix.size());
    info.path = joinPath(dir, name);
    struct stat st;
    if (::lstat(info.path.c_str(), &st) == 0) {
      info.sizeBytes = static_cast<uint64_t>(st.st_size);
      info.ageSeconds = std::max<int64_t>(0, static_cast<int64_t>(now - st.st_mtime));
    }
    std::string bytes;
    if (ReadOutcome read = readEntryBytes(info.path, bytes); !read) {
      info.error = read.message;
      out.push_back(std::move(info));
      continue;
    }
    std::string error;
    auto entry = decodeCacheEntry(bytes, &error);
    if (entry) {
      info.spec = entry->kernel.spec.canonical();
      info.arch = entry->kernel.spec.arch;
      info.buildId = entry->buildId;
      info.entryName = entry->kernel.entryName();
      info.planSummary = entry->kernel.plan.summary();
      info.ptxBytes = entry->kernel.ptx.size();
      info.cubinBytes = entry->kernel.cubin.size();
      if (entry->key != info.key)
        error = "stored key " + entry->key + " differs from the file name";
      else
        info.valid = true;
    }
    info.error = error;
    out.push_back(std::move(info));
  }
  return out;
}

std::optional<CacheEntry> DiskCache::readEntry(const std::string &dir,
                                               std::string_view keyOrPrefix, std::string *error) {
  auto fail = [&](std::string msg) -> std::optional<CacheEntry> {
    if (error)
      *error = std::move(msg);
    return std::nullopt;
  };
  if (keyOrPrefix.empty())
    return fail("empty key");
  std::vector<std::string> matches;
  for (const std::string &name : listDirectory(dir))
    if (name[0] != '.' && endsWith(name, kCacheEntrySuffix) &&
        name.compare(0, keyOrPrefix.size(), keyOrPrefix) == 0)
      matches.push_back(name);
  if (matches.empty())
    return fail("no entry with key " + std::string(keyOrPrefix) + " in " + dir);
  if (matches.size() > 1)
    return fail("key prefix " + std::string(keyOrPrefix) + " matches " +
                std::to_string(matches.size()) + " entries");
  std::string path = joinPath(dir, matches[0]);
  std::string bytes;
  if (ReadOutcome read = readEntryBytes(path, bytes); !read)
    return fail(path + ": " + read.message);
  std::string decodeError;
  auto entry = decodeCacheEntry(bytes, &decodeError);
  if (!entry)
    return fail(path + ": " + decodeError);
  return entry;
}

CacheClearResult DiskCache::clear(const std::string &dir) {
  CacheClearResult r;
  for (const std::string &name : listDirectory(dir)) {
    bool isEntry = name[0] != '.' && endsWith(name, kCacheEntrySuffix);
    bool isTemp = name.compare(0, 5, ".tmp-") == 0;
    if (!isEntry && !isTemp)
      continue;
    std::optional<FileLock> writerGone;
    if (isTemp) {
      // `.tmp-<key>-<pid>-<n>`: leave it to a writer that still holds the key lock.
      std::string key = name.substr(5, name.find('-', 5) - 5);
      writerGone = FileLock::tryAcquire(joinPath(dir, key + ".lock"));
      if (!writerGone)
        continue;
    }
    std::string path = joinPath(dir, name);
    struct stat st;
    uint64_t size = ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
    if (::unlink(path.c_str()) != 0) {
      r.errors.push_back("cannot remove " + path + ": " + std::strerror(errno));
      continue;
    }
    r.bytesRemoved += size;
    (isEntry ? r.entriesRemoved : r.tempFilesRemoved) += 1;
  }
  return r;
}

} // namespace attnjit

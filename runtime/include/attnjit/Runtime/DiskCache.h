//===- DiskCache.h - Compiled kernels cached on disk --------------*- C++ -*-===//
//
// Part of attnjit. A KernelProvider that serves kernels from a directory of
// cache entries and asks another provider (the JIT) for the ones it lacks.
//
// Directory: $ATTNJIT_CACHE_DIR, else $XDG_CACHE_HOME/attnjit, else
// $HOME/.cache/attnjit. One file `<key>.attnk` per kernel, laid out as
//
//   offset  size  field (integers little-endian)
//        0     8  magic "ATJCACHE"
//        8     4  format version (kCacheFormatVersion)
//       12     4  key length K
//       16     4  metadata length M
//       20     4  flags (0)
//       24     8  PTX length P
//       32     8  cubin length C
//       40     8  checksum: XXH64 of bytes [48, end), seeded with XXH64 of bytes [0, 40)
//       48     K  key (64 hex characters)
//     48+K     M  metadata JSON (CompiledKernel::metadataJson() fields, the launch
//                 plan included, key, build id)
//   48+K+M     P  PTX
// 48+K+M+P     C  cubin
//
// Anything else (other magic or version, wrong size, checksum, unparseable or
// out-of-range metadata, a stored key or spec that is not the requested one;
// a path that is not a regular file: a symbolic link, FIFO, device or
// directory; a file beyond kMaxCacheEntryBytes) is a miss: logged once
// at warn, recompiled and rewritten. Writers go through a temporary file in the
// same directory that is fsynced and renamed, then the directory is fsynced;
// readers therefore see a whole entry or none. Compiles of one key are
// serialized across threads and processes by flock on `<key>.lock` (never
// deleted). A directory that cannot be written degrades the cache to
// memory-only with one warning. ATTNJIT_ALWAYS_COMPILE=1 bypasses the cache;
// with ATTNJIT_DUMP_DIR set every lookup compiles (so every stage is dumped)
// and refreshes the entry.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_DISKCACHE_H
#define ATTNJIT_RUNTIME_DISKCACHE_H

#include "attnjit/Core/FlashKernelABI.h"
#include "attnjit/Runtime/KernelProvider.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace attnjit {

/// Version of the entry layout above; an entry of another version is a miss
/// (logged, recompiled and rewritten in this version). 2: the metadata holds a
/// launch plan ("plan") instead of one kernel's entry/threads/shared memory.
inline constexpr uint32_t kCacheFormatVersion = 2;
/// The largest cache entry read; a larger file is a miss, refused before any
/// byte of it is read (real entries hold one module: well under 10 MB).
inline constexpr uint64_t kMaxCacheEntryBytes = uint64_t(256) << 20;
/// File name suffix of cache entries.
inline constexpr std::string_view kCacheEntrySuffix = ".attnk";

/// Environment variables whose values change the code the compiler generates;
/// each one's value (or its absence) is hashed into every cache key. The list
/// is empty today: ATTNJIT_DUMP_DIR and ATTNJIT_LOG_LEVEL do not change code and
/// ATTNJIT_ALWAYS_COMPILE bypasses the cache. A compiler option read from the
/// environment must be added here when it is introduced.
const std::vector<std::string> &codeAffectingEnvVars();

/// $ATTNJIT_CACHE_DIR, else $XDG_CACHE_HOME/attnjit, else $HOME/.cache/attnjit
/// (else ./.attnjit-cache when HOME is unset). Empty variables count as unset.
std::string defaultCacheDir();

/// True when ATTNJIT_ALWAYS_COMPILE is set to anything but "", "0", "false", "off".
bool alwaysCompileRequested();
/// True when ATTNJIT_DUMP_DIR is set and not empty. The compiler then dumps
/// every stage, so the cache compiles even when an entry exists (and rewrites
/// it) instead of serving the entry without running the compiler.
bool dumpDirRequested();

/// Everything a cache key depends on. Nothing time- or path-dependent.
struct CacheKeyInputs {
  std::string specCanonical; ///< AttentionSpec::canonical() as requested
  std::string arch;          ///< target arch
  std::string buildId;       ///< compiler build id (version, git hash, LLVM, ABI)
  int abiVersion = kFlashAbiVersion;
  /// Values of codeAffectingEnvVars() ("<unset>" when absent), in list order.
  std::vector<std::pair<std::string, std::string>> env;

  /// Inputs for `spec` built by `buildId`, with the current environment.
  static CacheKeyInputs forSpec(const AttentionSpec &spec, std::string_view buildId);
  /// The text that is hashed (one `name=value` line per input).
  std::string text() const;
  /// 64 lower-case hex characters: SHA-256 of text().
  std::string key() const;
};

/// Shorthand for CacheKeyInputs::forSpec(spec, buildId).key().
std::string computeCacheKey(const AttentionSpec &spec, std::string_view buildId);

/// A cache entry decoded from its bytes.
struct CacheEntry {
  std::string key;
  std::string buildId;
  std::string metadataJson; ///< as stored
  CompiledKernel kernel;
};

/// The bytes of a cache entry for `kernel` under `key`.
std::string encodeCacheEntry(std::string_view key, std::string_view buildId,
                             const CompiledKernel &kernel);
/// Decodes and checks an entry; nullopt with *error saying what is wrong
/// (truncated, magic, version, checksum, metadata). Never throws.
std::optional<CacheEntry> decodeCacheEntry(std::string_view bytes, std::string *error = nullptr);

/// Counters of one DiskCache object (this process only).
struct DiskCacheStats {
  uint64_t hits = 0;          ///< served from an entry on disk
  uint64_t misses = 0;        ///< had to compile (or, read-only, had nothing)
  uint64_t corrupt = 0;       ///< entries found unusable
  uint64_t writes = 0;        ///< entries written
  uint64_t memoryHits = 0;    ///< served from memory after the cache degraded
};

/// One entry file as the attnjit-cache tool shows it.
struct CacheEntryInfo {
  std::string key;       ///< from the file name
  std::string path;
  std::string spec;      ///< canonical text; empty when unreadable
  std::string arch;
  std::string buildId;
  std::string entryName;   ///< the plan's first kernel
  std::string planSummary; ///< LaunchPlan::summary(): one line per kernel
  uint64_t sizeBytes = 0;
  uint64_t ptxBytes = 0;
  uint64_t cubinBytes = 0;
  int64_t ageSeconds = 0; ///< now - mtime
  bool valid = false;
  std::string error;      ///< why it is not valid
};

/// What DiskCache::clear removed.
struct CacheClearResult {
  uint64_t entriesRemoved = 0;
  uint64_t tempFilesRemoved = 0;
  uint64_t bytesRemoved = 0;
  std::vector<std::string> errors;
};

class DiskCache : public KernelProvider {
public:
  /// `compiler` produces missing kernels; null makes the cache read-only (a
  /// missing kernel is then nullptr). `buildId` is the compiler's build id
  /// (compilerBuildId()); kernels of other build ids are never served.
  DiskCache(std::shared_ptr<KernelProvider> compiler, std::string buildId,
            std::string dir = defaultCacheDir());
  ~DiskCache() override;

  std::string name() const override { return "disk-cache"; }
  /// An entry for `spec`, else the compiler's kernel (written to disk). Throws
  /// whatever the compiler throws; disk problems never throw.
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override;

  /// Stores `cubin` in the entry of `spec` when that entry has none (the
  /// compiler found no ptxas), so that later processes load the cubin instead
  /// of JIT-compiling the PTX in the driver. Meant for a runtime that linked
  /// the PTX with cuLink* for exactly spec.arch. False when there is no valid
  /// entry, it already has a cubin, or it cannot be written.
  bool addCubin(const AttentionSpec &spec, const std::vector<uint8_t> &cubin);

  std::string keyFor(const AttentionSpec &spec) const { return computeCacheKey(spec, buildId_); }
  std::string entryPath(std::string_view key) const;
  std::string lockPath(std::string_view key) const;
  const std::string &directory() const { return dir_; }
  const std::string &buildId() const { return buildId_; }
  /// False once writing failed: entries are still read, new kernels stay in memory.
  bool isWritable() const { return !degraded_.load(std::memory_order_acquire); }
  DiskCacheStats stats() const;

  //===--------------------------------------------------------------------===//
  // Maintenance, for attnjit-cache. None needs a compiler or takes key locks.
  //===--------------------------------------------------------------------===//

  /// Every `*.attnk` file in `dir`, each decoded and checked, sorted by key.
  static std::vector<CacheEntryInfo> listEntries(const std::string &dir);
  /// The entry whose key is `keyOrPrefix` or starts with it (unique prefix).
  /// nullopt with *error when none, several, or it does not decode.
  static std::optional<CacheEntry> readEntry(const std::string &dir, std::string_view keyOrPrefix,
                                             std::string *error = nullptr);
  /// Removes entries and stale temporary files; keeps lock files (a waiter may
  /// hold one open). Removing an entry under a running process is safe: it is
  /// a miss there and gets recompiled.
  static CacheClearResult clear(const std::string &dir);

private:
  enum class ReadStatus { Hit, Missing, Corrupt };
  ReadStatus readEntryFile(const std::string &path, const std::string &key,
                           const AttentionSpec &spec, std::shared_ptr<const CompiledKernel> &out,
                           std::string &error) const;
  bool writeEntryFile(const std::string &key, const CompiledKernel &kernel, std::string &error);
  bool ensureDirectory(std::string &error);
  void removeStaleTempFiles(const std::string &key);
  void noteCorrupt(const std::string &key, const std::string &path, const std::string &error);
  void degrade(const std::string &why);
  std::shared_ptr<const CompiledKernel> compileInMemory(const AttentionSpec &spec,
                                                        const std::string &key);

  std::shared_ptr<KernelProvider> compiler_;
  std::string buildId_;
  std::string dir_;
  bool alwaysCompile_;
  bool dumpRequested_;

  std::atomic<bool> degraded_{false};
  std::once_flag degradeWarning_;
  std::atomic<bool> dirReady_{false};

  std::atomic<uint64_t> hits_{0}, misses_{0}, corrupt_{0}, writes_{0}, memoryHits_{0};

  mutable std::mutex mutex_; ///< guards warnedKeys_ and memory_
  std::set<std::string> warnedKeys_;
  std::unordered_map<std::string, std::shared_ptr<const CompiledKernel>> memory_;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_DISKCACHE_H

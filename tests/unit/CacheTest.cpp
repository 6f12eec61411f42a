//===- CacheTest.cpp - Disk cache: hashes, keys, entries, failures --------===//
//
// Part of attnjit. Every way an entry can be unusable is a miss that is logged
// once, recompiled and rewritten; keys change exactly when an input that
// changes code changes; an unwritable directory degrades to memory-only.
//
//===----------------------------------------------------------------------===//
#include "CacheTestSupport.h"

#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/Hash.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <functional>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace attnjit;
using namespace attnjit::testing;

//===----------------------------------------------------------------------===//
// Hashes
//===----------------------------------------------------------------------===//

TEST_CASE("SHA-256 matches the FIPS 180-4 test vectors", "[cache][hash]") {
  CHECK(sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // One million 'a', fed in uneven pieces to exercise the block buffer.
  Sha256 h;
  std::string chunk(997, 'a');
  size_t left = 1000000;
  while (left > 0) {
    size_t n = std::min(left, chunk.size());
    h.update(chunk.data(), n);
    left -= n;
  }
  auto d = h.digest();
  CHECK(toHex(d.data(), d.size()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("XXH64 matches the reference implementation", "[cache][hash]") {
  CHECK(xxh64("", 0) == 0xEF46DB3751D8E999ULL);
  CHECK(xxh64("a", 1) == 0xD24EC4F1A98C6E5BULL);
  CHECK(xxh64("abc", 3) == 0x44BC2CF5AD770999ULL);
  // Long inputs take the 32-byte stripe path; any change must change the hash.
  std::string s(1000, 'x');
  uint64_t a = xxh64(s.data(), s.size());
  s[517] = 'y';
  CHECK(xxh64(s.data(), s.size()) != a);
  CHECK(xxh64(s.data(), s.size(), 1) != xxh64(s.data(), s.size(), 0));
}

//===----------------------------------------------------------------------===//
// Keys
//===----------------------------------------------------------------------===//

TEST_CASE("Cache key changes with every invalidating input and nothing else", "[cache][key]") {
  AttentionSpec base = fakeSpec();
  const std::string build = "attnjit 0.1.0 abcdef LLVM 22 abi 1";
  std::string key = computeCacheKey(base, build);
  CHECK(key.size() == 64);
  CHECK(key == computeCacheKey(base, build));

  auto differs = [&](const AttentionSpec &s) { return computeCacheKey(s, build) != key; };
  AttentionSpec s = base;
  s.arch = "sm_80";
  CHECK(differs(s));
  s = base;
  s.headDim = 64;
  CHECK(differs(s));
  s = base;
  s.causal = !s.causal;
  CHECK(differs(s));
  s = base;
  s.dtype = DType::F16;
  CHECK(differs(s));
  s = base;
  s.returnLse = true;
  CHECK(differs(s));
  s = base;
  s.variant = Variant::Sdpa;
  CHECK(differs(s));
  s = base;
  s.config.blockM = 64;
  CHECK(differs(s));
  s = base;
  s.config.stages = 3;
  CHECK(differs(s));
  CHECK(computeCacheKey(base, build + "+1") != key);

  CacheKeyInputs in = CacheKeyInputs::forSpec(base, build);
  CHECK(in.key() == key);
  CacheKeyInputs abi = in;
  abi.abiVersion += 1;
  CHECK(abi.key() != key);
  CacheKeyInputs env = in;
  env.env.emplace_back("ATTNJIT_SOME_CODEGEN_FLAG", "1");
  CHECK(env.key() != key);

  // Not path-, time- or logging-dependent.
  {
    ScopedEnv dump("ATTNJIT_DUMP_DIR", "/tmp/somewhere");
    ScopedEnv log("ATTNJIT_LOG_LEVEL", "trace");
    ScopedEnv dir("ATTNJIT_CACHE_DIR", "/tmp/other-cache");
    CHECK(computeCacheKey(base, build) == key);
  }
  ScratchDir a, b;
  DiskCache ca(nullptr, build, a.path()), cb(nullptr, build, b.path());
  CHECK(ca.keyFor(base) == key);
  CHECK(cb.keyFor(base) == key);
  for (const auto &[name, value] : in.env)
    CHECK(in.text().find("env:" + name + "=") != std::string::npos);
}

TEST_CASE("Cache directory follows ATTNJIT_CACHE_DIR, XDG_CACHE_HOME, HOME", "[cache]") {
  {
    ScopedEnv d("ATTNJIT_CACHE_DIR", "/x/attn");
    CHECK(defaultCacheDir() == "/x/attn");
  }
  {
    ScopedEnv d("ATTNJIT_CACHE_DIR", nullptr);
    ScopedEnv x("XDG_CACHE_HOME", "/x/xdg");
    CHECK(defaultCacheDir() == "/x/xdg/attnjit");
  }
  {
    ScopedEnv d("ATTNJIT_CACHE_DIR", "");
    ScopedEnv x("XDG_CACHE_HOME", nullptr);
    ScopedEnv h("HOME", "/x/home");
    CHECK(defaultCacheDir() == "/x/home/.cache/attnjit");
  }
}

//===----------------------------------------------------------------------===//
// Entries
//===----------------------------------------------------------------------===//

TEST_CASE("Cache entry round trip keeps code and metadata", "[cache]") {
  CompiledKernel k = fakeKernel(fakeSpec(64, "sm_80", false));
  std::string bytes = encodeCacheEntry("k123", "build-1", k);
  std::string error;
  auto e = decodeCacheEntry(bytes, &error);
  REQUIRE(e);
  CHECK(error.empty());
  CHECK(e->key == "k123");
  CHECK(e->buildId == "build-1");
  CHECK(e->kernel.spec == k.spec);
  CHECK(e->kernel.entryName() == k.entryName());
  CHECK(e->kernel.plan == k.plan);
  CHECK(e->kernel.ptx == k.ptx);
  CHECK(e->kernel.cubin == k.cubin);
  CHECK(e->kernel.threadsPerBlock() == k.threadsPerBlock());
  CHECK(e->kernel.sharedMemBytes() == k.sharedMemBytes());
  CHECK(e->kernel.abiVersion == k.abiVersion);
  CHECK(e->kernel.compileMs == Approx(k.compileMs));
  CHECK(e->kernel.registers == 168);
  CHECK(e->kernel.spillBytes == 0);

  // A kernel without a cubin is fine too.
  k.cubin.clear();
  auto e2 = decodeCacheEntry(encodeCacheEntry("k", "b", k), &error);
  REQUIRE(e2);
  CHECK(e2->kernel.cubin.empty());
}

namespace {

/// An entry with the given sections and a valid checksum (the layout of DiskCache.h).
std::string handMadeEntry(const std::string &key, const std::string &meta, const std::string &ptx,
                          uint32_t version = kCacheFormatVersion) {
  std::string out = "ATJCACHE";
  auto u32 = [&](uint32_t v) {
    for (int i = 0; i < 4; ++i)
      out.push_back(char((v >> (8 * i)) & 0xff));
  };
  auto u64 = [&](uint64_t v) {
    for (int i = 0; i < 8; ++i)
      out.push_back(char((v >> (8 * i)) & 0xff));
  };
  u32(version);
  u32(uint32_t(key.size()));
  u32(uint32_t(meta.size()));
  u32(0);
  u64(ptx.size());
  u64(0);
  u64(0);
  out += key + meta + ptx;
  uint64_t sum = xxh64(out.data() + 48, out.size() - 48, xxh64(out.data(), 40));
  for (int i = 0; i < 8; ++i)
    out[40 + i] = char((sum >> (8 * i)) & 0xff);
  return out;
}

struct CorruptCase {
  const char *name;
  const char *expectInLog;
  std::function<std::string(const std::string &good, const std::string &key)> mutate;
};

} // namespace

TEST_CASE("Corrupt cache entries are misses: logged once, recompiled, rewritten", "[cache]") {
  const std::string build = "build-A";
  AttentionSpec spec = fakeSpec();
  AttentionSpec other = fakeSpec(64);
  std::vector<CorruptCase> cases = {
      {"empty file", "truncated", [](const std::string &, const std::string &) { return std::string(); }},
      {"truncated header", "truncated",
       [](const std::string &g, const std::string &) { return g.substr(0, 20); }},
      {"truncated code", "truncated",
       [](const std::string &g, const std::string &) { return g.substr(0, g.size() - 100); }},
      {"trailing bytes", "trailing",
       [](const std::string &g, const std::string &) { return g + "junk"; }},
      {"bad magic", "magic",
       [](const std::string &g, const std::string &) {
         std::string b = g;
         b[0] = 'X';
         return b;
       }},
      {"bit flip in PTX", "checksum",
       [](const std::string &g, const std::string &) {
         std::string b = g;
         b[b.size() - 5000] ^= 0x10;
         return b;
       }},
      {"bit flip in metadata", "checksum",
       [](const std::string &g, const std::string &) {
         std::string b = g;
         b[48 + 64 + 5] ^= 0x01;
         return b;
       }},
      {"other format version", "format version",
       [](const std::string &, const std::string &key) {
         return handMadeEntry(key, "{}", "ptx", kCacheFormatVersion + 1);
       }},
      {"garbage metadata", "not valid JSON",
       [](const std::string &, const std::string &key) {
         return handMadeEntry(key, "{\"spec\": tru", "ptx");
       }},
      {"metadata missing fields", "metadata",
       [](const std::string &, const std::string &key) {
         return handMadeEntry(key, "{\"key\": \"" + key + "\"}", "ptx");
       }},
      {"another key's entry", "requested key",
       [&](const std::string &, const std::string &) {
         return encodeCacheEntry(computeCacheKey(other, build), build, fakeKernel(other));
       }},
      {"other build id under this key", "built by",
       [&](const std::string &, const std::string &key) {
         return encodeCacheEntry(key, "build-B", fakeKernel(spec));
       }},
  };
  for (const CorruptCase &c : cases) {
    DYNAMIC_SECTION(c.name) {
      ScratchDir dir;
      auto compiler = std::make_shared<FakeCompiler>();
      std::string key, good;
      {
        DiskCache cache(compiler, build, dir.path());
        REQUIRE(cache.getKernel(spec));
        key = cache.keyFor(spec);
        good = readFile(cache.entryPath(key));
        REQUIRE(decodeCacheEntry(good));
        CHECK(cache.stats().writes == 1);
      }
      REQUIRE(compiler->calls == 1);
      std::string path = dir / (key + ".attnk");
      writeFile(path, c.mutate(good, key));

      LogCapture log;
      DiskCache cache(compiler, build, dir.path());
      auto k = cache.getKernel(spec);
      REQUIRE(k);
      CHECK(compiler->calls == 2);
      CHECK(k->ptx == fakeKernel(spec).ptx);
      CHECK(k->spec.arch == spec.arch);
      DiskCacheStats st = cache.stats();
      CHECK(st.corrupt == 1);
      CHECK(st.misses == 1);
      CHECK(st.writes == 1);
      CHECK(log.countWarnings(path) == 1);
      CHECK(log.countWarnings(c.expectInLog) == 1);
      // Rewritten: the file decodes again and the next lookup is a hit.
      CHECK(readFile(path) == good);
      REQUIRE(cache.getKernel(spec));
      CHECK(compiler->calls == 2);
      CHECK(cache.stats().hits == 1);
      CHECK(log.countWarnings() == 1);
    }
  }
}

TEST_CASE("A read-only cache (no compiler) treats corrupt entries as misses", "[cache]") {
  ScratchDir dir;
  AttentionSpec spec = fakeSpec();
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache writer(compiler, "b", dir.path());
  REQUIRE(writer.getKernel(spec));

  DiskCache reader(nullptr, "b", dir.path());
  auto k = reader.getKernel(spec);
  REQUIRE(k);
  CHECK(k->ptx == fakeKernel(spec).ptx);
  CHECK(reader.getKernel(fakeSpec(64)) == nullptr);
  CHECK(reader.stats().hits == 1);
  CHECK(reader.stats().misses == 1);

  std::string path = writer.entryPath(writer.keyFor(spec));
  writeFile(path, readFile(path).substr(0, 100));
  LogCapture log;
  CHECK(reader.getKernel(spec) == nullptr);
  CHECK(reader.getKernel(spec) == nullptr);
  CHECK(reader.stats().corrupt == 2);
  CHECK(log.countWarnings("truncated") == 1); // once per key, not per lookup
  // A different build id never sees these entries.
  DiskCache otherBuild(nullptr, "c", dir.path());
  CHECK(otherBuild.getKernel(fakeSpec(64)) == nullptr);
}

TEST_CASE("Hits return the stored kernel; misses compile once per key", "[cache]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache cache(compiler, "b", dir.path());
  for (int round = 0; round < 3; ++round)
    for (int d : {64, 128})
      for (const char *arch : {"sm_80", "sm_90a"})
        REQUIRE(cache.getKernel(fakeSpec(d, arch)));
  CHECK(compiler->calls == 4);
  CHECK(cache.stats().misses == 4);
  CHECK(cache.stats().writes == 4);
  CHECK(cache.stats().hits == 8);
  // A new process (object) with the same build id reuses them.
  DiskCache again(compiler, "b", dir.path());
  auto k = again.getKernel(fakeSpec(64, "sm_80"));
  REQUIRE(k);
  CHECK(k->spec.arch == "sm_80");
  CHECK(k->spec.headDim == 64);
  CHECK(k->spec.config.isComplete());
  CHECK(compiler->calls == 4);
  // No temporary files are left behind.
  for (auto &e : std::filesystem::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
}

TEST_CASE("ATTNJIT_ALWAYS_COMPILE=1 bypasses the cache", "[cache]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  ScopedEnv env("ATTNJIT_ALWAYS_COMPILE", "1");
  DiskCache cache(compiler, "b", dir.path());
  REQUIRE(cache.getKernel(fakeSpec()));
  REQUIRE(cache.getKernel(fakeSpec()));
  CHECK(compiler->calls == 2);
  CHECK(std::filesystem::is_empty(dir.path()));
  ScopedEnv off("ATTNJIT_ALWAYS_COMPILE", "0");
  DiskCache normal(compiler, "b", dir.path());
  REQUIRE(normal.getKernel(fakeSpec()));
  REQUIRE(normal.getKernel(fakeSpec()));
  CHECK(compiler->calls == 3);
}

TEST_CASE("ATTNJIT_DUMP_DIR makes every lookup compile and refresh the entry", "[cache]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  {
    DiskCache cache(compiler, "b", dir.path());
    REQUIRE(cache.getKernel(fakeSpec()));
  }
  ScopedEnv env("ATTNJIT_DUMP_DIR", (dir / "dumps").c_str());
  DiskCache cache(compiler, "b", dir.path());
  REQUIRE(cache.getKernel(fakeSpec()));
  REQUIRE(cache.getKernel(fakeSpec()));
  CHECK(compiler->calls == 3);
  CHECK(cache.stats().writes == 2);
  // A read-only cache cannot compile, so it still serves the entry.
  DiskCache reader(nullptr, "b", dir.path());
  CHECK(reader.getKernel(fakeSpec()));
}

TEST_CASE("addCubin fills in a PTX-only entry once", "[cache]") {
  struct PtxOnly : KernelProvider {
    std::string name() const override { return "ptx-only"; }
    std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &s) override {
      CompiledKernel k = fakeKernel(s);
      k.cubin.clear();
      return std::make_shared<const CompiledKernel>(std::move(k));
    }
  };
  ScratchDir dir;
  DiskCache cache(std::make_shared<PtxOnly>(), "b", dir.path());
  AttentionSpec spec = fakeSpec();
  CHECK_FALSE(cache.addCubin(spec, {1, 2, 3})); // no entry yet
  REQUIRE(cache.getKernel(spec)->cubin.empty());
  CHECK(cache.addCubin(spec, {1, 2, 3}));
  CHECK_FALSE(cache.addCubin(spec, {4, 5})); // already has one
  auto k = DiskCache(nullptr, "b", dir.path()).getKernel(spec);
  REQUIRE(k);
  CHECK(k->cubin == std::vector<uint8_t>{1, 2, 3});
  CHECK(k->ptx == fakeKernel(spec).ptx);
}

TEST_CASE("Compiler errors propagate and leave no entry or lock held", "[cache]") {
  struct Failing : KernelProvider {
    std::string name() const override { return "failing"; }
    std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &) override {
      throw std::runtime_error("boom");
    }
  };
  ScratchDir dir;
  DiskCache cache(std::make_shared<Failing>(), "b", dir.path());
  CHECK_THROWS_WITH(cache.getKernel(fakeSpec()), "boom");
  CHECK_FALSE(std::filesystem::exists(cache.entryPath(cache.keyFor(fakeSpec()))));
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache next(compiler, "b", dir.path());
  REQUIRE(next.getKernel(fakeSpec())); // would hang if the lock were still held
  CHECK(compiler->calls == 1);
}

//===----------------------------------------------------------------------===//
// Unwritable directories
//===----------------------------------------------------------------------===//

namespace {
void checkMemoryOnly(const std::string &dir, const std::string &why) {
  INFO("cache dir: " << dir << " (" << why << ")");
  auto compiler = std::make_shared<FakeCompiler>();
  LogCapture log;
  DiskCache cache(compiler, "b", dir);
  auto k1 = cache.getKernel(fakeSpec(128));
  REQUIRE(k1);
  CHECK_FALSE(cache.isWritable());
  auto k2 = cache.getKernel(fakeSpec(64));
  REQUIRE(k2);
  auto k1again = cache.getKernel(fakeSpec(128));
  CHECK(k1again == k1);          // served from memory
  CHECK(compiler->calls == 2);   // not recompiled
  CHECK(cache.stats().memoryHits == 1);
  CHECK(log.countWarnings() == 1);
  CHECK(log.countWarnings("memory only") == 1);
}
} // namespace

TEST_CASE("A cache directory that cannot be created degrades to memory-only", "[cache]") {
  // /dev/null is a file, so nothing can be created below it, even by root.
  checkMemoryOnly("/dev/null/attnjit-cache", "parent is a regular file");
}

TEST_CASE("A read-only cache directory degrades to memory-only but still serves entries",
          "[cache]") {
  if (::geteuid() == 0) {
    WARN("skipped the chmod 0555 variant: running as root, where permissions do not stop "
         "writes (the /dev/null/... variant covers the degraded path)");
    return;
  }
  ScratchDir dir;
  {
    DiskCache writer(std::make_shared<FakeCompiler>(), "b", dir.path());
    REQUIRE(writer.getKernel(fakeSpec(256)));
  }
  REQUIRE(::chmod(dir.path().c_str(), 0555) == 0);
  {
    auto compiler = std::make_shared<FakeCompiler>();
    DiskCache cache(compiler, "b", dir.path());
    REQUIRE(cache.getKernel(fakeSpec(256)));
    CHECK(compiler->calls == 0);
    CHECK(cache.stats().hits == 1);
  }
  checkMemoryOnly(dir.path(), "chmod 0555");
  ::chmod(dir.path().c_str(), 0755);
}

TEST_CASE("A full disk (write fails) degrades to memory-only and leaves no temp file",
          "[cache]") {
  // RLIMIT_FSIZE makes write() fail with EFBIG, as a full disk fails with
  // ENOSPC, through the same path. Run it in a child: the limit is per process.
  ScratchDir dir;
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &lim);
    int rc = 0;
    try {
      auto compiler = std::make_shared<FakeCompiler>();
      LogCapture log;
      DiskCache cache(compiler, "b", dir.path());
      auto k = cache.getKernel(fakeSpec());
      auto k2 = cache.getKernel(fakeSpec(64));
      auto again = cache.getKernel(fakeSpec());
      if (!k || !k2 || again != k)
        rc = 2;
      else if (cache.isWritable() || compiler->calls != 2)
        rc = 3;
      else if (log.countWarnings() != 1)
        rc = 4;
      for (auto &e : std::filesystem::directory_iterator(dir.path())) {
        std::string n = e.path().filename().string();
        if (n.rfind(".tmp-", 0) == 0 || n.find(".attnk") != std::string::npos)
          rc = 5;
      }
    } catch (...) {
      rc = 6;
    }
    ::_exit(rc);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

//===----------------------------------------------------------------------===//
// Maintenance
//===----------------------------------------------------------------------===//

TEST_CASE("Cache maintenance: list, read, verify, clear", "[cache]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache cache(compiler, "build-X", dir.path());
  for (int d : {64, 128, 256})
    REQUIRE(cache.getKernel(fakeSpec(d)));
  std::string badKey = cache.keyFor(fakeSpec(256));
  writeFile(cache.entryPath(badKey), "garbage");
  writeFile(dir / (".tmp-" + badKey + "-1-0"), "partial");

  auto entries = DiskCache::listEntries(dir.path());
  REQUIRE(entries.size() == 3);
  int valid = 0;
  for (const auto &e : entries) {
    if (e.key == badKey) {
      CHECK_FALSE(e.valid);
      CHECK(e.error.find("truncated") != std::string::npos);
      continue;
    }
    ++valid;
    CHECK(e.valid);
    CHECK(e.buildId == "build-X");
    CHECK(e.arch == "sm_90a");
    CHECK(e.spec.find("head_dim=") != std::string::npos);
    CHECK(e.sizeBytes > e.ptxBytes);
    CHECK(e.ageSeconds >= 0);
  }
  CHECK(valid == 2);

  std::string key = cache.keyFor(fakeSpec(64));
  std::string error;
  auto e = DiskCache::readEntry(dir.path(), key.substr(0, 10), &error);
  REQUIRE(e);
  CHECK(e->kernel.spec.headDim == 64);
  CHECK_FALSE(DiskCache::readEntry(dir.path(), "zzz", &error));
  CHECK(error.find("no entry") != std::string::npos);
  CHECK_FALSE(DiskCache::readEntry(dir.path(), badKey, &error));

  CacheClearResult r = DiskCache::clear(dir.path());
  CHECK(r.entriesRemoved == 3);
  CHECK(r.tempFilesRemoved == 1);
  CHECK(r.errors.empty());
  CHECK(DiskCache::listEntries(dir.path()).empty());
  // Lock files stay.
  CHECK(std::filesystem::exists(cache.lockPath(key)));
}

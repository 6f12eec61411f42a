//===- HardenedReadersTest.cpp - Cache and bundle readers trust no file ---===//
//
// Part of attnjit. The disk cache and bundle readers read regular files only
// (a FIFO would block them, a device or directory is no entry), check sizes
// before reading (a 64 GiB sparse file costs no memory), do not follow a
// symbolic link out of the cache directory, and range-check every metadata
// field of a checksum-valid file: a forged entry is a logged miss, a forged
// bundle a clear error.
//
//===----------------------------------------------------------------------===//
#include "CacheTestSupport.h"

#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Hash.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <fcntl.h>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

using namespace attnjit;
using namespace attnjit::testing;

namespace {

uint64_t getLE(const std::string &x, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i)
    v = (v << 8) | uint8_t(x[at + i]);
  return v;
}
void setLE(std::string &x, size_t at, int bytes, uint64_t v) {
  for (int i = 0; i < bytes; ++i)
    x[at + i] = char((v >> (8 * i)) & 0xff);
}

/// `entry` (encodeCacheEntry output) with its metadata JSON changed by
/// `mutate` and the checksum recomputed, so only the range checks can tell.
std::string forgeEntry(const std::string &entry,
                       const std::function<void(nlohmann::json &)> &mutate) {
  uint64_t keyLen = getLE(entry, 12, 4), metaLen = getLE(entry, 16, 4);
  nlohmann::json meta = nlohmann::json::parse(entry.substr(48 + keyLen, metaLen));
  mutate(meta);
  std::string m = meta.dump();
  std::string out = entry.substr(0, 48 + keyLen) + m + entry.substr(48 + keyLen + metaLen);
  setLE(out, 16, 4, m.size());
  setLE(out, 40, 8, xxh64(out.data() + 48, out.size() - 48, xxh64(out.data(), 40)));
  return out;
}

/// `bundle` with its index changed by `mutate` and the checksum recomputed.
std::string forgeBundle(const std::string &bundle,
                        const std::function<void(nlohmann::json &)> &mutate) {
  uint64_t indexLen = getLE(bundle, 16, 8);
  nlohmann::json index = nlohmann::json::parse(bundle.substr(40, indexLen));
  mutate(index);
  std::string text = index.dump();
  std::string out = bundle.substr(0, 40) + text + bundle.substr(40 + indexLen);
  setLE(out, 16, 8, text.size());
  setLE(out, 12, 4, index["kernels"].size());
  setLE(out, 32, 8, xxh64(out.data() + 40, out.size() - 40, xxh64(out.data(), 32)));
  return out;
}

std::string bundleError(const std::string &bytes) {
  try {
    BundleProvider::load(bytes.data(), bytes.size(), "forged.attnpack");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::Io);
    return e.what();
  }
  return "(loaded)";
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

TEST_CASE("A cache entry that is not a regular file is a logged miss", "[cache][harden]") {
  ScratchDir dir, outside;
  auto compiler = std::make_shared<FakeCompiler>();
  AttentionSpec spec = fakeSpec();
  std::string key;
  {
    DiskCache probe(compiler, "b", dir.path());
    key = probe.keyFor(spec);
  }
  std::string path = dir / (key + std::string(kCacheEntrySuffix));
  // A valid entry for exactly this key, kept outside the cache directory.
  std::string valid = encodeCacheEntry(key, "b", fakeKernel(spec));
  writeFile(outside / "entry", valid);

  auto replaceWith = [&](const std::function<void()> &make) {
    std::filesystem::remove_all(path);
    make();
  };
  struct Case {
    const char *name, *message;
    std::function<void()> make;
  } cases[] = {
      {"fifo", "is a FIFO, not a regular file", [&] { REQUIRE(::mkfifo(path.c_str(), 0644) == 0); }},
      {"sparse", "68719476736 bytes, beyond the limit",
       [&] {
         int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
         REQUIRE(fd >= 0);
         REQUIRE(::ftruncate(fd, off_t(64) << 30) == 0);
         ::close(fd);
       }},
      {"directory", "is a directory", [&] { std::filesystem::create_directory(path); }},
      {"symlink", "is a symbolic link",
       [&] { std::filesystem::create_symlink(outside / "entry", path); }},
  };
  for (const Case &c : cases) {
    INFO(c.name);
    replaceWith(c.make);
    // The tools' readers report it...
    auto entries = DiskCache::listEntries(dir.path());
    REQUIRE(entries.size() == 1);
    CHECK_FALSE(entries[0].valid);
    CHECK(entries[0].error.find(c.message) != std::string::npos);
    std::string error;
    CHECK_FALSE(DiskCache::readEntry(dir.path(), key, &error));
    CHECK(error.find(c.message) != std::string::npos);
    // ...and a lookup through the cache is a miss, logged, recompiled, fast.
    if (std::string(c.name) == "directory")
      continue; // the rename of the new entry cannot replace a directory
    LogCapture log;
    int before = compiler->calls.load();
    DiskCache cache(compiler, "b", dir.path());
    auto t0 = std::chrono::steady_clock::now();
    auto k = cache.getKernel(spec);
    CHECK(secondsSince(t0) < 5);
    REQUIRE(k);
    CHECK(compiler->calls.load() == before + 1);
    CHECK(cache.stats().corrupt >= 1);
    CHECK(log.countWarnings(c.message) == 1);
    // The new entry is a regular file in the cache; the outside one is untouched.
    struct stat st;
    REQUIRE(::lstat(path.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(readFile(outside / "entry") == valid);
  }
}

TEST_CASE("A bundle that is not a regular file, or too large, is refused at once",
          "[bundle][harden]") {
  ScratchDir dir;
  auto expectRefused = [&](const std::string &path, const std::string &message) {
    INFO(path);
    auto t0 = std::chrono::steady_clock::now();
    try {
      BundleProvider::load(path);
      FAIL("loaded");
    } catch (const Error &e) {
      std::string msg = e.what();
      INFO(msg);
      CHECK(e.kind() == ErrorKind::Io);
      CHECK(msg.find("bundle " + path + ": cannot read: ") != std::string::npos);
      CHECK(msg.find(message) != std::string::npos);
    }
    CHECK(secondsSince(t0) < 2);
  };
  REQUIRE(::mkfifo((dir / "fifo.attnpack").c_str(), 0644) == 0);
  expectRefused(dir / "fifo.attnpack", "is a FIFO, not a regular file");
  int fd = ::open((dir / "sparse.attnpack").c_str(), O_CREAT | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, off_t(64) << 30) == 0);
  ::close(fd);
  expectRefused(dir / "sparse.attnpack", "68719476736 bytes, beyond the limit of 1073741824");
  expectRefused(dir.path(), "is a directory");
  expectRefused("/dev/null", "is a character device");
  // 2 GiB (the reproducer took 14 s and 2 GB): refused by its size
  // before a byte is read.
  fd = ::open((dir / "big.attnpack").c_str(), O_CREAT | O_WRONLY, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::ftruncate(fd, off_t(2) << 30) == 0);
  ::close(fd);
  expectRefused(dir / "big.attnpack", "beyond the limit");
  // Symbolic links to a bundle are followed: a bundle is a path the user names.
  writeBundle(dir / "real.attnpack", {fakeKernel(fakeSpec())});
  std::filesystem::create_symlink(dir / "real.attnpack", dir / "link.attnpack");
  CHECK(BundleProvider::load(dir / "link.attnpack")->kernels().size() == 1);
}

TEST_CASE("Checksum-valid cache entries with out-of-range metadata are refused",
          "[cache][harden]") {
  AttentionSpec spec = fakeSpec(128, "sm_86");
  std::string good = encodeCacheEntry("k", "b", fakeKernel(spec));
  REQUIRE(decodeCacheEntry(good));
  auto expect = [&](const std::function<void(nlohmann::json &)> &mutate,
                    const std::string &message) {
    std::string error;
    CHECK_FALSE(decodeCacheEntry(forgeEntry(good, mutate), &error));
    INFO(error);
    CHECK(error.find(message) != std::string::npos);
  };
  auto plan0 = [](nlohmann::json &m) -> nlohmann::json & { return m["plan"]["kernels"][0]; };
  expect([&](auto &m) { plan0(m)["threads"] = -1; }, "threadsPerBlock must be in 1..1024, got -1");
  expect([&](auto &m) { plan0(m)["threads"] = 2048; }, "threadsPerBlock must be in 1..1024");
  expect([&](auto &m) { plan0(m)["threads"] = int64_t(1) << 40; }, "32-bit integer field 'threads'");
  expect([&](auto &m) { plan0(m)["shared_mem_bytes"] = int64_t(1) << 31; },
         "32-bit integer field 'shared_mem_bytes'");
  expect([&](auto &m) { plan0(m)["shared_mem_bytes"] = 200000; },
         "200000 bytes of shared memory, beyond sm_86's 101376");
  expect([&](auto &m) { plan0(m)["shared_mem_bytes"] = -4; }, "sharedMemBytes must be >= 0");
  expect([&](auto &m) { plan0(m)["block_rows"] = 1 << 20; }, "blockRows in 1..1024");
  expect([&](auto &m) {
    m["spec"] = "variant=flash;head_dim=9999;causal=1;dtype=bf16;arch=sm_86";
  }, "head_dim: flash supports");
  expect([&](auto &m) {
    m["spec"] = "variant=flash;head_dim=128;causal=1;dtype=bf16;arch=sm_70";
    m["arch"] = "sm_70";
  }, "sm_80 or newer");
  expect([&](auto &m) {
    m["spec"] = "variant=flash;head_dim=128;causal=1;dtype=bf16;arch=sm_86;block_m=4096";
  }, "config: fields must be at most 1024");
  expect([&](auto &m) { m["abi_version"] = 7; }, "abi_version 7, this runtime's flash ABI is 2");
  expect([&](auto &m) { m["plan"]["kernels"] = nlohmann::json::array(); }, "no kernels");
}

TEST_CASE("A cache entry for another spec under the requested key is a miss", "[cache][harden]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache cache(compiler, "b", dir.path());
  AttentionSpec want = fakeSpec(128), other = fakeSpec(64);
  std::string key = cache.keyFor(want);
  // Whole and checksum-valid, with the right key and build, but another kernel.
  writeFile(cache.entryPath(key), encodeCacheEntry(key, "b", fakeKernel(other)));
  LogCapture log;
  auto k = cache.getKernel(want);
  REQUIRE(k);
  CHECK(k->spec.headDim == 128);
  CHECK(compiler->calls.load() == 1);
  CHECK(log.countWarnings("is not the requested") == 1);
  // The rewritten entry serves the request, whose config is left to the
  // compiler (the stored spec has the fake compiler's 128/64/4/2 filled in).
  DiskCache again(compiler, "b", dir.path());
  CHECK(again.getKernel(want));
  CHECK(compiler->calls.load() == 1);
}

TEST_CASE("Checksum-valid bundles with out-of-range records are refused", "[bundle][harden]") {
  std::vector<CompiledKernel> ks = {fakeKernel(fakeSpec(64, "sm_80")),
                                    fakeKernel(fakeSpec(128, "sm_90a"))};
  std::vector<uint8_t> raw = serializeBundle(ks);
  std::string good(raw.begin(), raw.end());
  REQUIRE(bundleError(good) == "(loaded)");
  auto expect = [&](const std::function<void(nlohmann::json &)> &mutate,
                    const std::string &message) {
    std::string msg = bundleError(forgeBundle(good, mutate));
    INFO(msg);
    CHECK(msg.find("bundle forged.attnpack: ") != std::string::npos);
    CHECK(msg.find(message) != std::string::npos);
  };
  auto k = [](nlohmann::json &i, int n) -> nlohmann::json & { return i["kernels"][n]; };
  expect([&](auto &i) { k(i, 1)["plan"]["kernels"][0]["threads"] = int64_t(1) << 40; },
         "kernel 1: metadata: plan: kernel 0: missing 32-bit integer field 'threads'");
  expect([&](auto &i) { k(i, 1)["plan"]["kernels"][0]["shared_mem_bytes"] = int64_t(1) << 31; },
         "kernel 1: metadata: plan: kernel 0: missing 32-bit integer field 'shared_mem_bytes'");
  expect([&](auto &i) { k(i, 0)["plan"]["kernels"][0]["shared_mem_bytes"] = 200000; },
         "kernel 0: metadata: plan kernel 0: 200000 bytes of shared memory, beyond sm_80's");
  expect([&](auto &i) {
    k(i, 0)["spec"] = "variant=flash;head_dim=9999;causal=1;dtype=bf16;arch=sm_80";
  }, "kernel 0: metadata: spec");
  expect([&](auto &i) {
    k(i, 0)["spec"] = "variant=flash;head_dim=64;causal=1;dtype=bf16;arch=sm_70";
    k(i, 0)["arch"] = "sm_70";
  }, "sm_80 or newer");
  expect([&](auto &i) { k(i, 1)["abi_version"] = 99; }, "kernel 1: metadata: abi_version 99");
  expect([&](auto &i) { i["kernels"] = nlohmann::json::array(); }, "the bundle holds no kernels");
  // Code ranges: kernel 1's PTX pointed at kernel 0's, or at nothing.
  expect([&](auto &i) { k(i, 1)["ptx_offset"] = k(i, 0)["ptx_offset"]; }, "overlaps");
  expect([&](auto &i) { k(i, 1)["cubin_offset"] = uint64_t(k(i, 0)["cubin_offset"]) + 1; },
         "overlaps");
  expect([&](auto &i) {
    k(i, 1)["ptx_bytes"] = 0;
  }, "kernel 1: empty PTX range");
}

TEST_CASE("A symbolic link at a lock's path creates nothing outside the cache",
          "[cache][harden]") {
  ScratchDir dir, outside;
  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache cache(compiler, "b", dir.path());
  AttentionSpec spec = fakeSpec();
  std::string target = outside / "planted";
  std::filesystem::create_symlink(target, cache.lockPath(cache.keyFor(spec)));
  LogCapture log;
  auto k = cache.getKernel(spec); // the lock cannot be taken: memory only, with a warning
  REQUIRE(k);
  CHECK_FALSE(std::filesystem::exists(target));
  CHECK_FALSE(cache.isWritable());
  CHECK(log.countWarnings("cannot open lock file") == 1);
}

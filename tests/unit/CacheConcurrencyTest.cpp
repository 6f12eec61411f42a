//===- CacheConcurrencyTest.cpp - Many processes, one cache key -----------===//
//
// Part of attnjit. Processes (fork) and threads asking for one missing key
// compile it exactly once and all read the same bytes; a compiler killed while
// holding the key's lock blocks nobody.
//
//===----------------------------------------------------------------------===//
#include "CacheTestSupport.h"

#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/FileLock.h"
#include "attnjit/Runtime/Hash.h"

#include <catch2/catch.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>
#include <vector>

using namespace attnjit;
using namespace attnjit::testing;

namespace {
std::string kernelDigest(const CompiledKernel &k) {
  std::string all = k.spec.canonical() + "\n" + k.entryName() + "\n" + k.ptx;
  all.append(reinterpret_cast<const char *>(k.cubin.data()), k.cubin.size());
  return sha256Hex(all);
}
} // namespace

TEST_CASE("8 processes on one missing key: one compile, identical results",
          "[cache][concurrency]") {
  constexpr int kProcs = 8;
  ScratchDir dir;
  std::string counter = dir / "compile-count";
  std::string cacheDir = dir / "cache"; // created by the cache itself
  AttentionSpec spec = fakeSpec();
  int gate[2];
  REQUIRE(::pipe(gate) == 0);
  std::vector<pid_t> pids;
  for (int i = 0; i < kProcs; ++i) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(gate[1]);
      char c;
      while (::read(gate[0], &c, 1) > 0) {
      } // released together when the parent closes the pipe
      int rc = 0;
      try {
        auto compiler = std::make_shared<FakeCompiler>(300, counter);
        DiskCache cache(compiler, "build", cacheDir);
        auto k = cache.getKernel(spec);
        if (!k)
          rc = 2;
        else
          writeFile(dir / ("result." + std::to_string(i)), kernelDigest(*k));
      } catch (...) {
        rc = 3;
      }
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  ::close(gate[0]);
  ::close(gate[1]);
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(readFile(counter) == "x"); // exactly one compile
  std::string expected = kernelDigest(fakeKernel(spec));
  for (int i = 0; i < kProcs; ++i)
    CHECK(readFile(dir / ("result." + std::to_string(i))) == expected);
  auto entries = DiskCache::listEntries(cacheDir);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].valid);
}

TEST_CASE("Threads on one missing key compile once", "[cache][concurrency]") {
  ScratchDir dir;
  auto compiler = std::make_shared<FakeCompiler>(200);
  DiskCache cache(compiler, "build", dir.path());
  std::vector<std::shared_ptr<const CompiledKernel>> got(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] { got[i] = cache.getKernel(fakeSpec()); });
  for (auto &t : threads)
    t.join();
  CHECK(compiler->calls == 1);
  for (auto &k : got) {
    REQUIRE(k);
    CHECK(k->ptx == got[0]->ptx);
  }
  CHECK(cache.stats().hits == 7);
}

TEST_CASE("A compiler killed while holding the key lock blocks nobody",
          "[cache][concurrency]") {
  ScratchDir dir;
  AttentionSpec spec = fakeSpec();
  DiskCache probe(nullptr, "build", dir.path());
  std::string key = probe.keyFor(spec);
  int ready[2];
  REQUIRE(::pipe(ready) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Takes the lock, leaves a half-written temp file behind, then hangs.
    auto lock = FileLock::acquire(probe.lockPath(key));
    writeFile(dir / (".tmp-" + key + "-" + std::to_string(::getpid()) + "-0"), "half");
    char c = lock ? 'y' : 'n';
    (void)!::write(ready[1], &c, 1);
    ::pause();
    ::_exit(0);
  }
  ::close(ready[1]);
  char c = 0;
  REQUIRE(::read(ready[0], &c, 1) == 1);
  REQUIRE(c == 'y');
  // While the child lives, the lock is held.
  CHECK_FALSE(FileLock::tryAcquire(probe.lockPath(key)));
  ::kill(pid, SIGKILL);
  int status;
  REQUIRE(::waitpid(pid, &status, 0) == pid);

  auto compiler = std::make_shared<FakeCompiler>();
  DiskCache cache(compiler, "build", dir.path());
  auto start = std::chrono::steady_clock::now();
  REQUIRE(cache.getKernel(spec));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  CHECK(compiler->calls == 1);
  for (auto &e : std::filesystem::directory_iterator(dir.path()))
    CHECK(e.path().filename().string().rfind(".tmp-", 0) != 0);
  CHECK(std::filesystem::exists(probe.lockPath(key))); // lock files are never deleted
}

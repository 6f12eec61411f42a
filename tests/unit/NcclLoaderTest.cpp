//===- NcclLoaderTest.cpp - NCCL loading and checked calls without a GPU --===//
//
// Part of attnjit. The failure paths of the loader (a missing file, a library
// that is not NCCL) and, through tests/fakes/FakeNccl.cpp, the symbol table,
// the checked calls' messages and NcclCommunicator's lifetime.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Nccl.h"

#include <dlfcn.h>

#include <cstdlib>
#include <optional>
#include <string>

using namespace attnjit;

namespace {
bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// Restores an environment variable when it leaves scope.
class EnvGuard {
public:
  explicit EnvGuard(const char *name) : name_(name) {
    if (const char *v = std::getenv(name))
      old_ = v;
  }
  ~EnvGuard() {
    if (old_)
      setenv(name_, old_->c_str(), 1);
    else
      unsetenv(name_);
  }

private:
  const char *name_;
  std::optional<std::string> old_;
};

int fakeLiveComms() {
  void *h = dlopen(ATTNJIT_FAKE_NCCL_PATH, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  REQUIRE(h);
  auto fn = reinterpret_cast<int (*)()>(dlsym(h, "attnjitFakeNcclLiveComms"));
  REQUIRE(fn);
  int n = fn();
  dlclose(h);
  return n;
}
} // namespace

TEST_CASE("NcclLibrary: a missing library is Unsupported with dlopen's message", "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom("/nonexistent/attnjit-test/libnccl.so.2");
  REQUIRE(lib);
  CHECK_FALSE(lib->available());
  CHECK(lib->version() == 0);
  CHECK(lib->versionString() == "unknown");
  CHECK(lib->ncclCommInitRank == nullptr);
  CHECK(contains(lib->unavailableReason(), "/nonexistent/attnjit-test/libnccl.so.2"));
  CHECK(contains(lib->unavailableReason(), "No such file"));
  CHECK(contains(lib->unavailableReason(), "ATTNJIT_NCCL_PATH"));
  try {
    lib->requireAvailable();
    FAIL("requireAvailable did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
    CHECK(contains(e.what(), "sequence parallelism needs NCCL"));
  }
  // Every entry point refuses before touching a null function pointer.
  CHECK_THROWS_AS(NcclCommunicator::newUniqueId(*lib), Error);
  nccl::ncclUniqueId id{};
  try {
    NcclCommunicator::create(id, 2, 0, *lib);
    FAIL("create did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::Unsupported);
  }
  // Without ncclGetErrorString the result is still named.
  CHECK(lib->describe(nccl::ncclInvalidUsage) == "ncclInvalidUsage");
  CHECK(lib->describe(static_cast<nccl::ncclResult_t>(42)) == "ncclResult_t 42");
}

TEST_CASE("NcclLibrary: a library that is not NCCL is reported", "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom("libc.so.6");
  CHECK_FALSE(lib->available());
  CHECK(contains(lib->unavailableReason(), "is not a usable NCCL library"));
  CHECK(contains(lib->unavailableReason(), "ncclGetVersion"));
  CHECK(contains(lib->unavailableReason(), "ncclAllGather"));
  // The optional symbol is not listed as missing.
  CHECK_FALSE(contains(lib->unavailableReason(), "ncclGetLastError"));
  CHECK_THROWS_AS(lib->requireAvailable(), Error);
  CHECK_THROWS_AS(NcclCommunicator::newUniqueId(*lib), Error);
}

TEST_CASE("NcclLibrary: the process library follows ATTNJIT_NCCL_PATH or reports why not",
          "[runtime][nccl]") {
  NcclLibrary &lib = NcclLibrary::get();
  if (lib.available()) {
    CHECK(lib.unavailableReason().empty());
    CHECK(lib.version() > 0);
  } else {
    WARN("no NCCL here: " << lib.unavailableReason());
    CHECK_FALSE(lib.unavailableReason().empty());
    CHECK_THROWS_AS(lib.requireAvailable(), Error);
  }
  if (const char *env = std::getenv("ATTNJIT_NCCL_PATH"); env && *env)
    CHECK(lib.libraryPath() == env);
  else
    CHECK(lib.libraryPath() == "libnccl.so.2");
}

TEST_CASE("NcclLibrary: the fake NCCL resolves and its version is decoded", "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  INFO(lib->unavailableReason());
  REQUIRE(lib->available());
  CHECK(lib->version() == 22703);
  CHECK(lib->versionString() == "2.27.3");
  CHECK(lib->ncclGetLastError != nullptr);
  CHECK_NOTHROW(lib->requireAvailable());
  CHECK(lib->describe(nccl::ncclInvalidUsage) == "ncclInvalidUsage (fake: invalid usage)");
}

TEST_CASE("NcclLibrary: check() names the call, NCCL's string, its last error and the context",
          "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  REQUIRE(lib->available());
  CHECK_NOTHROW(lib->check(nccl::ncclSuccess, "ncclGroupEnd"));
  try {
    lib->check(nccl::ncclInvalidUsage, "ncclGroupEnd", "Ulysses all-to-all, rank 1 of 4");
    FAIL("check did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::Driver);
    CHECK(std::string(e.what()) ==
          "ncclGroupEnd failed: ncclInvalidUsage (fake: invalid usage): fake last error detail "
          "[Ulysses all-to-all, rank 1 of 4]");
  }
  try {
    lib->check(nccl::ncclInvalidArgument, "ncclSend");
    FAIL("check did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()).rfind("ncclSend failed: ncclInvalidArgument", 0) == 0);
  }
}

TEST_CASE("NcclCommunicator: made from a unique id, destroyed once, moved safely",
          "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  REQUIRE(lib->available());
  const int before = fakeLiveComms();
  nccl::ncclUniqueId id = NcclCommunicator::newUniqueId(*lib);
  {
    NcclCommunicator a = NcclCommunicator::create(id, 4, 3, *lib);
    CHECK(a.comm() != nullptr);
    CHECK(a.owned());
    CHECK(a.worldSize() == 4);
    CHECK(a.rank() == 3);
    CHECK(fakeLiveComms() == before + 1);
    NcclCommunicator b = std::move(a);
    CHECK(a.comm() == nullptr);
    CHECK(b.rank() == 3);
    CHECK(fakeLiveComms() == before + 1);
    NcclCommunicator c = NcclCommunicator::create(id, 4, 0, *lib);
    CHECK(fakeLiveComms() == before + 2);
    c = std::move(b); // destroys c's communicator, takes b's
    CHECK(fakeLiveComms() == before + 1);
    CHECK(c.rank() == 3);
  }
  CHECK(fakeLiveComms() == before);
}

TEST_CASE("NcclCommunicator: bad ranks and ids are clear errors", "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  REQUIRE(lib->available());
  nccl::ncclUniqueId id = NcclCommunicator::newUniqueId(*lib);
  auto expectInvalid = [&](int world, int rank, const std::string &part) {
    try {
      NcclCommunicator::create(id, world, rank, *lib);
      FAIL("create did not throw");
    } catch (const Error &e) {
      CHECK(e.kind() == ErrorKind::InvalidArgument);
      CHECK(contains(e.what(), part));
    }
  };
  expectInvalid(0, 0, "world size 0 must be at least 1");
  expectInvalid(4, 4, "rank 4 is outside [0, 4)");
  expectInvalid(4, -1, "rank -1 is outside [0, 4)");
  // An id that NCCL rejects: the checked call names it and the rank.
  nccl::ncclUniqueId bad{};
  try {
    NcclCommunicator::create(bad, 2, 1, *lib);
    FAIL("create did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(contains(e.what(), "ncclCommInitRank failed: ncclInvalidArgument"));
    CHECK(contains(e.what(), "[rank 1 of 2]"));
  }
  CHECK_THROWS_AS(NcclCommunicator::adopt(nullptr, *lib), Error);
}

TEST_CASE("NcclCommunicator: an adopted communicator is read, not destroyed", "[runtime][nccl]") {
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  REQUIRE(lib->available());
  nccl::ncclUniqueId id = NcclCommunicator::newUniqueId(*lib);
  nccl::ncclComm_t raw = nullptr;
  lib->check(lib->ncclCommInitRank(&raw, 8, id, 5), "ncclCommInitRank");
  const int live = fakeLiveComms();
  {
    NcclCommunicator c = NcclCommunicator::adopt(raw, *lib);
    CHECK_FALSE(c.owned());
    CHECK(c.worldSize() == 8);
    CHECK(c.rank() == 5);
  }
  CHECK(fakeLiveComms() == live);
  lib->check(lib->ncclCommDestroy(raw), "ncclCommDestroy");
}

TEST_CASE("NCCL environment: NVLink multicast is switched off unless the user chose",
          "[runtime][nccl]") {
  EnvGuard guard("NCCL_NVLS_ENABLE");
  unsetenv("NCCL_NVLS_ENABLE");
  CHECK(applyNcclEnvironmentDefaults() == "0");
  setenv("NCCL_NVLS_ENABLE", "1", 1);
  CHECK(applyNcclEnvironmentDefaults() == "1");
  // Making a communicator applies it.
  auto lib = NcclLibrary::loadFrom(ATTNJIT_FAKE_NCCL_PATH);
  REQUIRE(lib->available());
  nccl::ncclUniqueId id = NcclCommunicator::newUniqueId(*lib);
  unsetenv("NCCL_NVLS_ENABLE");
  NcclCommunicator c = NcclCommunicator::create(id, 1, 0, *lib);
  const char *v = std::getenv("NCCL_NVLS_ENABLE");
  REQUIRE(v);
  CHECK(std::string(v) == "0");
}

//===- Nccl.cpp - NCCL, loaded with dlopen --------------------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Nccl.h"

#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <cstdlib>
#include <utility>

namespace attnjit {

std::string nccl::resultName(ncclResult_t result) {
  switch (result) {
  case ncclSuccess: return "ncclSuccess";
  case ncclUnhandledCudaError: return "ncclUnhandledCudaError";
  case ncclSystemError: return "ncclSystemError";
  case ncclInternalError: return "ncclInternalError";
  case ncclInvalidArgument: return "ncclInvalidArgument";
  case ncclInvalidUsage: return "ncclInvalidUsage";
  case ncclRemoteError: return "ncclRemoteError";
  case ncclInProgress: return "ncclInProgress";
  }
  return fmt::format("ncclResult_t {}", static_cast<int>(result));
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

NcclLibrary::NcclLibrary(std::string libraryPath) : path_(std::move(libraryPath)) {}

NcclLibrary::~NcclLibrary() {
  // Only test instances are destroyed (get() leaks its instance so that
  // communicators released by static destructors still find NCCL mapped).
  if (handle_)
    dlclose(handle_);
}

NcclLibrary &NcclLibrary::get() {
  static NcclLibrary *lib = [] {
    const char *env = std::getenv("ATTNJIT_NCCL_PATH");
    auto *l = new NcclLibrary(env && *env ? env : "libnccl.so.2");
    l->load();
    if (l->available())
      logger().debug("NCCL {} loaded from {}", l->versionString(), l->libraryPath());
    else
      logger().debug("NCCL unavailable: {}", l->unavailableReason());
    return l;
  }();
  return *lib;
}

std::unique_ptr<NcclLibrary> NcclLibrary::loadFrom(const std::string &libraryPath) {
  std::unique_ptr<NcclLibrary> l(new NcclLibrary(libraryPath));
  l->load();
  return l;
}

void NcclLibrary::load() {
  dlerror();
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char *err = dlerror();
    reason_ = fmt::format("cannot load the NCCL library '{}': {} (install NCCL 2, e.g. the "
                          "libnccl2 package or PyTorch's nvidia-nccl wheel, or set "
                          "ATTNJIT_NCCL_PATH to its libnccl.so.2)",
                          path_, err ? err : "unknown dlopen error");
    return;
  }

  std::string missing;
  auto resolve = [&](const char *symbol, bool required) -> void * {
    void *p = dlsym(handle_, symbol);
    if (!p && required) {
      if (!missing.empty())
        missing += ", ";
      missing += symbol;
    }
    return p;
  };
#define ATTNJIT_NCCL_RESOLVE_REQUIRED(name, symbol, pfn)                                          \
  name = reinterpret_cast<nccl::pfn>(resolve(symbol, true));
#define ATTNJIT_NCCL_RESOLVE_OPTIONAL(name, symbol, pfn)                                          \
  name = reinterpret_cast<nccl::pfn>(resolve(symbol, false));
  ATTNJIT_NCCL_SYMBOLS(ATTNJIT_NCCL_RESOLVE_REQUIRED, ATTNJIT_NCCL_RESOLVE_OPTIONAL)
#undef ATTNJIT_NCCL_RESOLVE_OPTIONAL
#undef ATTNJIT_NCCL_RESOLVE_REQUIRED

  if (!missing.empty()) {
    reason_ = fmt::format("'{}' is not a usable NCCL library: it lacks {} (NCCL 2.7 or newer "
                          "is needed)",
                          path_, missing);
    return;
  }
  nccl::ncclResult_t r = this->ncclGetVersion(&version_);
  if (r != nccl::ncclSuccess) {
    version_ = 0;
    reason_ = fmt::format("ncclGetVersion failed: {} (library '{}')", describe(r), path_);
    return;
  }
  available_ = true;
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

void NcclLibrary::requireAvailable() const {
  if (!available_)
    throw Error(ErrorKind::Unsupported,
                "sequence parallelism needs NCCL, which is unavailable: " + reason_);
}

std::string NcclLibrary::versionString() const {
  if (!available_)
    return "unknown";
  // NCCL_VERSION_CODE: major*1000 + minor*100 + patch before 2.9, and
  // major*10000 + minor*100 + patch since.
  if (version_ >= 10000)
    return fmt::format("{}.{}.{}", version_ / 10000, version_ % 10000 / 100, version_ % 100);
  return fmt::format("{}.{}.{}", version_ / 1000, version_ % 1000 / 100, version_ % 100);
}

std::string NcclLibrary::describe(nccl::ncclResult_t result) const {
  std::string name = nccl::resultName(result);
  const char *text = this->ncclGetErrorString ? this->ncclGetErrorString(result) : nullptr;
  if (!text || !*text)
    return name;
  return fmt::format("{} ({})", name, text);
}

void NcclLibrary::fail(nccl::ncclResult_t result, std::string_view call,
                       std::string_view context, nccl::ncclComm_t comm) const {
  ErrorKind kind =
      result == nccl::ncclInvalidArgument ? ErrorKind::InvalidArgument : ErrorKind::Driver;
  std::string msg = fmt::format("{} failed: {}", call, describe(result));
  if (this->ncclGetLastError) {
    const char *last = this->ncclGetLastError(comm);
    if (last && *last)
      msg += fmt::format(": {}", last);
  }
  if (!context.empty())
    msg += fmt::format(" [{}]", context);
  throw Error(kind, msg);
}

std::string applyNcclEnvironmentDefaults() {
  // overwrite = 0: a value the user chose wins.
  setenv("NCCL_NVLS_ENABLE", "0", 0);
  const char *v = std::getenv("NCCL_NVLS_ENABLE");
  return v ? v : "";
}

//===----------------------------------------------------------------------===//
// NcclCommunicator
//===----------------------------------------------------------------------===//

NcclCommunicator::NcclCommunicator(NcclLibrary &lib, nccl::ncclComm_t comm, bool owned)
    : lib_(&lib), comm_(comm), owned_(owned) {}

nccl::ncclUniqueId NcclCommunicator::newUniqueId(NcclLibrary &lib) {
  lib.requireAvailable();
  applyNcclEnvironmentDefaults();
  nccl::ncclUniqueId id{};
  lib.check(lib.ncclGetUniqueId(&id), "ncclGetUniqueId");
  return id;
}

NcclCommunicator NcclCommunicator::create(const nccl::ncclUniqueId &id, int worldSize, int rank,
                                          NcclLibrary &lib) {
  if (worldSize < 1)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("NCCL communicator: world size {} must be at least 1", worldSize));
  if (rank < 0 || rank >= worldSize)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("NCCL communicator: rank {} is outside [0, {}) for world size {}",
                            rank, worldSize, worldSize));
  lib.requireAvailable();
  applyNcclEnvironmentDefaults();
  nccl::ncclComm_t comm = nullptr;
  lib.check(lib.ncclCommInitRank(&comm, worldSize, id, rank), "ncclCommInitRank",
            fmt::format("rank {} of {}", rank, worldSize));
  NcclCommunicator c(lib, comm, /*owned=*/true);
  c.worldSize_ = worldSize;
  c.rank_ = rank;
  return c;
}

NcclCommunicator NcclCommunicator::adopt(nccl::ncclComm_t comm, NcclLibrary &lib) {
  if (!comm)
    throw Error(ErrorKind::InvalidArgument, "NCCL communicator: the adopted ncclComm_t is null");
  lib.requireAvailable();
  NcclCommunicator c(lib, comm, /*owned=*/false);
  lib.check(lib.ncclCommCount(comm, &c.worldSize_), "ncclCommCount", "adopted communicator",
            comm);
  lib.check(lib.ncclCommUserRank(comm, &c.rank_), "ncclCommUserRank", "adopted communicator",
            comm);
  return c;
}

NcclCommunicator::NcclCommunicator(NcclCommunicator &&other) noexcept
    : lib_(other.lib_), comm_(std::exchange(other.comm_, nullptr)),
      owned_(std::exchange(other.owned_, false)), worldSize_(other.worldSize_),
      rank_(other.rank_) {}

NcclCommunicator &NcclCommunicator::operator=(NcclCommunicator &&other) noexcept {
  if (this != &other) {
    release();
    lib_ = other.lib_;
    comm_ = std::exchange(other.comm_, nullptr);
    owned_ = std::exchange(other.owned_, false);
    worldSize_ = other.worldSize_;
    rank_ = other.rank_;
  }
  return *this;
}

NcclCommunicator::~NcclCommunicator() { release(); }

void NcclCommunicator::release() noexcept {
  if (comm_ && owned_) {
    nccl::ncclResult_t r = lib_->ncclCommDestroy(comm_);
    if (r != nccl::ncclSuccess)
      logger().warn("ncclCommDestroy failed: {} (rank {} of {})", lib_->describe(r), rank_,
                    worldSize_);
  }
  comm_ = nullptr;
  owned_ = false;
}

} // namespace attnjit

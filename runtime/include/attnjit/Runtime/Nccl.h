//===- Nccl.h - NCCL, loaded with dlopen -------------------------*- C++ -*-===//
//
// Part of attnjit. Sequence parallelism (docs/SEQUENCE_PARALLEL.md) moves q, k,
// v and outputs between GPUs with NCCL. attnjit_runtime does not link NCCL and
// needs no nccl.h to build: it opens libnccl.so.2 at run time, like the CUDA
// driver (Driver.h), and resolves the entry points it uses through the symbol
// table below (model: IREE's nccl_dynamic_symbols.h). The few NCCL types those
// entry points take are declared here with NCCL's documented layouts and enum
// values (nccl.h of NCCL 2.x, stable since 2.0). Every NCCL call goes through
// NcclLibrary::check, whose error names the call, the ncclResult_t and NCCL's
// own description of it.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_NCCL_H
#define ATTNJIT_RUNTIME_NCCL_H

#include "attnjit/Runtime/Error.h"

#include <cuda.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace attnjit {
namespace nccl {

//===----------------------------------------------------------------------===//
// NCCL's ABI, declared without nccl.h
//===----------------------------------------------------------------------===//

/// ncclComm_t: an opaque pointer owned by NCCL.
struct ncclComm;
using ncclComm_t = ncclComm *;

/// NCCL_UNIQUE_ID_BYTES.
inline constexpr size_t kUniqueIdBytes = 128;
/// ncclUniqueId: 128 opaque bytes that rank 0 makes with ncclGetUniqueId and the
/// application hands to every rank (MPI, a file, a TCP store); passed by value.
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};
static_assert(sizeof(ncclUniqueId) == kUniqueIdBytes, "NCCL's unique id is 128 bytes");

/// ncclResult_t, NCCL's values.
enum ncclResult_t : int {
  ncclSuccess = 0,
  ncclUnhandledCudaError = 1,
  ncclSystemError = 2,
  ncclInternalError = 3,
  ncclInvalidArgument = 4,
  ncclInvalidUsage = 5,
  ncclRemoteError = 6,
  ncclInProgress = 7,
};

/// ncclDataType_t, NCCL's values (ncclBfloat16 since NCCL 2.10 with CUDA 11).
enum ncclDataType_t : int {
  ncclInt8 = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclUint32 = 3,
  ncclInt64 = 4,
  ncclUint64 = 5,
  ncclFloat16 = 6,
  ncclFloat32 = 7,
  ncclFloat64 = 8,
  ncclBfloat16 = 9,
};

/// The result's enumerator name ("ncclInvalidUsage"), or "ncclResult_t <n>".
std::string resultName(ncclResult_t result);

/// Prototypes of the entry points (nccl.h; cudaStream_t is CUstream).
using PfnGetVersion = ncclResult_t (*)(int *version);
using PfnGetUniqueId = ncclResult_t (*)(ncclUniqueId *uniqueId);
using PfnCommInitRank = ncclResult_t (*)(ncclComm_t *comm, int nranks, ncclUniqueId commId,
                                         int rank);
using PfnCommDestroy = ncclResult_t (*)(ncclComm_t comm);
using PfnCommCount = ncclResult_t (*)(const ncclComm_t comm, int *count);
using PfnCommUserRank = ncclResult_t (*)(const ncclComm_t comm, int *rank);
using PfnGroupStart = ncclResult_t (*)();
using PfnGroupEnd = ncclResult_t (*)();
using PfnSend = ncclResult_t (*)(const void *sendbuff, size_t count, ncclDataType_t datatype,
                                 int peer, ncclComm_t comm, CUstream stream);
using PfnRecv = ncclResult_t (*)(void *recvbuff, size_t count, ncclDataType_t datatype, int peer,
                                 ncclComm_t comm, CUstream stream);
using PfnAllGather = ncclResult_t (*)(const void *sendbuff, void *recvbuff, size_t sendcount,
                                      ncclDataType_t datatype, ncclComm_t comm, CUstream stream);
using PfnGetErrorString = const char *(*)(ncclResult_t result);
using PfnGetLastError = const char *(*)(ncclComm_t comm);

} // namespace nccl

//===----------------------------------------------------------------------===//
// Symbol table
//===----------------------------------------------------------------------===//

/// Every NCCL entry point attnjit uses, as REQUIRED/OPTIONAL(member, "symbol",
/// prototype). NCCL has no all-to-all: it is ncclSend/ncclRecv to every peer
/// between ncclGroupStart and ncclGroupEnd. ncclGetLastError (NCCL 2.13) adds
/// detail to errors when present.
#define ATTNJIT_NCCL_SYMBOLS(REQUIRED, OPTIONAL)                                                   \
  REQUIRED(ncclGetVersion, "ncclGetVersion", PfnGetVersion)                                        \
  REQUIRED(ncclGetErrorString, "ncclGetErrorString", PfnGetErrorString)                            \
  REQUIRED(ncclGetUniqueId, "ncclGetUniqueId", PfnGetUniqueId)                                     \
  REQUIRED(ncclCommInitRank, "ncclCommInitRank", PfnCommInitRank)                                  \
  REQUIRED(ncclCommDestroy, "ncclCommDestroy", PfnCommDestroy)                                     \
  REQUIRED(ncclCommCount, "ncclCommCount", PfnCommCount)                                           \
  REQUIRED(ncclCommUserRank, "ncclCommUserRank", PfnCommUserRank)                                  \
  REQUIRED(ncclGroupStart, "ncclGroupStart", PfnGroupStart)                                        \
  REQUIRED(ncclGroupEnd, "ncclGroupEnd", PfnGroupEnd)                                              \
  REQUIRED(ncclSend, "ncclSend", PfnSend)                                                          \
  REQUIRED(ncclRecv, "ncclRecv", PfnRecv)                                                          \
  REQUIRED(ncclAllGather, "ncclAllGather", PfnAllGather)                                           \
  OPTIONAL(ncclGetLastError, "ncclGetLastError", PfnGetLastError)

//===----------------------------------------------------------------------===//
// NcclLibrary
//===----------------------------------------------------------------------===//

/// The process's NCCL. Loading never throws: when libnccl.so.2 is missing or
/// lacks a required symbol, available() is false and unavailableReason() says
/// why (with dlopen's message); requireAvailable() turns that into an
/// ErrorKind::Unsupported error, since sequence parallelism is then the one
/// thing that cannot be served. Function pointers are members named like the
/// NCCL functions: `lib.ncclCommCount(comm, &n)`.
class NcclLibrary {
public:
  /// The NCCL of this process, loaded on first use from ATTNJIT_NCCL_PATH when
  /// set, else "libnccl.so.2" (found through the loader's search path; with
  /// PyTorch, site-packages/nvidia/nccl/lib holds one).
  static NcclLibrary &get();
  /// Loads a separate instance from `libraryPath` (tests); never null.
  static std::unique_ptr<NcclLibrary> loadFrom(const std::string &libraryPath);

  ~NcclLibrary();
  NcclLibrary(const NcclLibrary &) = delete;
  NcclLibrary &operator=(const NcclLibrary &) = delete;

  bool available() const { return available_; }
  const std::string &unavailableReason() const { return reason_; }
  /// Throws ErrorKind::Unsupported naming unavailableReason() when unavailable.
  void requireAvailable() const;
  /// ncclGetVersion's code (e.g. 22703 for 2.27.3), 0 when unavailable.
  int version() const { return version_; }
  /// "2.27.3", or "unknown" when unavailable.
  std::string versionString() const;
  const std::string &libraryPath() const { return path_; }

  /// "ncclInvalidUsage (invalid usage)": the name and NCCL's own string.
  std::string describe(nccl::ncclResult_t result) const;
  /// Returns when `result` is ncclSuccess, else throws (see fail()).
  void check(nccl::ncclResult_t result, std::string_view call, std::string_view context = {},
             nccl::ncclComm_t comm = nullptr) const {
    if (result != nccl::ncclSuccess)
      fail(result, call, context, comm);
  }
  /// Throws attnjit::Error "<call> failed: <describe(result)>[: <last error>]
  /// [<context>]": InvalidArgument for ncclInvalidArgument, Driver otherwise.
  /// The last error is ncclGetLastError(comm) where NCCL has it.
  [[noreturn]] void fail(nccl::ncclResult_t result, std::string_view call,
                         std::string_view context = {}, nccl::ncclComm_t comm = nullptr) const;

#define ATTNJIT_NCCL_DECLARE_PFN(name, symbol, pfn) nccl::pfn name = nullptr;
  ATTNJIT_NCCL_SYMBOLS(ATTNJIT_NCCL_DECLARE_PFN, ATTNJIT_NCCL_DECLARE_PFN)
#undef ATTNJIT_NCCL_DECLARE_PFN

private:
  explicit NcclLibrary(std::string libraryPath);
  void load();

  std::string path_;
  void *handle_ = nullptr;
  bool available_ = false;
  std::string reason_;
  int version_ = 0;
};

/// NCCL_NVLS_ENABLE=0 unless the process already set it: NVLink SHARP
/// (multicast) buffers take GPU memory and a multicast object per communicator,
/// multicast is not available on every host (some refuse or hang on it), and the
/// all-to-all, send/recv and all-gather of sequence parallelism do not need it. Called by NcclCommunicator
/// before it makes a communicator, because NCCL reads the variable then.
/// Returns the value in effect afterwards.
std::string applyNcclEnvironmentDefaults();

//===----------------------------------------------------------------------===//
// NcclCommunicator
//===----------------------------------------------------------------------===//

/// One rank's communicator: made from a unique id the application distributes
/// (create) or handed in by the application (adopt, not destroyed here). The
/// CUDA context of the rank's device must be current when create() is called,
/// since NCCL binds the communicator to it.
class NcclCommunicator {
public:
  /// ncclGetUniqueId, on the rank that starts the group (usually rank 0).
  static nccl::ncclUniqueId newUniqueId(NcclLibrary &lib = NcclLibrary::get());
  /// ncclCommInitRank; collective: every rank of the group calls it with the
  /// same id. Throws InvalidArgument for worldSize < 1 or rank outside
  /// [0, worldSize) before calling NCCL, Unsupported without NCCL.
  static NcclCommunicator create(const nccl::ncclUniqueId &id, int worldSize, int rank,
                                 NcclLibrary &lib = NcclLibrary::get());
  /// Wraps the application's communicator (not destroyed by this object);
  /// reads its size and rank. Throws InvalidArgument for a null comm.
  static NcclCommunicator adopt(nccl::ncclComm_t comm, NcclLibrary &lib = NcclLibrary::get());

  NcclCommunicator(NcclCommunicator &&other) noexcept;
  NcclCommunicator &operator=(NcclCommunicator &&other) noexcept;
  NcclCommunicator(const NcclCommunicator &) = delete;
  NcclCommunicator &operator=(const NcclCommunicator &) = delete;
  /// ncclCommDestroy when owned; a failure is logged, not thrown.
  ~NcclCommunicator();

  nccl::ncclComm_t comm() const { return comm_; }
  int worldSize() const { return worldSize_; }
  int rank() const { return rank_; }
  bool owned() const { return owned_; }
  NcclLibrary &library() const { return *lib_; }

private:
  NcclCommunicator(NcclLibrary &lib, nccl::ncclComm_t comm, bool owned);
  void release() noexcept;

  NcclLibrary *lib_;
  nccl::ncclComm_t comm_ = nullptr;
  bool owned_ = false;
  int worldSize_ = 0;
  int rank_ = 0;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_NCCL_H

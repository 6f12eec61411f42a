//===- FakeNccl.cpp - A stand-in libnccl for the loader's CPU tests -------===//
//
// Part of attnjit. Exports the entry points NcclLibrary resolves, with NCCL's
// C prototypes, so that the loader, the checked calls and NcclCommunicator can
// be tested on a machine without NCCL or a GPU. It moves no data: the
// communication calls only count how often they were made. ncclCommInitRank
// rejects ids not made by this library's ncclGetUniqueId (ncclInvalidArgument)
// so that the error path is exercised too.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Nccl.h"

#include <cstring>

using namespace attnjit::nccl;

struct attnjit::nccl::ncclComm {
  int nranks;
  int rank;
};

namespace {
int liveComms = 0;
int sendRecvCalls = 0;
} // namespace

extern "C" {

__attribute__((visibility("default"))) ncclResult_t ncclGetVersion(int *version) {
  if (!version)
    return ncclInvalidArgument;
  *version = 22703;
  return ncclSuccess;
}

__attribute__((visibility("default"))) const char *ncclGetErrorString(ncclResult_t result) {
  switch (result) {
  case ncclSuccess: return "no error";
  case ncclInvalidArgument: return "fake: invalid argument";
  case ncclInvalidUsage: return "fake: invalid usage";
  default: return "fake: other error";
  }
}

__attribute__((visibility("default"))) const char *ncclGetLastError(ncclComm_t) {
  return "fake last error detail";
}

__attribute__((visibility("default"))) ncclResult_t ncclGetUniqueId(ncclUniqueId *id) {
  if (!id)
    return ncclInvalidArgument;
  std::memset(id->internal, 0, sizeof(id->internal));
  std::memcpy(id->internal, "attnjit-fake-nccl", 17);
  id->internal[kUniqueIdBytes - 1] = 0x5a;
  return ncclSuccess;
}

__attribute__((visibility("default"))) ncclResult_t ncclCommInitRank(ncclComm_t *comm, int nranks,
                                                                     ncclUniqueId id, int rank) {
  // The last byte checks that the 128-byte id arrived whole, by value.
  if (!comm || std::memcmp(id.internal, "attnjit-fake-nccl", 17) != 0 ||
      id.internal[kUniqueIdBytes - 1] != 0x5a)
    return ncclInvalidArgument;
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return ncclInvalidArgument;
  *comm = new ncclComm{nranks, rank};
  ++liveComms;
  return ncclSuccess;
}

__attribute__((visibility("default"))) ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  if (!comm)
    return ncclInvalidArgument;
  delete comm;
  --liveComms;
  return ncclSuccess;
}

__attribute__((visibility("default"))) ncclResult_t ncclCommCount(const ncclComm_t comm,
                                                                  int *count) {
  if (!comm || !count)
    return ncclInvalidArgument;
  *count = comm->nranks;
  return ncclSuccess;
}

__attribute__((visibility("default"))) ncclResult_t ncclCommUserRank(const ncclComm_t comm,
                                                                     int *rank) {
  if (!comm || !rank)
    return ncclInvalidArgument;
  *rank = comm->rank;
  return ncclSuccess;
}

__attribute__((visibility("default"))) ncclResult_t ncclGroupStart() { return ncclSuccess; }
__attribute__((visibility("default"))) ncclResult_t ncclGroupEnd() { return ncclSuccess; }

__attribute__((visibility("default"))) ncclResult_t ncclSend(const void *, size_t, ncclDataType_t,
                                                             int, ncclComm_t, CUstream) {
  ++sendRecvCalls;
  return ncclInvalidUsage;
}

__attribute__((visibility("default"))) ncclResult_t ncclRecv(void *, size_t, ncclDataType_t, int,
                                                             ncclComm_t, CUstream) {
  ++sendRecvCalls;
  return ncclInvalidUsage;
}

__attribute__((visibility("default"))) ncclResult_t ncclAllGather(const void *, void *, size_t,
                                                                  ncclDataType_t, ncclComm_t,
                                                                  CUstream) {
  return ncclInvalidUsage;
}

/// Test hook, not an NCCL symbol: communicators made and not yet destroyed.
__attribute__((visibility("default"))) int attnjitFakeNcclLiveComms() { return liveComms; }

} // extern "C"

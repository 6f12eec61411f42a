//===- NcclGpuTest.cpp - The real NCCL through NcclLibrary on one GPU ------===//
//
// Part of attnjit. Checks the ABI that Nccl.h declares without nccl.h against
// the NCCL of the GPU host (ATTNJIT_NCCL_PATH, e.g. PyTorch's nvidia-nccl
// wheel; scripts/gpu-host-run.sh finds it): a communicator of world size 1
// made from a unique id passed by value, the Ulysses plan's all-to-all as
// grouped ncclSend/ncclRecv to self with bf16 counts, an all-gather, and a
// checked error. One GPU cannot hold a group of two ranks (NCCL refuses a
// device twice), so exchanges between ranks wait for multi-GPU hosts.
// Without NCCL the tests warn and pass unless ATTNJIT_REQUIRE_NCCL=1.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "GpuTestUtil.h"

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Nccl.h"
#include "attnjit/Runtime/SequenceParallel.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {
/// NCCL, or null after a warning (a failure with ATTNJIT_REQUIRE_NCCL=1).
NcclLibrary *ncclOrSkip() {
  NcclLibrary &lib = NcclLibrary::get();
  if (lib.available())
    return &lib;
  const char *req = std::getenv("ATTNJIT_REQUIRE_NCCL");
  if (req && std::strcmp(req, "1") == 0)
    FAIL("ATTNJIT_REQUIRE_NCCL=1 but " << lib.unavailableReason());
  WARN("skipped: " << lib.unavailableReason());
  return nullptr;
}

std::vector<uint8_t> pattern(size_t bytes, unsigned seed) {
  std::vector<uint8_t> v(bytes);
  for (size_t i = 0; i < bytes; ++i)
    v[i] = static_cast<uint8_t>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return v;
}
} // namespace

TEST_CASE("nccl: a world of one runs the Ulysses all-to-all and an all-gather",
          "[gpu][nccl]") {
  NcclLibrary *lib = ncclOrSkip();
  if (!lib)
    return;
  INFO("NCCL " << lib->versionString() << " from " << lib->libraryPath());
  CHECK(lib->version() >= 20700);
  NcclCommunicator comm = NcclCommunicator::create(NcclCommunicator::newUniqueId(*lib), 1, 0, *lib);
  CHECK(comm.worldSize() == 1);
  CHECK(comm.rank() == 0);
  CHECK(std::string(std::getenv("NCCL_NVLS_ENABLE")) == "0");
  // The adopted view of the same communicator reads its size and rank back.
  NcclCommunicator view = NcclCommunicator::adopt(comm.comm(), *lib);
  CHECK(view.worldSize() == 1);
  CHECK(view.rank() == 0);

  UlyssesShape s;
  s.batch = 2, s.seqLen = 37, s.heads = 4, s.headDim = 64, s.worldSize = 1, s.elementBytes = 2;
  UlyssesPlan plan = planUlysses(s);
  const UlyssesRankPlan &rp = plan.ranks[0];
  REQUIRE(rp.forwardSendBytes == 2u * 37 * 4 * 64 * 2);
  std::vector<uint8_t> host = pattern(rp.forwardSendBytes, 3);
  DeviceBuffer send(rp.forwardSendBytes), recv(rp.forwardRecvBytes);
  send.copyFromHost(host.data(), host.size());
  recv.fill(0xee);
  Stream stream;
  auto at = [](const DeviceBuffer &b, uint64_t offset) {
    return static_cast<char *>(b.data()) + offset;
  };
  lib->check(lib->ncclGroupStart(), "ncclGroupStart");
  for (int q = 0; q < 1; ++q) {
    const PeerTransfer &out = rp.forwardSend[static_cast<size_t>(q)];
    const PeerTransfer &in = rp.forwardRecv[static_cast<size_t>(q)];
    lib->check(lib->ncclSend(at(send, out.offsetBytes), out.count, nccl::ncclBfloat16, out.peer,
                             comm.comm(), stream),
               "ncclSend", "Ulysses forward", comm.comm());
    lib->check(lib->ncclRecv(at(recv, in.offsetBytes), in.count, nccl::ncclBfloat16, in.peer,
                             comm.comm(), stream),
               "ncclRecv", "Ulysses forward", comm.comm());
  }
  lib->check(lib->ncclGroupEnd(), "ncclGroupEnd", "Ulysses forward", comm.comm());
  stream.sync();
  std::vector<uint8_t> back(rp.forwardRecvBytes);
  recv.copyToHost(back.data(), back.size());
  CHECK(back == host);

  // All-gather of float32 elements: with one rank the output is the input.
  const size_t n = 1000;
  std::vector<uint8_t> g = pattern(n * 4, 5);
  DeviceBuffer gin(n * 4), gout(n * 4);
  gin.copyFromHost(g.data(), g.size());
  gout.fill(0);
  lib->check(lib->ncclAllGather(gin.data(), gout.data(), n, nccl::ncclFloat32, comm.comm(), stream),
             "ncclAllGather", {}, comm.comm());
  stream.sync();
  std::vector<uint8_t> gback(n * 4);
  gout.copyToHost(gback.data(), gback.size());
  CHECK(gback == g);
}

TEST_CASE("nccl: a send to a peer outside the world is a checked error", "[gpu][nccl]") {
  NcclLibrary *lib = ncclOrSkip();
  if (!lib)
    return;
  NcclCommunicator comm = NcclCommunicator::create(NcclCommunicator::newUniqueId(*lib), 1, 0, *lib);
  DeviceBuffer buf(256);
  Stream stream;
  try {
    lib->check(lib->ncclSend(buf.data(), 64, nccl::ncclBfloat16, 1, comm.comm(), stream),
               "ncclSend", "peer 1 of a world of 1", comm.comm());
    FAIL("ncclSend to peer 1 of 1 did not fail");
  } catch (const Error &e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()).rfind("ncclSend failed: ncclInvalidArgument", 0) == 0);
    CHECK(std::string(e.what()).find("[peer 1 of a world of 1]") != std::string::npos);
  }
}

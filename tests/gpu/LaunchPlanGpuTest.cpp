//===- LaunchPlanGpuTest.cpp - Multi-kernel plans, tensor maps, clusters --===//
//
// Part of attnjit. A test-only two-kernel plan in one PTX module, served for a
// Sage spec (no Sage recipe exists yet, so no ABI table constrains it): kernel
// 0 takes a CUtensorMap by value and copies its 128 bytes out, kernel 1 runs
// as a persistent grid of 2-CTA clusters and reports its cluster rank. Both
// write into the runtime workspace. This checks, on the device, what the CPU
// tests can only check on the host: the by-value tensor map reaches the
// kernel intact through cuLaunchKernelEx, the cluster attribute is applied,
// plan kernels launch in order, and the workspace refuses to grow during a
// graph capture.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "GpuTestUtil.h"

#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/KernelParams.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <cstring>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

/// Kernel 0: block 0 thread 0 writes the 16 words of p_map, then p_tag, at
/// p_out. Kernel 1: thread 0 of each block writes (cluster rank, CTAs per
/// cluster, tag read from p_out + 128) as three u32 at p_out + 256 + 16 * block;
/// reading the tag checks that kernel 0 ran first.
const char *kPlanPtx = R"PTX(
.version 7.8
.target sm_90
.address_size 64

.visible .entry attnjit_test_tmap_probe(
    .param .align 64 .b8 p_map[128], .param .u64 p_out, .param .u32 p_tag)
{
    .reg .pred %p<2>;
    .reg .b32 %r<4>;
    .reg .b64 %rd<8>;
    mov.u32 %r1, %tid.x;
    mov.u32 %r2, %ctaid.x;
    or.b32 %r1, %r1, %r2;
    setp.ne.u32 %p1, %r1, 0;
    @%p1 bra DONE;
    ld.param.u64 %rd1, [p_out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.param.u64 %rd2, [p_map+0];   st.global.u64 [%rd1+0], %rd2;
    ld.param.u64 %rd2, [p_map+8];   st.global.u64 [%rd1+8], %rd2;
    ld.param.u64 %rd2, [p_map+16];  st.global.u64 [%rd1+16], %rd2;
    ld.param.u64 %rd2, [p_map+24];  st.global.u64 [%rd1+24], %rd2;
    ld.param.u64 %rd2, [p_map+32];  st.global.u64 [%rd1+32], %rd2;
    ld.param.u64 %rd2, [p_map+40];  st.global.u64 [%rd1+40], %rd2;
    ld.param.u64 %rd2, [p_map+48];  st.global.u64 [%rd1+48], %rd2;
    ld.param.u64 %rd2, [p_map+56];  st.global.u64 [%rd1+56], %rd2;
    ld.param.u64 %rd2, [p_map+64];  st.global.u64 [%rd1+64], %rd2;
    ld.param.u64 %rd2, [p_map+72];  st.global.u64 [%rd1+72], %rd2;
    ld.param.u64 %rd2, [p_map+80];  st.global.u64 [%rd1+80], %rd2;
    ld.param.u64 %rd2, [p_map+88];  st.global.u64 [%rd1+88], %rd2;
    ld.param.u64 %rd2, [p_map+96];  st.global.u64 [%rd1+96], %rd2;
    ld.param.u64 %rd2, [p_map+104]; st.global.u64 [%rd1+104], %rd2;
    ld.param.u64 %rd2, [p_map+112]; st.global.u64 [%rd1+112], %rd2;
    ld.param.u64 %rd2, [p_map+120]; st.global.u64 [%rd1+120], %rd2;
    ld.param.u32 %r3, [p_tag];
    st.global.u32 [%rd1+128], %r3;
DONE:
    ret;
}

.visible .entry attnjit_test_cluster_probe(.param .u64 p_out)
{
    .reg .pred %p<2>;
    .reg .b32 %r<8>;
    .reg .b64 %rd<4>;
    mov.u32 %r1, %tid.x;
    setp.ne.u32 %p1, %r1, 0;
    @%p1 bra DONE;
    ld.param.u64 %rd1, [p_out];
    cvta.to.global.u64 %rd1, %rd1;
    ld.global.u32 %r5, [%rd1+128];
    mov.u32 %r2, %ctaid.x;
    mul.wide.u32 %rd2, %r2, 16;
    add.u64 %rd2, %rd2, 256;
    add.u64 %rd1, %rd1, %rd2;
    mov.u32 %r3, %cluster_ctarank;
    mov.u32 %r4, %cluster_nctarank;
    st.global.u32 [%rd1+0], %r3;
    st.global.u32 [%rd1+4], %r4;
    st.global.u32 [%rd1+8], %r5;
DONE:
    ret;
}
)PTX";

constexpr int kPlanStages = 98; // the flash probe in main.cpp serves 97

struct PlanProvider : KernelProvider {
  std::string name() const override { return "test-plan"; }
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override {
    if (spec.config.stages != kPlanStages)
      return nullptr;
    auto k = std::make_shared<CompiledKernel>();
    k->spec = spec;
    k->ptx = kPlanPtx;
    KernelLaunchInfo tmap;
    tmap.entryName = "attnjit_test_tmap_probe";
    tmap.threadsPerBlock = 32;
    tmap.blockRows = 64;
    tmap.params = {ParamKind::TensorMap, ParamKind::Ptr, ParamKind::I32};
    KernelLaunchInfo cluster;
    cluster.entryName = "attnjit_test_cluster_probe";
    cluster.threadsPerBlock = 32;
    cluster.grid = GridPolicy::Persistent;
    cluster.ctasPerSm = 1;
    cluster.cluster = ClusterShape{2, 1, 1};
    cluster.params = {ParamKind::Ptr};
    k->plan.kernels = {tmap, cluster};
    k->plan.workspace.fixedBytes = 256;
    k->plan.workspace.perLaunch = true;
    return k;
  }
};

struct PlanScope {
  std::shared_ptr<PlanProvider> provider = std::make_shared<PlanProvider>();
  PlanScope() { KernelRuntime::instance().addProvider(provider, -1001); }
  ~PlanScope() { KernelRuntime::instance().removeProvider(provider); }
};

AttentionSpec planSpec() {
  AttentionSpec s;
  s.variant = Variant::Sage;
  s.headDim = 64;
  s.dtype = DType::BF16;
  s.config = {64, 64, 4, kPlanStages};
  return s;
}

} // namespace

TEST_CASE("a two-kernel plan: by-value tensor map, cluster launch, workspace",
          "[gpu][runtime][plan]") {
  const DeviceInfo &info = deviceInfo(0);
  if (info.computeCapability < 90) {
    WARN("skipped: tensor maps and clusters need sm_90, device 0 is " << info.arch);
    return;
  }
  PlanScope scope;
  KernelRuntime &rt = KernelRuntime::instance();
  Stream stream;
  const LoadedKernel &lk = rt.getKernel(planSpec(), stream, 0);
  REQUIRE(lk.functions.size() == 2);

  // Workspace: the fixed 256 bytes plus the per-launch block reports.
  uint64_t perLaunch = 16 * uint64_t(info.smCount);
  CUdeviceptr ws = rt.workspace(lk, perLaunch, stream);
  REQUIRE(ws != 0);
  CHECK(rt.workspace(lk, perLaunch, stream) == ws); // big enough: same buffer
  CHECK(rt.workspaceBytes(lk.context, stream) >= 256 + perLaunch);
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemsetD8(ws, 0xFF, 256 + perLaunch), "cuMemsetD8");
  // The memset may still run when the kernels start on a non-blocking stream.
  drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize");

  DeviceBuffer tensor(64 * 128 * 2);
  TiledTensorMapDesc d;
  d.dataType = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  d.rank = 2;
  d.globalAddress = tensor.data();
  d.globalDim[0] = 128;
  d.globalDim[1] = 64;
  d.globalStrides[0] = 128 * 2;
  d.boxDim[0] = 64;
  d.boxDim[1] = 64;
  d.swizzle = CU_TENSOR_MAP_SWIZZLE_128B;
  CUtensorMap map = encodeTiledTensorMap(d, "probe");

  KernelParamPack p0(lk.kernel->plan.kernels[0]);
  p0.setTensorMap(0, map);
  p0.setPtr(1, reinterpret_cast<void *>(static_cast<uintptr_t>(ws)));
  p0.setI32(2, 0x5a5a1234);
  KernelParamPack p1(lk.kernel->plan.kernels[1]);
  p1.setPtr(0, reinterpret_cast<void *>(static_cast<uintptr_t>(ws)));
  rt.launch(lk, 0, p0, LaunchDims{64, 1, 1}, stream);
  rt.launch(lk, 1, p1, LaunchDims{64, 1, 1}, stream);
  stream.sync();

  std::vector<uint8_t> host(256 + perLaunch);
  drv.check(drv.cuMemcpyDtoH(host.data(), ws, host.size()), "cuMemcpyDtoH");
  CHECK(std::memcmp(host.data(), &map, 128) == 0);
  uint32_t tag;
  std::memcpy(&tag, host.data() + 128, 4);
  CHECK(tag == 0x5a5a1234);
  unsigned blocks = unsigned(info.smCount) / 2 * 2;
  for (unsigned b = 0; b < blocks; ++b) {
    uint32_t w[3];
    std::memcpy(w, host.data() + 256 + 16 * b, 12);
    INFO("block " << b);
    CHECK(w[0] == b % 2); // cluster rank
    CHECK(w[1] == 2);     // CTAs per cluster
    CHECK(w[2] == 0x5a5a1234);
  }
  if (blocks < unsigned(info.smCount)) {
    uint32_t past;
    std::memcpy(&past, host.data() + 256 + 16 * blocks, 4);
    CHECK(past == kPoison32); // rounded down to whole clusters
  }

  // During a capture the workspace cannot grow: a clear error, no launch, and
  // the capture is still valid. Reserved beforehand, it serves the capture.
  CUgraph graph = nullptr;
  drv.check(drv.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            "cuStreamBeginCapture");
  uint64_t big = rt.workspaceBytes(lk.context, stream) * 4;
  try {
    rt.workspace(lk, big, stream);
    FAIL("the workspace grew during a capture");
  } catch (const Error &e) {
    INFO(e.what());
    CHECK(e.kind() == ErrorKind::InvalidArgument);
    CHECK(std::string(e.what()).find("reserveWorkspace") != std::string::npos);
  }
  drv.check(drv.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
  REQUIRE(graph != nullptr);
  drv.cuGraphDestroy(graph);
  rt.reserveWorkspace(stream, 256 + big);
  drv.check(drv.cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL),
            "cuStreamBeginCapture");
  CUdeviceptr captured = rt.workspace(lk, big, stream);
  drv.check(drv.cuStreamEndCapture(stream, &graph), "cuStreamEndCapture");
  drv.cuGraphDestroy(graph);
  CHECK(captured != 0);
  CHECK(rt.workspaceBytes(lk.context, stream) >= 256 + big);
  rt.releaseWorkspaces();
  CHECK(rt.workspaceBytes(lk.context, stream) == 0);
}

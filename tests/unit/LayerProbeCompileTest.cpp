//===- LayerProbeCompileTest.cpp - The sm_90a probes compile to PTX -------===//
//
// Part of attnjit. The instruction-layer probes run on a GPU in
// tests/gpu/InstructionLayerTest.cpp; here (no GPU) each must lower to PTX
// holding the instructions it exists to prove, with the by-value tensor maps
// as 64-byte-aligned 128-byte parameters.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Compiler/LayerProbes.h"
#include "attnjit/Runtime/Error.h"

#include <string>

using namespace attnjit;

TEST_CASE("layer probes compile to PTX with their instructions", "[compile][layer]") {
  for (const std::string &name : layerProbeNames()) {
    INFO(name);
    ProbeKernel k = compileLayerProbe(name, "sm_90a");
    REQUIRE(k.plan.kernels.size() == 1);
    CHECK(k.plan.validate().empty());
    const std::string &ptx = k.ptx;
    size_t entry = ptx.find(".entry");
    INFO("entry: " << (entry == std::string::npos ? ptx.substr(0, 400) : ptx.substr(entry, 400)));
    CHECK(ptx.find(".target sm_90a") != std::string::npos);
    if (name == "mma_sync_s8" || name == "mma_sync_e4m3") {
      CHECK(ptx.find(name == "mma_sync_s8" ? "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32"
                                           : "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32") !=
            std::string::npos);
      continue;
    }
    if (name == "cluster_rank") {
      CHECK(ptx.find("%cluster_ctarank") != std::string::npos);
      CHECK(ptx.find("%cluster_nctarank") != std::string::npos);
      continue;
    }
    CHECK(ptx.find(".param .align 64 .b8 " + k.plan.kernels[0].entryName + "_param_0[128]") !=
          std::string::npos);
    if (name == "tensormap_echo")
      continue;
    CHECK(ptx.find("cp.async.bulk.tensor.2d") != std::string::npos);
    CHECK(ptx.find("mbarrier.init") != std::string::npos);
    CHECK(ptx.find("mbarrier.try_wait.parity") != std::string::npos);
    if (name == "tma_roundtrip") {
      CHECK(ptx.find("cp.async.bulk.commit_group") != std::string::npos);
    } else {
      CHECK(ptx.find("wgmma.fence") != std::string::npos);
      CHECK(ptx.find("wgmma.commit_group") != std::string::npos);
      const char *shape = name == "wgmma_f16"    ? "wgmma.mma_async.sync.aligned.m64n64k16.f32.f16.f16"
                          : name == "wgmma_bf16" ? "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16"
                          : name == "wgmma_s8"   ? "wgmma.mma_async.sync.aligned.m64n64k32.s32.s8.s8"
                                                 : "wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3";
      CHECK(ptx.find(shape) != std::string::npos);
    }
  }
  CHECK_THROWS_AS(compileLayerProbe("tma_sideways", "sm_90a"), Error);
  CHECK_THROWS_AS(compileLayerProbes({"cluster_rank", "cluster_rank"}, "sm_90a"), Error);
  // Several probes share one module, one plan kernel each, in order.
  ProbeKernel two = compileLayerProbes({"tensormap_echo", "cluster_rank"}, "sm_90a");
  REQUIRE(two.plan.kernels.size() == 2);
  CHECK(two.plan.kernels[0].entryName == "attnjit_probe_tensormap_echo");
  CHECK(two.plan.kernels[1].entryName == "attnjit_probe_cluster_rank");
  CHECK(two.ptx.find(".entry attnjit_probe_cluster_rank") != std::string::npos);
}

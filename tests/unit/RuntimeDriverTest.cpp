//===- RuntimeDriverTest.cpp - Driver loading and the runtime without a GPU -===//
//
// Part of attnjit. These run everywhere: on a host without libcuda they check
// that the failure is reported, not crashed on; with a driver they check only
// what holds either way.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/BuildInfo.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <algorithm>
#include <string>

using namespace attnjit;

TEST_CASE("CudaDriver: a missing library is reported, not crashed on", "[runtime][driver]") {
  auto drv = CudaDriver::loadFrom("/nonexistent/attnjit-test/libcuda.so.1");
  REQUIRE(drv);
  CHECK_FALSE(drv->available());
  CHECK(drv->unavailableReason().find("/nonexistent/attnjit-test/libcuda.so.1") !=
        std::string::npos);
  CHECK(drv->cuInit == nullptr);
  try {
    drv->requireAvailable();
    FAIL("requireAvailable did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::NoDevice);
    CHECK(std::string(e.what()).find("no usable CUDA driver") != std::string::npos);
  }
  CHECK_THROWS_AS(drv->deviceCount(), Error);
  // Without cuGetErrorName the code is still printed.
  CHECK(drv->describe(CUDA_ERROR_INVALID_PTX) == "CUresult 218");
}

TEST_CASE("CudaDriver: a library without the driver API is reported", "[runtime][driver]") {
  auto drv = CudaDriver::loadFrom("libc.so.6");
  CHECK_FALSE(drv->available());
  CHECK(drv->unavailableReason().find("lacks required entry points") != std::string::npos);
  CHECK(drv->unavailableReason().find("cuInit") != std::string::npos);
}

TEST_CASE("CudaDriver: the process driver never crashes", "[runtime][driver]") {
  CudaDriver &drv = CudaDriver::get();
  if (drv.available()) {
    CHECK(drv.unavailableReason().empty());
    CHECK(drv.driverVersion() > 0);
    CHECK(drv.describe(CUDA_ERROR_INVALID_PTX).find("CUDA_ERROR_INVALID_PTX") == 0);
  } else {
    WARN("no CUDA driver here: " << drv.unavailableReason());
    CHECK_FALSE(drv.unavailableReason().empty());
    CHECK_THROWS_AS(drv.requireAvailable(), Error);
  }
}

TEST_CASE("CudaDriver: check() formats call, result and context", "[runtime][driver]") {
  CudaDriver &drv = CudaDriver::get();
  CHECK_NOTHROW(drv.check(CUDA_SUCCESS, "cuNothing"));
  try {
    drv.check(CUDA_ERROR_INVALID_PTX, "cuModuleLoadDataEx", "kernel attnjit_flash_d128_bf16_sm90a");
    FAIL("check did not throw");
  } catch (const Error &e) {
    std::string msg = e.what();
    CHECK(e.kind() == ErrorKind::Driver);
    CHECK(msg.rfind("cuModuleLoadDataEx failed: ", 0) == 0);
    CHECK(msg.find("[kernel attnjit_flash_d128_bf16_sm90a]") != std::string::npos);
    if (drv.available())
      CHECK(msg.find("CUDA_ERROR_INVALID_PTX") != std::string::npos);
    else
      CHECK(msg.find("218") != std::string::npos);
  }
  try {
    drv.check(CUDA_ERROR_NO_DEVICE, "cuDeviceGet");
    FAIL("check did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::NoDevice);
  }
}

TEST_CASE("archForComputeCapability", "[runtime][driver]") {
  CHECK(archForComputeCapability(8, 0) == "sm_80");
  CHECK(archForComputeCapability(8, 6) == "sm_86");
  CHECK(archForComputeCapability(8, 9) == "sm_89");
  CHECK(archForComputeCapability(9, 0) == "sm_90a");
  CHECK(archForComputeCapability(10, 0) == "sm_100a");
  CHECK(archForComputeCapability(12, 0) == "sm_120a");
  CHECK(archComputeCapability(archForComputeCapability(8, 6)) == 86);
}

TEST_CASE("runtimeBuildId", "[runtime]") {
  std::string id = runtimeBuildId();
  CHECK(id == std::string(runtimeVersion()) + "+" + runtimeGitHash());
  CHECK(std::string(runtimeVersion()).find('.') != std::string::npos);
  CHECK_FALSE(std::string(runtimeGitHash()).empty());
}

namespace {
struct NamedProvider : KernelProvider {
  std::string n;
  explicit NamedProvider(std::string name) : n(std::move(name)) {}
  std::string name() const override { return n; }
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &) override {
    return nullptr;
  }
};

int installerRuns = 0;
std::shared_ptr<KernelProvider> installedProvider;
void testInstaller(KernelRuntime &rt) {
  ++installerRuns;
  installedProvider = std::make_shared<NamedProvider>("test-installed");
  rt.addProvider(installedProvider, 500);
}
} // namespace

TEST_CASE("KernelRuntime: providers are ordered by priority", "[runtime]") {
  KernelRuntime &rt = KernelRuntime::instance();
  auto jit = std::make_shared<NamedProvider>("test-jit");
  auto disk = std::make_shared<NamedProvider>("test-disk");
  auto bundleA = std::make_shared<NamedProvider>("test-bundle-a");
  auto bundleB = std::make_shared<NamedProvider>("test-bundle-b");
  rt.addProvider(jit, 100);
  rt.addProvider(bundleA, 0);
  rt.addProvider(disk, 10);
  rt.addProvider(bundleB, 0);
  std::vector<std::string> names = rt.providerNames();
  auto pos = [&](const std::string &n) {
    return std::find(names.begin(), names.end(), n) - names.begin();
  };
  CHECK(pos("test-bundle-a") < pos("test-bundle-b")); // equal priority: insertion order
  CHECK(pos("test-bundle-b") < pos("test-disk"));
  CHECK(pos("test-disk") < pos("test-jit"));
  CHECK(rt.removeProvider(jit));
  CHECK_FALSE(rt.removeProvider(jit));
  CHECK(rt.removeProvider(disk));
  CHECK(rt.removeProvider(bundleA));
  CHECK(rt.removeProvider(bundleB));
  names = rt.providerNames();
  CHECK(std::find(names.begin(), names.end(), "test-jit") == names.end());
  CHECK_THROWS_AS(rt.addProvider(nullptr, 0), Error);
}

TEST_CASE("KernelRuntime: an installer registered late runs at once, once", "[runtime]") {
  KernelRuntime &rt = KernelRuntime::instance();
  setDefaultProviderInstaller(&testInstaller);
  CHECK(installerRuns == 1);
  setDefaultProviderInstaller(&testInstaller); // same function: no-op
  CHECK(installerRuns == 1);
  auto names = rt.providerNames();
  CHECK(std::find(names.begin(), names.end(), "test-installed") != names.end());
  CHECK(rt.removeProvider(installedProvider));
}

TEST_CASE("KernelRuntime: no driver means NoDevice", "[runtime]") {
  if (CudaDriver::get().available())
    return; // covered by the GPU tests
  AttentionSpec spec;
  try {
    KernelRuntime::instance().getKernel(spec);
    FAIL("getKernel did not throw");
  } catch (const Error &e) {
    CHECK(e.kind() == ErrorKind::NoDevice);
    CHECK(std::string(e.what()).find("libcuda") != std::string::npos);
  }
}

TEST_CASE("KernelRuntime::loadPlan refuses a plan it could not launch, before any driver call",
          "[runtime]") {
  KernelRuntime &rt = KernelRuntime::instance();
  auto kindAndMessage = [&](std::shared_ptr<const CompiledKernel> k) {
    try {
      rt.loadPlan(std::move(k), nullptr);
    } catch (const Error &e) {
      return std::make_pair(e.kind(), std::string(e.what()));
    }
    return std::make_pair(ErrorKind::Driver, std::string("loadPlan did not throw"));
  };
  auto [nullKind, nullMsg] = kindAndMessage(nullptr);
  CHECK(nullKind == ErrorKind::InvalidArgument);
  CHECK(nullMsg.find("kernel is null") != std::string::npos);

  auto k = std::make_shared<CompiledKernel>();
  k->plan.kernels.resize(1);
  k->plan.kernels[0].entryName = "probe";
  k->plan.kernels[0].threadsPerBlock = 128;
  auto [codeKind, codeMsg] = kindAndMessage(k);
  CHECK(codeKind == ErrorKind::InvalidArgument);
  CHECK(codeMsg.find("neither PTX nor a cubin") != std::string::npos);

  k->ptx = ".version 8.0";
  k->plan.kernels[0].threadsPerBlock = 0;
  auto [planKind, planMsg] = kindAndMessage(k);
  CHECK(planKind == ErrorKind::InvalidArgument);
  CHECK(planMsg.find("loadPlan: kernel") != std::string::npos);
  CHECK(planMsg.find(k->plan.validate()) != std::string::npos);
  CHECK(!k->plan.validate().empty());
}

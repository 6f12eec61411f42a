//===- main.cpp - A runtime-only attnjit application ----------------------===//
//
// Part of attnjit's examples. Links only attnjit::runtime: loads a bundle made
// by attnjit-aot, lists its kernels and, on a GPU host, loads the ones built
// for the device and shows the error for a spec the bundle lacks. Without a
// GPU it says so and exits 0.
//
//   runtime-only-example [kernels.attnpack]
//   embedded-bundle-example            (bundle compiled in by attnjit-aot --emit-cpp)
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/KernelRuntime.h"

#include <cstdio>
#include <memory>

using namespace attnjit;

#ifdef ATTNJIT_EXAMPLE_EMBEDDED_BUNDLE
// From `attnjit-aot --emit-cpp --name example` (built with
// ATTNJIT_BUNDLE_NO_AUTO_REGISTER, so it is registered here explicitly).
std::shared_ptr<attnjit::BundleProvider> attnjit_register_example();
#endif

int main(int argc, char **argv) {
  if (argc > 2) {
    std::fprintf(stderr, "usage: %s [BUNDLE.attnpack]\n", argv[0]);
    return 2;
  }
  std::shared_ptr<BundleProvider> bundle;
  if (argc == 2) {
    try {
      bundle = registerBundle(argv[1]);
    } catch (const Error &e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      return 1;
    }
  } else {
#ifdef ATTNJIT_EXAMPLE_EMBEDDED_BUNDLE
    bundle = attnjit_register_example();
#else
    std::printf("no bundle given: only the providers linked in are available\n");
#endif
  }
  if (bundle) {
    std::printf("bundle %s: %zu kernels, %zu bytes\n", bundle->source().c_str(),
                bundle->kernels().size(), bundle->sizeBytes());
    for (const auto &k : bundle->kernels())
      std::printf("  %-40s %-7s ptx %zu B, cubin %zu B, %d threads, %d B smem\n",
                  k->entryName().c_str(), k->spec.arch.c_str(), k->ptx.size(), k->cubin.size(),
                  k->threadsPerBlock(), k->sharedMemBytes());
  }

  CudaDriver &driver = CudaDriver::get();
  if (!driver.available() || driver.deviceCount() == 0) {
    std::printf("no CUDA device present (%s); nothing to load\n",
                driver.available() ? "0 devices" : driver.unavailableReason().c_str());
    return 0;
  }

  const DeviceInfo &dev = deviceInfo(0);
  std::printf("device 0: %s (%s)\n", dev.name.c_str(), dev.arch.c_str());
  KernelRuntime &rt = KernelRuntime::instance();
  int loaded = 0;
  if (bundle) {
    for (const auto &k : bundle->kernels()) {
      if (k->spec.arch != dev.arch)
        continue;
      try {
        const LoadedKernel &lk = rt.getKernel(k->spec);
        std::printf("  loaded %s from %s\n", k->entryName().c_str(), lk.provider.c_str());
        ++loaded;
      } catch (const Error &e) {
        std::printf("  cannot load %s: %s\n", k->entryName().c_str(), e.what());
      }
    }
  }
  std::printf("%d kernels loaded for %s\n", loaded, dev.arch.c_str());

  // A spec no provider has: a clear NotFound error when no JIT is linked.
  AttentionSpec missing;
  missing.headDim = 96;
  missing.returnLse = true;
  try {
    rt.getKernel(missing);
    std::printf("head_dim 96 with lse: served (a JIT is linked)\n");
  } catch (const Error &e) {
    std::printf("head_dim 96 with lse: %s error: %s\n",
                e.kind() == ErrorKind::NotFound ? "NotFound" : "other", e.what());
  }
  return 0;
}

//===- KernelRuntime.h - Provider chain, module cache and launch -*- C++ -*-===//
//
// Part of attnjit. The process-wide runtime: asks the provider chain (bundles,
// disk cache, JIT) for a kernel, loads it into the caller's CUDA context once,
// caches the CUfunction per (context, spec) and launches it. Hits take only a
// shared lock, so launches from many threads do not serialize on the cache.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_KERNELRUNTIME_H
#define ATTNJIT_RUNTIME_KERNELRUNTIME_H

#include "attnjit/Runtime/AttentionSpec.h"
#include "attnjit/Runtime/CompiledKernel.h"
#include "attnjit/Runtime/FlashKernelABI.h"
#include "attnjit/Runtime/KernelProvider.h"
#include "attnjit/Runtime/SdpaKernelABI.h"

#include <cuda.h>

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace attnjit {

/// A kernel loaded into one CUDA context. Owned by the runtime; references
/// stay valid until clearMemoryCache().
struct LoadedKernel {
  std::shared_ptr<const CompiledKernel> kernel;
  CUmodule module = nullptr;
  CUfunction function = nullptr;
  int device = -1;             ///< device ordinal of `context`
  CUcontext context = nullptr; ///< the context `module` was loaded into
  std::string provider;        ///< name of the provider that supplied it
};

class KernelRuntime;
/// Registered by a library that provides kernels (the compiler library does so
/// from a static initializer): called with the runtime when it is created, to
/// add providers. Must not call KernelRuntime::instance() itself.
using ProviderInstaller = void (*)(KernelRuntime &);

class KernelRuntime {
public:
  /// The process-wide runtime, created on first use; every registered
  /// ProviderInstaller runs once, right after creation. Never destroyed, so
  /// that no module is unloaded after the driver has been torn down at exit.
  static KernelRuntime &instance();

  /// Providers are asked in ascending priority: bundles 0, disk cache 10,
  /// JIT 100. Equal priorities keep insertion order.
  void addProvider(std::shared_ptr<KernelProvider> provider, int priority);
  /// Removes `provider`; false when it was not registered.
  bool removeProvider(const std::shared_ptr<KernelProvider> &provider);
  /// Provider names in the order they are asked.
  std::vector<std::string> providerNames() const;

  /// The loaded kernel for `spec` in the context of `stream`
  /// (streamContext(stream, fallbackDevice); for the null stream the current
  /// context, else the primary context of `fallbackDevice`, made current).
  /// spec.arch is replaced by the device's arch. Cached per (context, spec);
  /// a hit takes a shared lock only. On a miss the providers are asked in
  /// order and the code is loaded with cuModuleLoadDataEx (a cubin when the
  /// provider has one for exactly this arch, else the PTX), with the JIT error
  /// log included in any error. Throws:
  ///  - NoDevice: no driver or device;
  ///  - Unsupported: the spec cannot run on this device (arch, shared memory
  ///    beyond CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, threads
  ///    beyond what the function allows), with both numbers;
  ///  - NotFound: no provider has the kernel (names the spec and providers);
  ///  - Driver: a driver call failed (call, CUresult, kernel, JIT log).
  const LoadedKernel &getKernel(const AttentionSpec &spec, CUstream stream, int fallbackDevice = 0);
  /// getKernel(spec, nullptr, 0): the current context, else device 0's primary
  /// context made current.
  const LoadedKernel &getKernel(const AttentionSpec &spec) { return getKernel(spec, nullptr, 0); }

  /// Launches a flash kernel with grid (ceil(seqlenQ / blockM), numHeads,
  /// batch), block (threadsPerBlock), the kernel's dynamic shared memory, on
  /// `stream`, which must belong to `k.context`. Errors carry the kernel name,
  /// grid, block and shared memory. Does not synchronize.
  void launchFlash(const LoadedKernel &k, FlashLaunchArgs &args, int batch, CUstream stream);
  /// The same for an SDPA kernel (kSdpaParams order).
  void launchSdpa(const LoadedKernel &k, SdpaLaunchArgs &args, int batch, CUstream stream);

  /// Unloads every module and forgets every loaded kernel (for tests; no launch
  /// of a cached kernel may be in flight and no LoadedKernel reference may be
  /// used afterwards). Providers stay registered.
  void clearMemoryCache();
  /// Number of kernels loaded (all contexts).
  size_t memoryCacheSize() const;

private:
  KernelRuntime() = default;
  KernelRuntime(const KernelRuntime &) = delete;
  KernelRuntime &operator=(const KernelRuntime &) = delete;

  struct Key {
    CUcontext context;
    std::string spec; ///< canonical() with the arch cleared (the context fixes it)
    bool operator==(const Key &o) const { return context == o.context && spec == o.spec; }
  };
  struct KeyHash {
    size_t operator()(const Key &k) const;
  };
  struct Provider {
    std::shared_ptr<KernelProvider> provider;
    int priority;
  };

  void launchGrid(const LoadedKernel &k, void **params, int seqlenQ, int numHeads, int batch,
                  CUstream stream);
  std::unique_ptr<LoadedKernel> load(const AttentionSpec &spec, CUcontext ctx);

  mutable std::shared_mutex cacheMutex_;
  std::unordered_map<Key, std::unique_ptr<LoadedKernel>, KeyHash> cache_;
  /// One mutex per key being loaded, so that concurrent misses of one key load
  /// once while misses of different keys proceed in parallel.
  std::mutex pendingMutex_;
  std::unordered_map<Key, std::shared_ptr<std::mutex>, KeyHash> pending_;

  mutable std::mutex providersMutex_;
  std::vector<Provider> providers_;
};

/// Registers a ProviderInstaller. When the runtime already exists the
/// installer runs immediately (so the order of static initializers does not
/// matter); otherwise it runs when the runtime is created. Installers are
/// kept in a list (a bundle library and the compiler may both register one);
/// registering the same function twice is a no-op.
void setDefaultProviderInstaller(ProviderInstaller fn);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_KERNELRUNTIME_H

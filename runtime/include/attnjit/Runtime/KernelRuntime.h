//===- KernelRuntime.h - Provider chain, module cache and launch -*- C++ -*-===//
//
// Part of attnjit. The process-wide runtime: asks the provider chain (bundles,
// disk cache, JIT) for a kernel, loads it into the caller's CUDA context once,
// caches its CUfunctions per (context, spec) and launches its plan through
// cuLaunchKernelEx. Hits take only a shared lock, so launches from many threads
// do not serialize on the cache. It also owns a grow-only workspace per
// (context, stream) for plans that need device scratch memory.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_KERNELRUNTIME_H
#define ATTNJIT_RUNTIME_KERNELRUNTIME_H

#include "attnjit/Core/AttentionSpec.h"
#include "attnjit/Runtime/CompiledKernel.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Core/FlashKernelABI.h"
#include "attnjit/Runtime/KernelParams.h"
#include "attnjit/Runtime/KernelProvider.h"
#include "attnjit/Runtime/LaunchPlan.h"
#include "attnjit/Core/SdpaKernelABI.h"

#include <cuda.h>

#include <cstdint>
#include <map>
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
  /// One per kernel->plan.kernels entry, same order, all from `module`.
  std::vector<CUfunction> functions;
  int device = -1;             ///< device ordinal of `context`
  int smCount = 0;             ///< SMs of `device`, for Persistent grids
  CUcontext context = nullptr; ///< the context `module` was loaded into
  std::string provider;        ///< name of the provider that supplied it
};

/// Environment variable naming the arch kernels are built for instead of the
/// device's own, e.g. ATTNJIT_ARCH=sm_90 on an sm_90a GPU takes the sm_80
/// recipe (the sm_90a recipe needs sm_90a) for comparison. Read once.
inline constexpr const char *kArchEnv = "ATTNJIT_ARCH";
/// The arch kernels are built for on the device `info` describes: its own,
/// or kArchEnv's value when set. Throws InvalidArgument when that value is not
/// an arch or the device cannot run it (a higher compute capability, or an
/// 'a' arch other than its own).
std::string targetArch(const DeviceInfo &info);

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

  /// Loads a plan the caller built itself (a tool, a test, a layer that
  /// composes kernels of its own) in the context of `stream`, as getKernel
  /// loads a provider's: the same device-limit checks, errors and logs, and
  /// the result lives until clearMemoryCache. No provider is asked and no
  /// variant's ABI table is imposed, since only launch() with a
  /// KernelParamPack (checked against each kernel's own signature) can launch
  /// it; launchFlash/launchSdpa and the attention entry points never see it.
  /// Cached per (context, `kernel` object): loading the same object again
  /// returns the same LoadedKernel. Throws InvalidArgument when `kernel` is
  /// null, has neither PTX nor a cubin, or its plan is invalid
  /// (LaunchPlan::validate), else as getKernel.
  const LoadedKernel &loadPlan(std::shared_ptr<const CompiledKernel> kernel, CUstream stream,
                               int fallbackDevice = 0);

  /// Launches kernel `index` of k's plan on `stream`, which must belong to
  /// `k.context`: grid from its policy and `dims` (computeGrid), block
  /// (threadsPerBlock, 1, 1), its dynamic shared memory, and a cluster
  /// attribute when its cluster is not 1x1x1, through cuLaunchKernelEx.
  /// `params` holds one pointer per parameter of the kernel's signature, as
  /// cuLaunchKernelEx wants them; nothing checks their kinds (use the
  /// KernelParamPack overload for that). Multi-kernel plans (Sage: quantize,
  /// then attend; split-KV: attend, then merge) launch 0, 1, ... in order on
  /// one stream, which orders them. Throws InvalidArgument for an index out of
  /// range or a shape the grid policy rejects; Driver errors carry the kernel,
  /// entry, device, grid, block, cluster, shared memory and stream. Does not
  /// synchronize. A driver older than CUDA 11.8 has no cuLaunchKernelEx: there
  /// cluster-free kernels go through cuLaunchKernel and a cluster kernel is
  /// Unsupported, naming the missing entry point.
  void launch(const LoadedKernel &k, size_t index, void **params, const LaunchDims &dims,
              CUstream stream);
  /// The same with typed arguments: throws InvalidArgument when `params` was
  /// not made for this kernel's signature or has a parameter never set.
  void launch(const LoadedKernel &k, size_t index, KernelParamPack &params,
              const LaunchDims &dims, CUstream stream);

  /// Launches a flash kernel (a one-kernel TileGrid plan): grid
  /// (ceil(seqlenQ / blockRows), numHeads, batch), through launch().
  void launchFlash(const LoadedKernel &k, FlashLaunchArgs &args, int batch, CUstream stream);
  /// The same for an SDPA kernel (kSdpaParams order).
  void launchSdpa(const LoadedKernel &k, SdpaLaunchArgs &args, int batch, CUstream stream);

  /// Device workspace for a launch of k's plan on `stream`: at least
  /// k.kernel->plan.workspace.fixedBytes + `perLaunchBytes` bytes (256-byte
  /// aligned), owned by the runtime, one buffer per (context, stream). Work on
  /// one stream is ordered, so a stream's launches may all reuse its buffer;
  /// work on other streams gets other buffers. The buffer only grows, and a
  /// hit (already big enough) takes a mutex and allocates nothing. Growing
  /// allocates with cuMemAlloc outside any capture; the buffer it replaces is
  /// kept (a kernel in flight or a captured graph may still use it) until
  /// releaseWorkspaces().
  ///
  /// CUDA graphs: while `stream` is capturing, the workspace cannot grow
  /// (cuMemAlloc is not capturable, and a captured pointer must stay valid for
  /// every replay). Either call reserveWorkspace before the capture with the
  /// largest size the captured launches need, or pass a workspace of your own
  /// to the kernels. A capture that needs more throws InvalidArgument saying
  /// so, before anything is launched.
  ///
  /// Throws InvalidArgument when the plan needs no per-launch workspace but
  /// `perLaunchBytes` > 0 (see WorkspaceRequirement), Driver when cuMemAlloc
  /// fails. Returns 0 when the plan needs no workspace and perLaunchBytes is 0.
  CUdeviceptr workspace(const LoadedKernel &k, uint64_t perLaunchBytes, CUstream stream);
  /// Grows the workspace of `stream` (in its context; the null stream: the
  /// current context, else device `fallbackDevice`'s primary context) to at
  /// least `bytes` now, e.g. before capturing a graph. Throws like workspace().
  void reserveWorkspace(CUstream stream, uint64_t bytes, int fallbackDevice = 0);
  /// Bytes of the current workspace of `stream` in `context` (0: none).
  uint64_t workspaceBytes(CUcontext context, CUstream stream) const;
  /// Frees every workspace buffer, current and replaced. No launch or graph
  /// that uses one may be in flight or replayed afterwards.
  void releaseWorkspaces();

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

  std::unique_ptr<LoadedKernel> load(const AttentionSpec &spec, CUcontext ctx);
  /// Loads `ck` (already checked) for `spec` (arch = the device's) in `ctx`.
  std::unique_ptr<LoadedKernel> loadModule(std::shared_ptr<const CompiledKernel> ck,
                                           const AttentionSpec &spec, CUcontext ctx,
                                           std::string from);
  CUdeviceptr workspaceFor(CUcontext ctx, CUstream stream, uint64_t bytes);

  mutable std::shared_mutex cacheMutex_;
  std::unordered_map<Key, std::unique_ptr<LoadedKernel>, KeyHash> cache_;
  /// One mutex per key being loaded, so that concurrent misses of one key load
  /// once while misses of different keys proceed in parallel.
  std::mutex pendingMutex_;
  std::unordered_map<Key, std::shared_ptr<std::mutex>, KeyHash> pending_;
  /// Serializes loadPlan misses (a rare path: tools and tests).
  std::mutex ownPlanMutex_;

  mutable std::mutex providersMutex_;
  std::vector<Provider> providers_;

  struct Workspace {
    CUdeviceptr ptr = 0;
    uint64_t bytes = 0;
  };
  /// Buffers of one context: the current one of each stream, and the ones
  /// growth replaced (freed by releaseWorkspaces).
  struct ContextWorkspaces {
    std::map<CUstream, Workspace> current;
    std::vector<Workspace> replaced;
  };
  mutable std::mutex workspaceMutex_;
  std::map<CUcontext, ContextWorkspaces> workspaces_;
};

/// Registers a ProviderInstaller. When the runtime already exists the
/// installer runs immediately (so the order of static initializers does not
/// matter); otherwise it runs when the runtime is created. Installers are
/// kept in a list (a bundle library and the compiler may both register one);
/// registering the same function twice is a no-op.
void setDefaultProviderInstaller(ProviderInstaller fn);

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_KERNELRUNTIME_H

//===- KernelRuntime.cpp - Provider chain, module cache and launch --------===//
//
// Part of attnjit. Models: IREE native_executable.c (JIT log capture, limits
// checked before cuFuncSetAttribute) and TVM cuda_module.cc (functions cached
// per device under a mutex).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/KernelRuntime.h"
#include "attnjit/Core/SageKernelABI.h"

#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <vector>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Installers and the instance
//===----------------------------------------------------------------------===//

namespace {
struct InstallerRegistry {
  std::mutex mu;
  std::vector<ProviderInstaller> installers;
  KernelRuntime *runtime = nullptr;
};

InstallerRegistry &installerRegistry() {
  // Leaked: setDefaultProviderInstaller may run from static initializers of
  // other libraries, before or after this translation unit's.
  static InstallerRegistry *registry = new InstallerRegistry;
  return *registry;
}

void runInstaller(ProviderInstaller fn, KernelRuntime &rt) {
  try {
    fn(rt);
  } catch (const std::exception &e) {
    logger().error("a kernel provider installer failed: {}", e.what());
  }
}
} // namespace

void setDefaultProviderInstaller(ProviderInstaller fn) {
  if (!fn)
    return;
  InstallerRegistry &reg = installerRegistry();
  KernelRuntime *rt = nullptr;
  {
    std::lock_guard<std::mutex> lock(reg.mu);
    if (std::find(reg.installers.begin(), reg.installers.end(), fn) != reg.installers.end())
      return;
    reg.installers.push_back(fn);
    rt = reg.runtime;
  }
  if (rt)
    runInstaller(fn, *rt);
}

KernelRuntime &KernelRuntime::instance() {
  static KernelRuntime *runtime = [] {
    auto *rt = new KernelRuntime();
    InstallerRegistry &reg = installerRegistry();
    std::vector<ProviderInstaller> installers;
    {
      std::lock_guard<std::mutex> lock(reg.mu);
      reg.runtime = rt;
      installers = reg.installers;
    }
    for (ProviderInstaller fn : installers)
      runInstaller(fn, *rt);
    return rt;
  }();
  return *runtime;
}

//===----------------------------------------------------------------------===//
// Providers
//===----------------------------------------------------------------------===//

void KernelRuntime::addProvider(std::shared_ptr<KernelProvider> provider, int priority) {
  if (!provider)
    throw Error(ErrorKind::InvalidArgument, "addProvider: provider is null");
  std::lock_guard<std::mutex> lock(providersMutex_);
  auto pos = std::upper_bound(providers_.begin(), providers_.end(), priority,
                              [](int p, const Provider &e) { return p < e.priority; });
  logger().debug("kernel provider '{}' registered at priority {}", provider->name(), priority);
  providers_.insert(pos, Provider{std::move(provider), priority});
}

bool KernelRuntime::removeProvider(const std::shared_ptr<KernelProvider> &provider) {
  std::lock_guard<std::mutex> lock(providersMutex_);
  auto it = std::find_if(providers_.begin(), providers_.end(),
                         [&](const Provider &e) { return e.provider == provider; });
  if (it == providers_.end())
    return false;
  providers_.erase(it);
  return true;
}

std::vector<std::string> KernelRuntime::providerNames() const {
  std::lock_guard<std::mutex> lock(providersMutex_);
  std::vector<std::string> names;
  names.reserve(providers_.size());
  for (const Provider &p : providers_)
    names.push_back(p.provider->name());
  return names;
}

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

size_t KernelRuntime::KeyHash::operator()(const Key &k) const {
  size_t h = std::hash<std::string>()(k.spec);
  return h ^ (std::hash<const void *>()(k.context) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2));
}

namespace {
/// Unloads a module unless released; keeps failures after cuModuleLoadDataEx
/// from leaking it.
class ModuleGuard {
public:
  explicit ModuleGuard(CUmodule m) : module_(m) {}
  ~ModuleGuard() {
    if (!module_)
      return;
    CudaDriver &drv = CudaDriver::get();
    CUresult r = drv.cuModuleUnload(module_);
    if (r != CUDA_SUCCESS)
      logger().warn("cuModuleUnload failed: {}", drv.describe(r));
  }
  CUmodule release() { return std::exchange(module_, nullptr); }

private:
  CUmodule module_;
};

std::string trimLog(const std::vector<char> &buf) {
  std::string s(buf.data(), strnlen(buf.data(), buf.size()));
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r'))
    s.pop_back();
  return s;
}

/// Empty when `ck` can serve `want` on this runtime, else why not.
std::string checkCompiledKernel(const CompiledKernel &ck, const AttentionSpec &want) {
  if (ck.ptx.empty() && ck.cubin.empty())
    return "it has neither PTX nor a cubin";
  if (std::string why = ck.plan.validate(); !why.empty())
    return why;
  if (ck.abiVersion != abiVersion(ck.spec.variant))
    return fmt::format("it was built against {} ABI version {}, this runtime uses {}",
                       toString(ck.spec.variant), ck.abiVersion, abiVersion(ck.spec.variant));
  if (ck.spec.variant == Variant::Flash || ck.spec.variant == Variant::Sdpa ||
      ck.spec.variant == Variant::Merge || ck.spec.variant == Variant::Gemm) {
    // launchFlash/launchSdpa/mergeAttentionStates/linear pass exactly the ABI
    // table's arguments to one kernel: a tile-grid kernel with the variant's
    // table, or (flash) the sm_90a recipe's persistent kernel with
    // kFlashSm90Params appended, which walks the tiles itself and must not
    // get a tile grid. Any other plan would read garbage parameters.
    const KernelLaunchInfo &k = ck.plan.kernels.front();
    const bool mapsAllowed = ck.spec.variant == Variant::Flash || ck.spec.variant == Variant::Gemm;
    const bool tiles = k.grid == GridPolicy::TileGrid &&
                       (k.params == abiParamKinds(ck.spec.variant) ||
                        (mapsAllowed && k.params == abiParamKinds(ck.spec.variant, true)));
    const bool persistentFlash = ck.spec.variant == Variant::Flash &&
                                 k.grid == GridPolicy::Persistent &&
                                 k.params == abiParamKinds(Variant::Flash, true);
    if (ck.plan.kernels.size() != 1 || !(tiles || persistentFlash))
      return fmt::format("a {} kernel must be one kernel with the {} ABI table's parameters on "
                         "a tile grid{}, got: {}",
                         toString(ck.spec.variant), toString(ck.spec.variant),
                         ck.spec.variant == Variant::Flash
                             ? " (or those and the sm_90a parameters on a persistent grid)"
                             : ck.spec.variant == Variant::Gemm ? " (or with its tensor maps)" : "",
                         ck.plan.summary());
  }
  if (ck.spec.variant == Variant::Sage) {
    // sageAttention launches four tile-grid kernels with kSageParams each and
    // a per-launch workspace (SageKernelABI.h).
    bool ok = ck.plan.kernels.size() == size_t(kSageNumKernels) && ck.plan.workspace.perLaunch;
    for (const KernelLaunchInfo &k : ck.plan.kernels)
      ok = ok && k.grid == GridPolicy::TileGrid && k.params == abiParamKinds(Variant::Sage);
    if (!ok)
      return fmt::format("a sage kernel must have a plan of {} tile-grid kernels with the sage ABI "
                         "table and a per-launch workspace, got: {}",
                         kSageNumKernels, ck.plan.summary());
  }
  // Same spec up to the config fields the caller left to the compiler.
  const KernelConfig &w = want.config, &g = ck.spec.config;
  auto fieldOk = [](int wanted, int got) { return wanted == 0 || wanted == got; };
  if (!fieldOk(w.blockM, g.blockM) || !fieldOk(w.blockN, g.blockN) ||
      !fieldOk(w.numWarps, g.numWarps) || !fieldOk(w.stages, g.stages))
    return fmt::format("its config {} does not match the requested {}", g.str(), w.str());
  AttentionSpec normalized = ck.spec;
  normalized.arch = want.arch;
  normalized.config = want.config;
  if (normalized.canonical() != want.canonical())
    return fmt::format("it is for a different spec ('{}')", ck.spec.canonical());
  return {};
}
} // namespace

std::string targetArch(const DeviceInfo &info) {
  static const std::string override = [] {
    const char *env = std::getenv(kArchEnv);
    return std::string(env ? env : "");
  }();
  if (override.empty())
    return info.arch;
  if (std::string why = checkArch(override); !why.empty())
    throw Error(ErrorKind::InvalidArgument, fmt::format("{}: {}", kArchEnv, why));
  int cc = archComputeCapability(override);
  bool archSpecific = override.back() == 'a';
  if (cc > info.computeCapability || (archSpecific && override != info.arch))
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("{}={}: device {} ({}, {}) cannot run it; name an arch at or below "
                            "compute capability {} (an 'a' arch only when it is the device's own)",
                            kArchEnv, override, info.ordinal, info.name, info.arch,
                            info.computeCapability));
  return override;
}

std::unique_ptr<LoadedKernel> KernelRuntime::load(const AttentionSpec &request, CUcontext ctx) {
  CudaDriver &drv = CudaDriver::get();
  ScopedContext scope(ctx);
  int dev = contextDevice(ctx);
  const DeviceInfo &info = deviceInfo(dev);

  AttentionSpec spec = request;
  spec.arch = targetArch(info);
  if (std::string why = spec.validate(); !why.empty())
    throw Error(ErrorKind::Unsupported,
                fmt::format("cannot run {} on device {} ({}, {}): {}", spec.kernelName(), dev,
                            info.name, info.arch, why));

  //--- Ask the providers.
  std::vector<Provider> chain;
  {
    std::lock_guard<std::mutex> lock(providersMutex_);
    chain = providers_;
  }
  std::shared_ptr<const CompiledKernel> ck;
  std::string from;
  std::vector<std::string> asked, rejected;
  for (const Provider &p : chain) {
    std::string name = p.provider->name();
    asked.push_back(name);
    std::shared_ptr<const CompiledKernel> k = p.provider->getKernel(spec);
    if (!k)
      continue;
    if (std::string why = checkCompiledKernel(*k, spec); !why.empty()) {
      logger().warn("provider '{}' returned an unusable kernel for {}: {}; asking the next one",
                    name, spec.kernelName(), why);
      rejected.push_back(fmt::format("{}: {}", name, why));
      continue;
    }
    ck = std::move(k);
    from = std::move(name);
    break;
  }
  if (!ck) {
    std::string msg;
    if (asked.empty())
      msg = fmt::format("no kernel for {} ('{}'): no kernel provider is registered (link "
                        "attnjit_compiler for the JIT, or load a bundle)",
                        spec.kernelName(), spec.canonical());
    else
      msg = fmt::format("no kernel for {} ('{}'): asked providers [{}], none has it",
                        spec.kernelName(), spec.canonical(), fmt::join(asked, ", "));
    if (!rejected.empty())
      msg += fmt::format(" (rejected: {})", fmt::join(rejected, "; "));
    throw Error(ErrorKind::NotFound, msg);
  }

  return loadModule(std::move(ck), spec, ctx, std::move(from));
}

std::unique_ptr<LoadedKernel> KernelRuntime::loadModule(std::shared_ptr<const CompiledKernel> ck,
                                                        const AttentionSpec &spec, CUcontext ctx,
                                                        std::string from) {
  CudaDriver &drv = CudaDriver::get();
  ScopedContext scope(ctx);
  int dev = contextDevice(ctx);
  const DeviceInfo &info = deviceInfo(dev);

  //--- Load the module, capturing the JIT logs.
  auto t0 = std::chrono::steady_clock::now();
  std::string what =
      fmt::format("kernel {} (entry '{}', from {}, device {} {} {})", spec.kernelName(),
                  ck->entryName(), from, dev, info.name, info.arch);
  constexpr size_t kLogBytes = 64 * 1024;
  bool verbose = logger().should_log(spdlog::level::debug);
  auto loadImage = [&](const void *image, CUmodule &module, std::string &errorLog,
                       std::string &infoLog) -> CUresult {
    std::vector<char> err(kLogBytes, '\0'), inf(kLogBytes, '\0');
    CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                              CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                              CU_JIT_LOG_VERBOSE};
    void *values[] = {err.data(), reinterpret_cast<void *>(static_cast<uintptr_t>(kLogBytes - 1)),
                      inf.data(), reinterpret_cast<void *>(static_cast<uintptr_t>(kLogBytes - 1)),
                      reinterpret_cast<void *>(static_cast<uintptr_t>(verbose ? 1 : 0))};
    CUresult r = drv.cuModuleLoadDataEx(&module, image, sizeof(options) / sizeof(options[0]),
                                        options, values);
    errorLog = trimLog(err);
    infoLog = trimLog(inf);
    return r;
  };

  CUmodule module = nullptr;
  std::string errorLog, infoLog;
  bool loaded = false;
  if (!ck->cubin.empty() && ck->spec.arch == spec.arch) {
    CUresult r = loadImage(ck->cubin.data(), module, errorLog, infoLog);
    if (r == CUDA_SUCCESS)
      loaded = true;
    else if (ck->ptx.empty())
      drv.fail(r, "cuModuleLoadDataEx",
               fmt::format("{}, cubin of {} bytes; JIT error log: {}", what, ck->cubin.size(),
                           errorLog.empty() ? "(empty)" : errorLog));
    else
      logger().warn("loading the cubin of {} failed ({}{}); falling back to its PTX", what,
                    drv.describe(r), errorLog.empty() ? "" : ": " + errorLog);
  }
  if (!loaded) {
    CUresult r = loadImage(ck->ptx.c_str(), module, errorLog, infoLog);
    if (r != CUDA_SUCCESS) {
      std::string hint;
      if (r == CUDA_ERROR_UNSUPPORTED_PTX_VERSION)
        hint = fmt::format("; the PTX needs a newer driver than this one (CUDA {}.{})",
                           drv.driverVersion() / 1000, drv.driverVersion() % 1000 / 10);
      drv.fail(r, "cuModuleLoadDataEx",
               fmt::format("{}, PTX of {} bytes; JIT error log: {}{}", what, ck->ptx.size(),
                           errorLog.empty() ? "(empty)" : errorLog, hint));
    }
  }
  ModuleGuard guard(module);
  if (!infoLog.empty())
    logger().debug("JIT log of {}: {}", what, infoLog);

  //--- Every kernel of the plan: resolve it, check limits before asking for
  // its shared memory.
  const LaunchPlan &plan = ck->plan;
  std::vector<CUfunction> functions;
  std::string loadedSummary;
  for (size_t i = 0; i < plan.kernels.size(); ++i) {
    const KernelLaunchInfo &kl = plan.kernels[i];
    std::string kwhat = plan.kernels.size() == 1
                            ? what
                            : fmt::format("{}, plan kernel {} '{}'", what, i, kl.entryName);
    CUfunction fn = nullptr;
    drv.check(drv.cuModuleGetFunction(&fn, module, kl.entryName.c_str()), "cuModuleGetFunction",
              kwhat);
    auto funcAttr = [&](CUfunction_attribute a, const char *name) {
      int v = 0;
      drv.check(drv.cuFuncGetAttribute(&v, a, fn), "cuFuncGetAttribute",
                fmt::format("{}, {}", kwhat, name));
      return v;
    };
    int staticSmem = funcAttr(CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, "static shared memory");
    int maxThreads = funcAttr(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max threads per block");
    int numRegs = funcAttr(CU_FUNC_ATTRIBUTE_NUM_REGS, "registers per thread");
    if (kl.threadsPerBlock > maxThreads)
      throw Error(ErrorKind::Unsupported,
                  fmt::format("{} needs {} threads per block, but with {} registers per thread "
                              "the function allows at most {}",
                              kwhat, kl.threadsPerBlock, numRegs, maxThreads));
    int64_t totalSmem = int64_t(staticSmem) + kl.sharedMemBytes;
    if (totalSmem > info.maxSharedMemPerBlockOptin)
      throw Error(ErrorKind::Unsupported,
                  fmt::format("{} needs {} bytes of shared memory per block ({} dynamic + {} "
                              "static), but the device allows at most {} "
                              "(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)",
                              kwhat, totalSmem, kl.sharedMemBytes, staticSmem,
                              info.maxSharedMemPerBlockOptin));
    // Clusters exist from sm_90 on; an older device would fail every launch.
    if (!kl.cluster.isUnit() && info.computeCapability < 90)
      throw Error(ErrorKind::Unsupported,
                  fmt::format("{} uses a {}x{}x{} thread-block cluster, which needs compute "
                              "capability 9.0 or newer; the device has {}.{}",
                              kwhat, kl.cluster.x, kl.cluster.y, kl.cluster.z,
                              info.computeCapability / 10, info.computeCapability % 10));
    if (kl.sharedMemBytes > 0)
      drv.check(drv.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                       kl.sharedMemBytes),
                "cuFuncSetAttribute",
                fmt::format("{}, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = {}", kwhat,
                            kl.sharedMemBytes));
    functions.push_back(fn);
    loadedSummary += fmt::format("{}{}{} threads, {} registers, {} + {} bytes shared memory",
                                 loadedSummary.empty() ? "" : "; ",
                                 plan.kernels.size() == 1 ? "" : kl.entryName + ": ",
                                 kl.threadsPerBlock, numRegs, kl.sharedMemBytes, staticSmem);
  }

  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  logger().info("loaded {} in {:.1f} ms: {}", what, ms, loadedSummary);

  auto lk = std::make_unique<LoadedKernel>();
  lk->kernel = std::move(ck);
  lk->module = guard.release();
  lk->functions = std::move(functions);
  lk->device = dev;
  lk->smCount = info.smCount;
  lk->context = ctx;
  lk->provider = std::move(from);
  return lk;
}

namespace {
/// The memory-cache hit path: a per-thread table keyed by the context and the
/// spec's fields (no string formatting, no shared lock), in front of the shared
/// map. LoadedKernels live until clearMemoryCache, which bumps the generation so
/// every thread drops its table before trusting it again.
struct FastKey {
  CUcontext ctx = nullptr;
  /// Derived from the spec's field list, so a new field cannot be left out.
  SpecKeyFields fields{};
  bool operator==(const FastKey &o) const { return ctx == o.ctx && fields == o.fields; }
};
FastKey makeFastKey(CUcontext ctx, const AttentionSpec &s) { return {ctx, memoryKeyFields(s)}; }
struct ThreadKernelTable {
  uint64_t generation = 0;
  std::vector<std::pair<FastKey, const LoadedKernel *>> entries;
};
thread_local ThreadKernelTable tlsKernels;
std::atomic<uint64_t> gKernelTableGeneration{1};

const LoadedKernel *fastLookup(const FastKey &key) {
  ThreadKernelTable &t = tlsKernels;
  uint64_t gen = gKernelTableGeneration.load(std::memory_order_acquire);
  if (t.generation != gen) {
    t.entries.clear();
    t.generation = gen;
    return nullptr;
  }
  for (auto &e : t.entries)
    if (e.first == key)
      return e.second;
  return nullptr;
}
void fastRemember(const FastKey &key, const LoadedKernel *k, uint64_t generation) {
  ThreadKernelTable &t = tlsKernels;
  if (t.generation != generation)
    return; // the cache was cleared meanwhile
  if (t.entries.size() >= 64)
    t.entries.clear();
  t.entries.emplace_back(key, k);
}
} // namespace

const LoadedKernel &KernelRuntime::getKernel(const AttentionSpec &spec, CUstream stream,
                                             int fallbackDevice) {
  CudaDriver::get().requireAvailable();
  CUcontext ctx = streamContext(stream, fallbackDevice);
  FastKey fast = makeFastKey(ctx, spec);
  if (const LoadedKernel *hit = fastLookup(fast))
    return *hit;
  uint64_t generation = tlsKernels.generation;
  AttentionSpec archless = spec;
  archless.arch.clear();
  Key key{ctx, archless.canonical()};
  {
    std::shared_lock<std::shared_mutex> lock(cacheMutex_);
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      fastRemember(fast, it->second.get(), generation);
      return *it->second;
    }
  }

  std::shared_ptr<std::mutex> keyMutex;
  {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    std::shared_ptr<std::mutex> &slot = pending_[key];
    if (!slot)
      slot = std::make_shared<std::mutex>();
    keyMutex = slot;
  }
  std::lock_guard<std::mutex> loading(*keyMutex);
  {
    std::shared_lock<std::shared_mutex> lock(cacheMutex_);
    auto it = cache_.find(key);
    if (it != cache_.end())
      return *it->second;
  }

  std::unique_ptr<LoadedKernel> lk;
  {
    // A first call may come while the caller captures a CUDA graph; module
    // loading must not invalidate that capture.
    ScopedRelaxedCaptureMode relaxed;
    lk = load(spec, ctx);
  }
  const LoadedKernel *result = lk.get();
  fastRemember(fast, result, generation);
  {
    std::unique_lock<std::shared_mutex> lock(cacheMutex_);
    cache_.emplace(key, std::move(lk));
  }
  {
    std::lock_guard<std::mutex> lock(pendingMutex_);
    pending_.erase(key);
  }
  return *result;
}

const LoadedKernel &KernelRuntime::loadPlan(std::shared_ptr<const CompiledKernel> kernel,
                                            CUstream stream, int fallbackDevice) {
  if (!kernel)
    throw Error(ErrorKind::InvalidArgument, "loadPlan: kernel is null");
  if (kernel->ptx.empty() && kernel->cubin.empty())
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("loadPlan: kernel '{}' has neither PTX nor a cubin",
                            kernel->spec.kernelName()));
  if (std::string why = kernel->plan.validate(); !why.empty())
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("loadPlan: kernel '{}': {}", kernel->spec.kernelName(), why));
  CudaDriver::get().requireAvailable();
  CUcontext ctx = streamContext(stream, fallbackDevice);
  // The LoadedKernel holds `kernel`, so its address names it while the entry
  // lives; the prefix keeps it apart from every provider's key.
  Key key{ctx, fmt::format("plan@{}:{}", static_cast<const void *>(kernel.get()),
                           kernel->spec.canonical())};
  std::lock_guard<std::mutex> loading(ownPlanMutex_);
  {
    std::shared_lock<std::shared_mutex> lock(cacheMutex_);
    auto it = cache_.find(key);
    if (it != cache_.end())
      return *it->second;
  }
  AttentionSpec spec = kernel->spec;
  {
    ScopedContext scope(ctx);
    spec.arch = targetArch(deviceInfo(contextDevice(ctx)));
  }
  std::unique_ptr<LoadedKernel> lk;
  {
    ScopedRelaxedCaptureMode relaxed;
    lk = loadModule(std::move(kernel), spec, ctx, "the caller");
  }
  const LoadedKernel *result = lk.get();
  std::unique_lock<std::shared_mutex> lock(cacheMutex_);
  cache_.emplace(key, std::move(lk));
  return *result;
}

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

void KernelRuntime::launch(const LoadedKernel &k, size_t index, void **params,
                           const LaunchDims &dims, CUstream stream) {
  const CompiledKernel &ck = *k.kernel;
  if (index >= ck.plan.kernels.size() || index >= k.functions.size())
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launch {}: plan kernel {} requested, the plan has {}",
                            ck.spec.kernelName(), index, ck.plan.kernels.size()));
  const KernelLaunchInfo &kl = ck.plan.kernels[index];
  GridDims grid = computeGrid(kl, dims, k.smCount);

  CudaDriver &drv = CudaDriver::get();
  CUresult r;
  const char *call = "cuLaunchKernelEx";
  if (drv.cuLaunchKernelEx) {
    CUlaunchAttribute attrs[1] = {};
    CUlaunchConfig config = {};
    config.gridDimX = grid.x;
    config.gridDimY = grid.y;
    config.gridDimZ = grid.z;
    config.blockDimX = static_cast<unsigned>(kl.threadsPerBlock);
    config.blockDimY = 1;
    config.blockDimZ = 1;
    config.sharedMemBytes = static_cast<unsigned>(kl.sharedMemBytes);
    config.hStream = stream;
    // Only a real cluster gets the attribute: a 1x1x1 cluster attribute would
    // still make the driver treat the launch as a cluster launch (sm_90+ only).
    if (!kl.cluster.isUnit()) {
      attrs[0].id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
      attrs[0].value.clusterDim.x = static_cast<unsigned>(kl.cluster.x);
      attrs[0].value.clusterDim.y = static_cast<unsigned>(kl.cluster.y);
      attrs[0].value.clusterDim.z = static_cast<unsigned>(kl.cluster.z);
      config.attrs = attrs;
      config.numAttrs = 1;
    }
    r = drv.cuLaunchKernelEx(&config, k.functions[index], params, nullptr);
  } else {
    // Drivers before CUDA 11.8 lack cuLaunchKernelEx; they cannot launch
    // clusters either, so only cluster-free kernels run on them.
    if (!kl.cluster.isUnit())
      drv.requireSymbol(nullptr, "cuLaunchKernelEx",
                        fmt::format("the cluster launch of '{}'", kl.entryName));
    call = "cuLaunchKernel";
    r = drv.cuLaunchKernel(k.functions[index], grid.x, grid.y, grid.z,
                           static_cast<unsigned>(kl.threadsPerBlock), 1, 1,
                           static_cast<unsigned>(kl.sharedMemBytes), stream, params, nullptr);
  }
  if (r != CUDA_SUCCESS)
    drv.fail(r, call,
             fmt::format("kernel {} (entry '{}', plan kernel {} of {}, device {}), grid ({}, {}, "
                         "{}), block ({}, 1, 1), cluster ({}, {}, {}), dynamic shared memory {} "
                         "bytes, stream {}",
                         ck.spec.kernelName(), kl.entryName, index, ck.plan.kernels.size(),
                         k.device, grid.x, grid.y, grid.z, kl.threadsPerBlock, kl.cluster.x,
                         kl.cluster.y, kl.cluster.z, kl.sharedMemBytes,
                         static_cast<void *>(stream)));
}

void KernelRuntime::launch(const LoadedKernel &k, size_t index, KernelParamPack &params,
                           const LaunchDims &dims, CUstream stream) {
  const LaunchPlan &plan = k.kernel->plan;
  if (index < plan.kernels.size() && params.kinds() != plan.kernels[index].params)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launch {}: the arguments (made for '{}', {} parameters) do not "
                            "match plan kernel {} '{}' ({} parameters)",
                            k.kernel->spec.kernelName(), params.name(), params.kinds().size(),
                            index, plan.kernels[index].entryName,
                            plan.kernels[index].params.size()));
  params.requireComplete();
  launch(k, index, params.pointers(), dims, stream);
}

void KernelRuntime::launchFlash(const LoadedKernel &k, FlashLaunchArgs &args, int batch,
                                CUstream stream) {
  if (k.kernel->spec.variant != Variant::Flash)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launchFlash: kernel {} is not a flash kernel",
                            k.kernel->spec.kernelName()));
  void *params[kNumFlashParams + kNumFlashSm90Params];
  args.fillParamPointers(params);
  // The sm_90a recipe's kernels also take TMA tensor maps of q, k and v
  // (kFlashSm90Params documents their shape), encoded here for each call,
  // and the batch size.
  CUtensorMap maps[kNumFlashTmaMaps];
  int32_t numBatch = batch;
  if (k.kernel->plan.kernels.front().params.size() == kNumFlashParams + kNumFlashSm90Params) {
    const AttentionSpec &spec = k.kernel->spec;
    const int kvHeads = args.numHeads / std::max(args.headRatio, 1);
    auto encode = [&](const void *ptr, int64_t seq, int heads, int64_t rowStride,
                      int64_t headStride, int64_t batchStride, int boxRows, const char *what) {
      TiledTensorMapDesc d;
      d.dataType = spec.dtype == DType::F16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16
                                            : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
      d.rank = 4;
      d.globalAddress = ptr;
      const uint64_t elt = 2;
      uint64_t dims[4] = {uint64_t(spec.headDim), uint64_t(seq), uint64_t(heads),
                          uint64_t(batch)};
      int64_t strides[3] = {rowStride, headStride, batchStride};
      for (int i = 0; i < 4; ++i)
        d.globalDim[i] = dims[i];
      // A dimension of size 1 is never stepped over; its stride (free in a
      // view) is replaced by a packed one that TMA accepts.
      uint64_t packed = dims[0] * elt;
      for (int i = 0; i < 3; ++i) {
        d.globalStrides[i] = dims[i + 1] == 1 ? packed : uint64_t(strides[i]) * elt;
        packed = d.globalStrides[i] * dims[i + 1];
      }
      d.boxDim[0] = kFlashTmaBoxCols;
      d.boxDim[1] = uint32_t(boxRows);
      d.boxDim[2] = d.boxDim[3] = 1;
      d.swizzle = CU_TENSOR_MAP_SWIZZLE_128B;
      d.l2Promotion = CU_TENSOR_MAP_L2_PROMOTION_L2_128B;
      return encodeTiledTensorMap(d, what);
    };
    maps[0] = encode(args.q, args.seqlenQ, args.numHeads, args.qRowStride, args.qHeadStride,
                     args.qBatchStride, spec.config.blockM, "q");
    maps[1] = encode(args.k, args.seqlenK, kvHeads, args.kRowStride, args.kHeadStride,
                     args.kBatchStride, spec.config.blockN, "k");
    maps[2] = encode(args.v, args.seqlenK, kvHeads, args.vRowStride, args.vHeadStride,
                     args.vBatchStride, spec.config.blockN, "v");
    for (size_t i = 0; i < kNumFlashTmaMaps; ++i)
      params[kNumFlashParams + i] = &maps[i];
    params[kNumFlashParams + kNumFlashTmaMaps] = &numBatch;
  }
  launch(k, 0, params, LaunchDims{args.seqlenQ, args.numHeads, batch}, stream);
}

void KernelRuntime::launchSdpa(const LoadedKernel &k, SdpaLaunchArgs &args, int batch,
                               CUstream stream) {
  if (k.kernel->spec.variant != Variant::Sdpa)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launchSdpa: kernel {} is not an sdpa kernel",
                            k.kernel->spec.kernelName()));
  void *params[kNumSdpaParams];
  args.fillParamPointers(params);
  launch(k, 0, params, LaunchDims{args.flash.seqlenQ, args.flash.numHeads, batch}, stream);
}

//===----------------------------------------------------------------------===//
// Workspace
//===----------------------------------------------------------------------===//

namespace {
/// Growth rounds up to a multiple of this and to 1.5x the old size, so that a
/// slowly rising need replaces (and keeps) few buffers: the replaced ones add
/// up to at most twice the current one.
constexpr uint64_t kWorkspaceGranule = uint64_t(1) << 20;

uint64_t grownWorkspaceBytes(uint64_t old, uint64_t need) {
  uint64_t want = std::max(need, old + old / 2);
  return (want + kWorkspaceGranule - 1) / kWorkspaceGranule * kWorkspaceGranule;
}
} // namespace

CUdeviceptr KernelRuntime::workspaceFor(CUcontext ctx, CUstream stream, uint64_t bytes) {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  ContextWorkspaces &cw = workspaces_[ctx];
  Workspace &cur = cw.current[stream];
  if (cur.bytes >= bytes)
    return cur.ptr;

  CudaDriver &drv = CudaDriver::get();
  ScopedContext scope(ctx);
  CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
  drv.check(drv.cuStreamIsCapturing(stream, &capture), "cuStreamIsCapturing",
            "growing the runtime workspace");
  if (capture != CU_STREAM_CAPTURE_STATUS_NONE)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("workspace: {} bytes needed on stream {}, which is capturing a CUDA "
                            "graph, but the runtime workspace of that stream holds {}; it cannot "
                            "grow during a capture. Call KernelRuntime::reserveWorkspace(stream, "
                            "{}) before capturing, or pass a workspace of your own",
                            bytes, static_cast<void *>(stream), cur.bytes, bytes));
  uint64_t size = grownWorkspaceBytes(cur.bytes, bytes);
  CUdeviceptr ptr = 0;
  {
    // Another thread may be capturing in global mode; an allocation here must
    // not invalidate its capture.
    ScopedRelaxedCaptureMode relaxed;
    drv.check(drv.cuMemAlloc(&ptr, size), "cuMemAlloc",
              fmt::format("runtime workspace of {} bytes for stream {}", size,
                          static_cast<void *>(stream)));
  }
  logger().debug("runtime workspace of stream {} grew from {} to {} bytes",
                 static_cast<void *>(stream), cur.bytes, size);
  // Kernels in flight, or a graph captured earlier, may still use the old
  // buffer: keep it until releaseWorkspaces().
  if (cur.ptr)
    cw.replaced.push_back(cur);
  cur = Workspace{ptr, size};
  return ptr;
}

CUdeviceptr KernelRuntime::workspace(const LoadedKernel &k, uint64_t perLaunchBytes,
                                     CUstream stream) {
  const WorkspaceRequirement &req = k.kernel->plan.workspace;
  if (perLaunchBytes > 0 && !req.perLaunch)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("workspace: {} per-launch bytes asked for {}, whose plan needs only "
                            "a fixed workspace of {} bytes",
                            perLaunchBytes, k.kernel->spec.kernelName(), req.fixedBytes));
  if (perLaunchBytes > UINT64_MAX - req.fixedBytes)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("workspace: {} + {} bytes overflow", req.fixedBytes, perLaunchBytes));
  uint64_t bytes = req.fixedBytes + perLaunchBytes;
  if (bytes == 0)
    return 0;
  return workspaceFor(k.context, stream, bytes);
}

void KernelRuntime::reserveWorkspace(CUstream stream, uint64_t bytes, int fallbackDevice) {
  CudaDriver::get().requireAvailable();
  CUcontext ctx = streamContext(stream, fallbackDevice);
  if (bytes > 0)
    workspaceFor(ctx, stream, bytes);
}

uint64_t KernelRuntime::workspaceBytes(CUcontext context, CUstream stream) const {
  std::lock_guard<std::mutex> lock(workspaceMutex_);
  auto cw = workspaces_.find(context);
  if (cw == workspaces_.end())
    return 0;
  auto it = cw->second.current.find(stream);
  return it == cw->second.current.end() ? 0 : it->second.bytes;
}

void KernelRuntime::releaseWorkspaces() {
  std::map<CUcontext, ContextWorkspaces> old;
  {
    std::lock_guard<std::mutex> lock(workspaceMutex_);
    old.swap(workspaces_);
  }
  CudaDriver &drv = CudaDriver::get();
  for (auto &[ctx, cw] : old) {
    std::vector<Workspace> all = std::move(cw.replaced);
    for (auto &[stream, w] : cw.current)
      all.push_back(w);
    try {
      ScopedContext scope(ctx);
      for (const Workspace &w : all) {
        if (!w.ptr)
          continue;
        CUresult r = drv.cuMemFree(w.ptr);
        if (r != CUDA_SUCCESS)
          logger().warn("cuMemFree of a {}-byte runtime workspace failed: {}", w.bytes,
                        drv.describe(r));
      }
    } catch (const std::exception &e) {
      logger().warn("releasing runtime workspaces failed: {}", e.what());
    }
  }
}

//===----------------------------------------------------------------------===//
// Cache management
//===----------------------------------------------------------------------===//

void KernelRuntime::clearMemoryCache() {
  std::unordered_map<Key, std::unique_ptr<LoadedKernel>, KeyHash> old;
  {
    std::unique_lock<std::shared_mutex> lock(cacheMutex_);
    old.swap(cache_);
    gKernelTableGeneration.fetch_add(1, std::memory_order_acq_rel);
  }
  CudaDriver &drv = CudaDriver::get();
  for (auto &entry : old) {
    LoadedKernel &lk = *entry.second;
    if (!lk.module)
      continue;
    try {
      ScopedContext scope(lk.context);
      CUresult r = drv.cuModuleUnload(lk.module);
      if (r != CUDA_SUCCESS)
        logger().warn("cuModuleUnload of {} failed: {}", lk.kernel->spec.kernelName(),
                      drv.describe(r));
    } catch (const std::exception &e) {
      logger().warn("unloading {} failed: {}", lk.kernel->spec.kernelName(), e.what());
    }
  }
}

size_t KernelRuntime::memoryCacheSize() const {
  std::shared_lock<std::shared_mutex> lock(cacheMutex_);
  return cache_.size();
}

} // namespace attnjit

//===- KernelRuntime.cpp - Provider chain, module cache and launch --------===//
//
// Part of attnjit. Models: IREE native_executable.c (JIT log capture, limits
// checked before cuFuncSetAttribute) and TVM cuda_module.cc (functions cached
// per device under a mutex).
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/KernelRuntime.h"

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
  if (ck.entryName.empty())
    return "its entry name is empty";
  if (ck.ptx.empty() && ck.cubin.empty())
    return "it has neither PTX nor a cubin";
  if (ck.threadsPerBlock <= 0)
    return fmt::format("threadsPerBlock must be > 0, got {}", ck.threadsPerBlock);
  if (ck.sharedMemBytes < 0)
    return fmt::format("sharedMemBytes must be >= 0, got {}", ck.sharedMemBytes);
  if (ck.spec.variant == Variant::Flash) {
    if (ck.abiVersion != kFlashAbiVersion)
      return fmt::format("it was built against flash ABI version {}, this runtime uses {}",
                         ck.abiVersion, kFlashAbiVersion);
    if (ck.spec.config.blockM <= 0)
      return fmt::format("its config has no blockM ({}), which the launch grid needs",
                         ck.spec.config.str());
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

std::unique_ptr<LoadedKernel> KernelRuntime::load(const AttentionSpec &request, CUcontext ctx) {
  CudaDriver &drv = CudaDriver::get();
  ScopedContext scope(ctx);
  int dev = contextDevice(ctx);
  const DeviceInfo &info = deviceInfo(dev);

  AttentionSpec spec = request;
  spec.arch = info.arch;
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

  //--- Load the module, capturing the JIT logs.
  auto t0 = std::chrono::steady_clock::now();
  std::string what = fmt::format("kernel {} (entry '{}', from {}, device {} {} {})",
                                 spec.kernelName(), ck->entryName, from, dev, info.name, info.arch);
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

  CUfunction fn = nullptr;
  drv.check(drv.cuModuleGetFunction(&fn, module, ck->entryName.c_str()), "cuModuleGetFunction",
            what);

  //--- Check limits before asking for the shared memory.
  auto funcAttr = [&](CUfunction_attribute a, const char *name) {
    int v = 0;
    drv.check(drv.cuFuncGetAttribute(&v, a, fn), "cuFuncGetAttribute",
              fmt::format("{}, {}", what, name));
    return v;
  };
  int staticSmem = funcAttr(CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, "static shared memory");
  int maxThreads = funcAttr(CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max threads per block");
  int numRegs = funcAttr(CU_FUNC_ATTRIBUTE_NUM_REGS, "registers per thread");
  if (ck->threadsPerBlock > maxThreads)
    throw Error(ErrorKind::Unsupported,
                fmt::format("{} needs {} threads per block, but with {} registers per thread "
                            "the function allows at most {}",
                            what, ck->threadsPerBlock, numRegs, maxThreads));
  int64_t totalSmem = int64_t(staticSmem) + ck->sharedMemBytes;
  if (totalSmem > info.maxSharedMemPerBlockOptin)
    throw Error(ErrorKind::Unsupported,
                fmt::format("{} needs {} bytes of shared memory per block ({} dynamic + {} "
                            "static), but the device allows at most {} "
                            "(CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)",
                            what, totalSmem, ck->sharedMemBytes, staticSmem,
                            info.maxSharedMemPerBlockOptin));
  if (ck->sharedMemBytes > 0)
    drv.check(drv.cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                     ck->sharedMemBytes),
              "cuFuncSetAttribute",
              fmt::format("{}, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = {}", what,
                          ck->sharedMemBytes));

  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  logger().info("loaded {} in {:.1f} ms: {} threads, {} registers, {} + {} bytes shared memory",
                what, ms, ck->threadsPerBlock, numRegs, ck->sharedMemBytes, staticSmem);

  auto lk = std::make_unique<LoadedKernel>();
  lk->kernel = std::move(ck);
  lk->module = guard.release();
  lk->function = fn;
  lk->device = dev;
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

//===----------------------------------------------------------------------===//
// Launch
//===----------------------------------------------------------------------===//

void KernelRuntime::launchGrid(const LoadedKernel &k, void **params, int seqlenQ, int numHeads,
                               int batch, CUstream stream) {
  const CompiledKernel &ck = *k.kernel;
  int blockM = ck.spec.config.blockM;
  // The grid's y and z dimensions are limited to 65535 by the hardware.
  if (seqlenQ <= 0 || numHeads <= 0 || numHeads > 65535 || batch <= 0 || batch > 65535 ||
      blockM <= 0)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launch {}: expected seqlen_q > 0, 0 < num_heads <= 65535, "
                            "0 < batch <= 65535 and blockM > 0; got seqlen_q {}, num_heads {}, "
                            "batch {}, blockM {}",
                            ck.spec.kernelName(), seqlenQ, numHeads, batch, blockM));
  unsigned gridX = static_cast<unsigned>((int64_t(seqlenQ) + blockM - 1) / blockM);
  unsigned gridY = static_cast<unsigned>(numHeads), gridZ = static_cast<unsigned>(batch);
  CudaDriver &drv = CudaDriver::get();
  CUresult r =
      drv.cuLaunchKernel(k.function, gridX, gridY, gridZ, static_cast<unsigned>(ck.threadsPerBlock),
                         1, 1, static_cast<unsigned>(ck.sharedMemBytes), stream, params, nullptr);
  if (r != CUDA_SUCCESS)
    drv.fail(r, "cuLaunchKernel",
             fmt::format("kernel {} (entry '{}', device {}), grid ({}, {}, {}), block ({}, 1, 1), "
                         "dynamic shared memory {} bytes, stream {}",
                         ck.spec.kernelName(), ck.entryName, k.device, gridX, gridY, gridZ,
                         ck.threadsPerBlock, ck.sharedMemBytes, static_cast<void *>(stream)));
}

void KernelRuntime::launchFlash(const LoadedKernel &k, FlashLaunchArgs &args, int batch,
                                CUstream stream) {
  if (k.kernel->spec.variant != Variant::Flash)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launchFlash: kernel {} is not a flash kernel",
                            k.kernel->spec.kernelName()));
  void *params[kNumFlashParams];
  args.fillParamPointers(params);
  launchGrid(k, params, args.seqlenQ, args.numHeads, batch, stream);
}

void KernelRuntime::launchSdpa(const LoadedKernel &k, SdpaLaunchArgs &args, int batch,
                               CUstream stream) {
  if (k.kernel->spec.variant != Variant::Sdpa)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("launchSdpa: kernel {} is not an sdpa kernel",
                            k.kernel->spec.kernelName()));
  void *params[kNumSdpaParams];
  args.fillParamPointers(params);
  launchGrid(k, params, args.flash.seqlenQ, args.flash.numHeads, batch, stream);
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

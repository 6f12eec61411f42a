//===- CacheTestSupport.h - Helpers for the cache and bundle tests -*- C++ -*-===//
//
// Part of attnjit. A fake compiler that counts its calls, deterministic fake
// kernels, scratch directories and a logger sink that counts warnings.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_TESTS_UNIT_CACHETESTSUPPORT_H
#define ATTNJIT_TESTS_UNIT_CACHETESTSUPPORT_H

#include "attnjit/Runtime/CompiledKernel.h"
#include "attnjit/Core/FlashKernelABI.h"
#include "attnjit/Runtime/KernelProvider.h"
#include "attnjit/Runtime/Logging.h"

#include <spdlog/sinks/ostream_sink.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

namespace attnjit::testing {

/// A spec with distinct values in every field, varied by `headDim`/`arch`.
inline AttentionSpec fakeSpec(int headDim = 128, std::string arch = "sm_90a", bool causal = true) {
  AttentionSpec s;
  s.variant = Variant::Flash;
  s.headDim = headDim;
  s.causal = causal;
  s.dtype = DType::BF16;
  s.arch = std::move(arch);
  return s;
}

/// A deterministic kernel for `spec` (config filled in, as the compiler does),
/// with `ptxBytes` of PTX-like text and a small binary "cubin".
inline CompiledKernel fakeKernel(const AttentionSpec &spec, size_t ptxBytes = 64 * 1024) {
  CompiledKernel k;
  k.spec = spec;
  if (!k.spec.config.isComplete())
    k.spec.config = KernelConfig{128, 64, 4, 2};
  std::string line = "// fake ptx for " + k.spec.canonical() + "\n";
  k.ptx = ".version 8.0\n.target " + spec.arch + "\n";
  while (k.ptx.size() < ptxBytes)
    k.ptx += line;
  k.ptx.resize(ptxBytes);
  for (int i = 0; i < 4096; ++i)
    k.cubin.push_back(static_cast<uint8_t>((i * 131 + spec.headDim) & 0xff));
  k.plan = singleTileGridPlan(k.spec.kernelName(), 128, 49152, k.spec.config.blockM,
                              abiParamKinds(k.spec.variant));
  k.abiVersion = kFlashAbiVersion;
  k.compileMs = 12.5;
  k.registers = 168;
  k.spillBytes = 0;
  return k;
}

/// Compiles fake kernels, counting calls; optionally slow, optionally appends a
/// byte to `countFile` per call (counts across processes).
class FakeCompiler : public KernelProvider {
public:
  explicit FakeCompiler(int delayMs = 0, std::string countFile = {})
      : delayMs_(delayMs), countFile_(std::move(countFile)) {}
  std::string name() const override { return "fake-jit"; }
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override {
    calls.fetch_add(1);
    if (!countFile_.empty()) {
      std::ofstream f(countFile_, std::ios::app | std::ios::binary);
      f << 'x';
    }
    if (delayMs_ > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(delayMs_));
    return std::make_shared<const CompiledKernel>(fakeKernel(spec));
  }
  std::atomic<int> calls{0};

private:
  int delayMs_;
  std::string countFile_;
};

/// A fresh directory under the system temp dir, removed on destruction.
class ScratchDir {
public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "attnjit-test-XXXXXX").string();
    char *p = ::mkdtemp(tmpl.data());
    if (!p)
      throw std::runtime_error("mkdtemp failed");
    path_ = p;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  const std::string &path() const { return path_; }
  std::string operator/(const std::string &name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

inline std::string readFile(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
inline void writeFile(const std::string &path, const std::string &bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Captures what attnjit::logger() prints while alive (at warn and above).
class LogCapture {
public:
  LogCapture() : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)) {
    sink_->set_pattern("%l: %v");
    oldLevel_ = logger().level();
    if (oldLevel_ > spdlog::level::warn)
      logger().set_level(spdlog::level::warn);
    logger().sinks().push_back(sink_);
  }
  ~LogCapture() {
    auto &sinks = logger().sinks();
    for (auto it = sinks.begin(); it != sinks.end(); ++it)
      if (*it == sink_) {
        sinks.erase(it);
        break;
      }
    logger().set_level(oldLevel_);
  }
  std::string text() {
    logger().flush();
    return stream_.str();
  }
  /// Lines at warn level containing `needle`.
  int countWarnings(const std::string &needle = "") {
    std::istringstream in(text());
    int n = 0;
    for (std::string line; std::getline(in, line);)
      if (line.rfind("warning:", 0) == 0 && line.find(needle) != std::string::npos)
        ++n;
    return n;
  }

private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  spdlog::level::level_enum oldLevel_;
};

/// Sets an environment variable for a scope (unset when `value` is null).
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    const char *old = std::getenv(name);
    if (old)
      old_ = old;
    hadOld_ = old != nullptr;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (hadOld_)
      ::setenv(name_.c_str(), old_.c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

private:
  std::string name_, old_;
  bool hadOld_ = false;
};

} // namespace attnjit::testing

#endif // ATTNJIT_TESTS_UNIT_CACHETESTSUPPORT_H

//===- attnjit-aot.cpp - Precompile attention kernels into a bundle -------===//
//
// Part of attnjit. Compiles a set of specs, given by flags (the cross product of
// --variants, --head-dims, --causal, --dtypes, --lse and --archs, and for sdpa
// --masks and --dropout) or by a JSON
// list (--specs), in parallel, into one bundle file or into C++ source that
// embeds the bundle (--emit-cpp). An application linking only attnjit_runtime
// then serves these kernels without LLVM.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Compiler/Compile.h"
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/DiskCache.h"
#include "attnjit/Runtime/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace attnjit;
using nlohmann::json;

namespace {

const char *kUsage =
    "usage: attnjit-aot [spec selection] -o OUTPUT [options]\n"
    "\n"
    "spec selection (cross product; each list is comma-separated):\n"
    "  --variants LIST    flash, sdpa, sage                      (default: flash)\n"
    "  --head-dims LIST   e.g. 64,128                            (default: 128)\n"
    "  --causal MODE      on, off or both                        (default: both)\n"
    "  --dtypes LIST      bf16, f16, f32                         (default: bf16)\n"
    "  --lse [MODE]       also return log-sum-exp: on (no MODE), off or both\n"
    "  --masks LIST       sdpa masks: none, bool, additive, bool-per-key,\n"
    "                     additive-per-key (per key: [B, Sk] or [B, 1, 1, Sk])\n"
    "                                                            (default: none)\n"
    "  --dropout MODE     sdpa dropout: on, off or both          (default: off)\n"
    "                     (--masks and --dropout apply to sdpa specs only)\n"
    "  --archs LIST       e.g. sm_80,sm_90a                      (default: sm_90a)\n"
    "  --specs FILE.json  a JSON list of specs instead: canonical strings\n"
    "                     ('variant=flash;head_dim=128;...') or objects with the\n"
    "                     same keys; a spec without an arch is built for --archs\n"
    "\n"
    "options:\n"
    "  -o FILE            output bundle (.attnpack), or C++ source with --emit-cpp\n"
    "  --emit-cpp         write C++ source embedding the bundle, with a function\n"
    "                     registering it and a static initializer doing so at startup\n"
    "  --name NAME        C++ identifier for --emit-cpp (default: from the output name)\n"
    "  -j N               parallel compiles (default: hardware threads)\n"
    "  --cache            use the kernel disk cache (default: compile everything)\n"
    "  --no-cubin         PTX only (skip ptxas)\n"
    "  --dry-run          print the specs and exit\n"
    "  -q, --quiet        no per-kernel progress\n";

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "attnjit-aot: %s\n\n%s", msg.c_str(), kUsage);
  std::exit(2);
}

std::vector<std::string> splitList(const std::string &s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty())
      out.push_back(item);
  }
  return out;
}

std::vector<bool> parseMode(const std::string &flag, const std::string &v) {
  if (v == "both")
    return {false, true};
  if (v == "on" || v == "1" || v == "true")
    return {true};
  if (v == "off" || v == "0" || v == "false")
    return {false};
  usageError(flag + ": expected on, off or both, got '" + v + "'");
}

/// A spec from one element of a --specs list. `hasArch` says whether it named one.
AttentionSpec specFromJson(const json &j, bool &hasArch) {
  std::string text;
  if (j.is_string()) {
    text = j.get<std::string>();
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string v;
      if (it->is_string())
        v = it->get<std::string>();
      else if (it->is_boolean())
        v = it->get<bool>() ? "1" : "0";
      else if (it->is_number_integer())
        v = std::to_string(it->get<long long>());
      else
        throw Error(ErrorKind::InvalidArgument,
                    "--specs: field '" + it.key() + "' must be a string, bool or integer");
      text += it.key() + "=" + v + ";";
    }
  } else {
    throw Error(ErrorKind::InvalidArgument,
                "--specs: each element must be a spec string or object, got " + j.dump());
  }
  std::string error;
  auto spec = AttentionSpec::parse(text, &error);
  if (!spec)
    throw Error(ErrorKind::InvalidArgument, "--specs: " + error + " in " + j.dump());
  hasArch = text.find("arch=") != std::string::npos;
  return *spec;
}

std::string cppIdentifier(std::string s) {
  for (char &c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0])))
    s = "bundle_" + s;
  return s;
}

std::string humanSize(uint64_t bytes) {
  char buf[32];
  if (bytes < 1024 * 1024)
    std::snprintf(buf, sizeof(buf), "%.1f KiB", bytes / 1024.0);
  else
    std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

/// C++ source embedding `bytes`, with register_<name>() and a startup installer.
std::string emitCpp(const std::vector<uint8_t> &bytes, const std::string &name,
                    const std::vector<CompiledKernel> &kernels) {
  std::ostringstream out;
  out << "// Generated by attnjit-aot. Do not edit.\n"
      << "//\n"
      << "// An attnjit kernel bundle (" << kernels.size() << " kernels, " << bytes.size()
      << " bytes):\n";
  for (const CompiledKernel &k : kernels)
    out << "//   " << k.spec.canonical() << "\n";
  out << "//\n"
      << "// Linking this file adds the bundle to attnjit::KernelRuntime at startup\n"
      << "// (priority 0, before any disk cache or JIT). Define\n"
      << "// ATTNJIT_BUNDLE_NO_AUTO_REGISTER to register it yourself by calling\n"
      << "//   std::shared_ptr<attnjit::BundleProvider> attnjit_register_" << name << "();\n"
      << "#include \"attnjit/Runtime/Bundle.h\"\n"
      << "#include \"attnjit/Runtime/KernelRuntime.h\"\n\n"
      << "#include <cstddef>\n#include <memory>\n\n"
      << "namespace {\n"
      << "// One string literal: compilers digest it much faster than a brace list.\n"
      << "alignas(16) const char kBundle_" << name << "[] =\n";
  static const char *kHex = "0123456789abcdef";
  const size_t perLine = 32;
  for (size_t i = 0; i < bytes.size(); i += perLine) {
    out << "    \"";
    for (size_t j = i; j < std::min(bytes.size(), i + perLine); ++j)
      out << "\\x" << kHex[bytes[j] >> 4] << kHex[bytes[j] & 15];
    out << "\"\n";
  }
  if (bytes.empty())
    out << "    \"\"\n";
  out << "    ;\n"
      << "constexpr std::size_t kBundleSize_" << name << " = " << bytes.size() << ";\n"
      << "static_assert(sizeof(kBundle_" << name << ") == kBundleSize_" << name
      << " + 1, \"embedded bundle size\");\n"
      << "} // namespace\n\n"
      << "std::shared_ptr<attnjit::BundleProvider> attnjit_register_" << name << "() {\n"
      << "  return attnjit::registerBundle(kBundle_" << name << ", kBundleSize_" << name
      << ", \"" << name << " (embedded)\");\n"
      << "}\n\n"
      << "#ifndef ATTNJIT_BUNDLE_NO_AUTO_REGISTER\n"
      << "namespace {\n"
      << "void attnjitInstall_" << name << "(attnjit::KernelRuntime &rt) {\n"
      << "  rt.addProvider(attnjit::BundleProvider::load(kBundle_" << name << ", kBundleSize_"
      << name << ", \"" << name << " (embedded)\"), 0);\n"
      << "}\n"
      << "const struct AttnjitBundleRegistration_" << name << " {\n"
      << "  AttnjitBundleRegistration_" << name << "() {\n"
      << "    attnjit::setDefaultProviderInstaller(&attnjitInstall_" << name << ");\n"
      << "  }\n"
      << "} attnjitBundleRegistration_" << name << ";\n"
      << "} // namespace\n"
      << "#endif\n";
  return out.str();
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> variants = {"flash"}, headDims = {"128"}, dtypes = {"bf16"},
                           archs = {"sm_90a"};
  std::vector<bool> causalModes = {false, true}, lseModes = {false}, dropoutModes = {false};
  std::vector<std::string> masks = {"none"};
  std::string specsFile, output, name;
  bool emitCppOut = false, dryRun = false, quiet = false, useCache = false, cubin = true;
  bool archsGiven = false;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());

  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      size_t eq = a.find('=');
      if (a.rfind("--", 0) == 0 && eq != std::string::npos)
        return a.substr(eq + 1);
      if (i + 1 >= argc)
        usageError(a + " needs a value");
      return argv[++i];
    };
    std::string flag = a.substr(0, a.find('='));
    if (flag == "--variants") variants = splitList(value());
    else if (flag == "--head-dims") headDims = splitList(value());
    else if (flag == "--causal") causalModes = parseMode("--causal", value());
    else if (flag == "--dtypes") dtypes = splitList(value());
    else if (flag == "--archs") { archs = splitList(value()); archsGiven = true; }
    else if (flag == "--masks") masks = splitList(value());
    else if (flag == "--dropout") dropoutModes = parseMode("--dropout", value());
    else if (flag == "--lse") {
      if (a.find('=') != std::string::npos)
        lseModes = parseMode("--lse", value());
      else if (i + 1 < argc && (std::string(argv[i + 1]) == "both" ||
                                std::string(argv[i + 1]) == "on" ||
                                std::string(argv[i + 1]) == "off"))
        lseModes = parseMode("--lse", argv[++i]);
      else
        lseModes = {true};
    } else if (flag == "--specs") specsFile = value();
    else if (flag == "-o" || flag == "--output") output = value();
    else if (flag == "--name") name = value();
    else if (flag == "--emit-cpp") emitCppOut = true;
    else if (flag == "--dry-run") dryRun = true;
    else if (flag == "--cache") useCache = true;
    else if (flag == "--no-cubin") cubin = false;
    else if (flag == "-q" || flag == "--quiet") quiet = true;
    else if (flag == "-j" || a.rfind("-j", 0) == 0) {
      std::string v = a.size() > 2 && a != "-j" ? a.substr(2) : value();
      try {
        jobs = static_cast<unsigned>(std::max(1, std::stoi(v)));
      } catch (...) {
        usageError("-j: expected a number, got '" + v + "'");
      }
    } else if (flag == "-h" || flag == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      usageError("unknown argument '" + a + "'");
    }
  }
  if (output.empty() && !dryRun)
    usageError("-o OUTPUT is required");

  // Expand the selection.
  std::vector<AttentionSpec> specs;
  try {
    if (!specsFile.empty()) {
      std::ifstream in(specsFile);
      if (!in)
        throw Error(ErrorKind::Io, "--specs: cannot read " + specsFile);
      json list = json::parse(in, nullptr, /*allow_exceptions=*/false);
      if (list.is_discarded() || !list.is_array())
        throw Error(ErrorKind::InvalidArgument, "--specs: " + specsFile +
                                                    " is not a JSON list");
      for (const json &j : list) {
        bool hasArch = false;
        AttentionSpec s = specFromJson(j, hasArch);
        if (hasArch && !archsGiven) {
          specs.push_back(s);
          continue;
        }
        for (const std::string &arch : archs) {
          s.arch = arch;
          specs.push_back(s);
        }
      }
    } else {
      // SDPA mask forms: kind and whether the mask varies only over keys.
      std::vector<std::pair<MaskKind, bool>> maskForms;
      for (const std::string &m : masks) {
        std::string kind = m;
        bool perKey = false;
        if (kind.size() > 8 && kind.compare(kind.size() - 8, 8, "-per-key") == 0) {
          kind.resize(kind.size() - 8);
          perKey = true;
        }
        auto mk = parseMaskKind(kind);
        if (!mk || (perKey && *mk == MaskKind::None))
          throw Error(ErrorKind::InvalidArgument,
                      "--masks: unknown '" + m +
                          "' (expected none, bool, additive, bool-per-key or additive-per-key)");
        maskForms.emplace_back(*mk, perKey);
      }
      for (const std::string &arch : archs)
        for (const std::string &v : variants)
          for (const std::string &d : headDims)
            for (const std::string &t : dtypes)
              for (bool causal : causalModes)
                for (bool lse : lseModes) {
                  AttentionSpec s;
                  auto variant = parseVariant(v);
                  if (!variant)
                    throw Error(ErrorKind::InvalidArgument, "--variants: unknown '" + v + "'");
                  auto dtype = parseDType(t);
                  if (!dtype)
                    throw Error(ErrorKind::InvalidArgument, "--dtypes: unknown '" + t + "'");
                  s.variant = *variant;
                  try {
                    s.headDim = std::stoi(d);
                  } catch (...) {
                    throw Error(ErrorKind::InvalidArgument, "--head-dims: not a number '" + d +
                                                                "'");
                  }
                  s.dtype = *dtype;
                  s.causal = causal;
                  s.returnLse = lse;
                  s.arch = arch;
                  if (s.variant != Variant::Sdpa) {
                    specs.push_back(s);
                    continue;
                  }
                  for (auto [kind, perKey] : maskForms)
                    for (bool dropout : dropoutModes) {
                      s.maskKind = kind;
                      s.maskPerKey = perKey;
                      s.dropout = dropout;
                      specs.push_back(s);
                    }
                }
    }
  } catch (const Error &e) {
    std::fprintf(stderr, "attnjit-aot: %s\n", e.what());
    return 2;
  }
  // Drop duplicates, keep order; reject invalid specs before compiling anything.
  {
    std::set<std::string> seen;
    std::vector<AttentionSpec> unique;
    int invalid = 0;
    for (const AttentionSpec &s : specs) {
      if (!seen.insert(s.canonical()).second)
        continue;
      std::string why = s.validate();
      if (archComputeCapability(s.arch) < 0)
        why = "arch: unknown '" + s.arch + "'";
      if (!why.empty()) {
        std::fprintf(stderr, "attnjit-aot: invalid spec %s: %s\n", s.canonical().c_str(),
                     why.c_str());
        ++invalid;
      }
      unique.push_back(s);
    }
    if (invalid)
      return 2;
    specs = std::move(unique);
  }
  if (specs.empty()) {
    std::fprintf(stderr, "attnjit-aot: no specs selected\n");
    return 2;
  }
  if (dryRun) {
    for (const AttentionSpec &s : specs)
      std::printf("%s\n", s.canonical().c_str());
    std::printf("%zu specs\n", specs.size());
    return 0;
  }

  // Compile in parallel; results keep the selection's order.
  CompileOptions opts;
  opts.produceCubin = cubin;
  std::shared_ptr<KernelProvider> provider = makeJitProvider(opts);
  if (useCache)
    provider = std::make_shared<DiskCache>(provider, compilerBuildId());
  // At most 256: far more threads than cores (-j 100000) could fail to start,
  // which would end the process.
  jobs = std::min<unsigned>({jobs, static_cast<unsigned>(specs.size()), 256u});
  std::vector<CompiledKernel> kernels(specs.size());
  std::vector<std::string> errors(specs.size());
  std::vector<double> times(specs.size(), 0.0);
  std::atomic<size_t> next{0}, done{0};
  std::mutex printMutex;
  const int width = static_cast<int>(std::to_string(specs.size()).size());
  if (!quiet)
    std::printf("compiling %zu kernels with %u threads\n", specs.size(), jobs);
  auto start = std::chrono::steady_clock::now();
  auto worker = [&] {
    for (size_t i; (i = next.fetch_add(1)) < specs.size();) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        auto k = provider->getKernel(specs[i]);
        if (!k)
          throw Error(ErrorKind::Compile, "the compiler returned no kernel");
        kernels[i] = *k;
      } catch (const std::exception &e) {
        errors[i] = e.what();
      }
      times[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                     .count();
      size_t n = done.fetch_add(1) + 1;
      if (quiet && errors[i].empty())
        continue;
      std::lock_guard<std::mutex> lock(printMutex);
      if (errors[i].empty())
        std::printf("[%*zu/%zu] %-44s %8.0f ms  ptx %s%s\n", width, n, specs.size(),
                    kernels[i].entryName().c_str(), times[i],
                    humanSize(kernels[i].ptx.size()).c_str(),
                    kernels[i].cubin.empty()
                        ? ""
                        : ("  cubin " + humanSize(kernels[i].cubin.size())).c_str());
      else
        std::printf("[%*zu/%zu] FAILED %s (%.0f ms): %s\n", width, n, specs.size(),
                    specs[i].canonical().c_str(), times[i], errors[i].c_str());
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < jobs; ++t)
    pool.emplace_back(worker);
  for (auto &t : pool)
    t.join();
  double wallMs =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();

  size_t failed = std::count_if(errors.begin(), errors.end(), [](auto &e) { return !e.empty(); });
  if (failed) {
    std::fprintf(stderr, "attnjit-aot: %zu of %zu kernels failed; nothing written\n", failed,
                 specs.size());
    return 1;
  }

  std::vector<uint8_t> bytes;
  try {
    bytes = serializeBundle(kernels);
    if (emitCppOut) {
      if (name.empty()) {
        std::string base = output.substr(output.find_last_of('/') + 1);
        name = base.substr(0, base.find('.'));
      }
      name = cppIdentifier(name);
      std::string source = emitCpp(bytes, name, kernels);
      std::ofstream out(output, std::ios::binary | std::ios::trunc);
      out << source;
      out.close();
      if (!out)
        throw Error(ErrorKind::Io, "cannot write " + output);
    } else {
      writeBundle(output, kernels);
    }
  } catch (const Error &e) {
    std::fprintf(stderr, "attnjit-aot: %s\n", e.what());
    return 1;
  }

  uint64_t ptxBytes = 0, cubinBytes = 0;
  double sumMs = 0, maxMs = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    ptxBytes += kernels[i].ptx.size();
    cubinBytes += kernels[i].cubin.size();
    sumMs += times[i];
    maxMs = std::max(maxMs, times[i]);
  }
  std::printf("%zu kernels in %.2f s (%u threads; per kernel: mean %.0f ms, max %.0f ms)\n",
              kernels.size(), wallMs / 1000.0, jobs, sumMs / kernels.size(), maxMs);
  std::printf("%s: %s%s (ptx %s, cubin %s)\n", output.c_str(), humanSize(bytes.size()).c_str(),
              emitCppOut ? " bundle embedded as C++" : "", humanSize(ptxBytes).c_str(),
              humanSize(cubinBytes).c_str());
  return 0;
}

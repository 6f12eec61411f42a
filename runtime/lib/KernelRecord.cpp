//===- KernelRecord.cpp - CompiledKernel metadata <-> JSON ----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "KernelRecord.h"

#include <cerrno>
#include <cstdint>
#include <optional>
#include <utility>
#include <cstring>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

namespace attnjit::detail {

std::string joinPath(const std::string &dir, std::string_view name) {
  std::string p = dir;
  if (!p.empty() && p.back() != '/')
    p += '/';
  p += name;
  return p;
}

namespace {

const char *fileKind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

ReadOutcome refuse(int err, std::string message) { return ReadOutcome{err, std::move(message)}; }

/// Refuses anything but a regular file of at most maxBytes.
ReadOutcome checkStat(const struct stat &st, const ReadLimits &limits) {
  if (S_ISLNK(st.st_mode))
    return refuse(ELOOP, "is a symbolic link; only regular files are read here");
  if (!S_ISREG(st.st_mode))
    return refuse(S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
                  std::string("is ") + fileKind(st.st_mode) + ", not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limits.maxBytes)
    return refuse(EFBIG, std::to_string(st.st_size) + " bytes, beyond the limit of " +
                             std::to_string(limits.maxBytes));
  return {};
}

ReadOutcome fromErrno(int err) { return refuse(err, std::strerror(err)); }

} // namespace

ReadOutcome readRegularFile(const std::string &path, std::string &out, ReadLimits limits) {
  out.clear();
  // Look before opening: opening a FIFO or a device can block or act.
  struct stat st;
  if ((limits.followSymlink ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st)) != 0)
    return fromErrno(errno);
  if (ReadOutcome r = checkStat(st, limits); !r)
    return r;
  int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (!limits.followSymlink)
    flags |= O_NOFOLLOW;
  int fd;
  do {
    fd = ::open(path.c_str(), flags);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return fromErrno(errno);
  // The path may have been replaced between the stat and the open.
  ReadOutcome r;
  if (::fstat(fd, &st) != 0)
    r = fromErrno(errno);
  else
    r = checkStat(st, limits);
  if (!r) {
    ::close(fd);
    return r;
  }
  out.resize(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      out.clear();
      return fromErrno(err);
    }
    if (n == 0)
      break; // shrank under us; the readers' size checks report it
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  ::close(fd);
  return {};
}

bool writeFileAtomically(const std::string &path, const std::string &tmpPath, const char *data,
                         size_t size, std::string *error) {
  auto fail = [&](const char *what, const std::string &target, int err, int fd) {
    if (fd >= 0)
      ::close(fd);
    ::unlink(tmpPath.c_str());
    if (error)
      *error = std::string(what) + " " + target + ": " + std::strerror(err);
    return false;
  };
  int fd = ::open(tmpPath.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return fail("cannot create", tmpPath, errno, -1);
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return fail("cannot write", tmpPath, n < 0 ? errno : EIO, fd);
    data += n;
    size -= static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0)
    return fail("cannot fsync", tmpPath, errno, fd);
  if (::close(fd) != 0)
    return fail("cannot close", tmpPath, errno, -1);
  if (::rename(tmpPath.c_str(), path.c_str()) != 0)
    return fail("cannot rename to", path, errno, -1);
  // Make the rename itself durable; a failure here loses only durability.
  std::string dirBuf = path;
  const char *dir = ::dirname(dirBuf.data());
  int dfd = ::open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return true;
}

nlohmann::json launchPlanToJson(const LaunchPlan &plan) {
  nlohmann::json kernels = nlohmann::json::array();
  for (const KernelLaunchInfo &k : plan.kernels) {
    nlohmann::json params = nlohmann::json::array();
    for (ParamKind p : k.params)
      params.push_back(std::string(toString(p)));
    kernels.push_back({{"entry", k.entryName},
                       {"threads", k.threadsPerBlock},
                       {"shared_mem_bytes", k.sharedMemBytes},
                       {"grid", std::string(toString(k.grid))},
                       {"block_rows", k.blockRows},
                       {"ctas_per_sm", k.ctasPerSm},
                       {"cluster", {k.cluster.x, k.cluster.y, k.cluster.z}},
                       {"params", std::move(params)}});
  }
  return {{"kernels", std::move(kernels)},
          {"workspace",
           {{"fixed_bytes", plan.workspace.fixedBytes},
            {"per_launch", plan.workspace.perLaunch}}}};
}

bool launchPlanFromJson(const nlohmann::json &j, LaunchPlan &out, std::string *error) {
  auto fail = [&](std::string msg) {
    if (error)
      *error = "metadata: plan: " + std::move(msg);
    return false;
  };
  if (!j.is_object())
    return fail("not a JSON object");
  auto kernelsIt = j.find("kernels");
  if (kernelsIt == j.end() || !kernelsIt->is_array())
    return fail("missing array field 'kernels'");
  LaunchPlan plan;
  for (size_t i = 0; i < kernelsIt->size(); ++i) {
    const nlohmann::json &r = (*kernelsIt)[i];
    std::string where = "kernel " + std::to_string(i) + ": ";
    if (!r.is_object())
      return fail(where + "not a JSON object");
    auto integer = [&](const char *name, int &dst) {
      auto it = r.find(name);
      if (it == r.end() || !it->is_number_integer())
        return false;
      int64_t v = it->get<int64_t>();
      if (v < INT32_MIN || v > INT32_MAX)
        return false;
      dst = static_cast<int>(v);
      return true;
    };
    KernelLaunchInfo k;
    auto entry = r.find("entry");
    if (entry == r.end() || !entry->is_string())
      return fail(where + "missing string field 'entry'");
    k.entryName = entry->get<std::string>();
    for (auto [name, dst] : {std::pair<const char *, int *>{"threads", &k.threadsPerBlock},
                             {"shared_mem_bytes", &k.sharedMemBytes},
                             {"block_rows", &k.blockRows},
                             {"ctas_per_sm", &k.ctasPerSm}})
      if (!integer(name, *dst))
        return fail(where + "missing 32-bit integer field '" + name + "'");
    auto grid = r.find("grid");
    std::optional<GridPolicy> policy;
    if (grid != r.end() && grid->is_string())
      policy = parseGridPolicy(grid->get<std::string>());
    if (!policy)
      return fail(where + "field 'grid' is not one of \"tile\", \"persistent\"");
    k.grid = *policy;
    auto cluster = r.find("cluster");
    if (cluster == r.end() || !cluster->is_array() || cluster->size() != 3 ||
        !(*cluster)[0].is_number_integer() || !(*cluster)[1].is_number_integer() ||
        !(*cluster)[2].is_number_integer())
      return fail(where + "field 'cluster' is not [x, y, z]");
    k.cluster = ClusterShape{(*cluster)[0].get<int>(), (*cluster)[1].get<int>(),
                             (*cluster)[2].get<int>()};
    auto params = r.find("params");
    if (params == r.end() || !params->is_array())
      return fail(where + "missing array field 'params'");
    for (size_t p = 0; p < params->size(); ++p) {
      const nlohmann::json &v = (*params)[p];
      std::optional<ParamKind> kind;
      if (v.is_string())
        kind = parseParamKind(v.get<std::string>());
      if (!kind)
        return fail(where + "params[" + std::to_string(p) + "] is " + v.dump() +
                    ", not one of \"ptr\", \"i32\", \"i64\", \"f32\", \"tensormap\"");
      k.params.push_back(*kind);
    }
    plan.kernels.push_back(std::move(k));
  }
  auto ws = j.find("workspace");
  if (ws == j.end() || !ws->is_object())
    return fail("missing object field 'workspace'");
  auto fixed = ws->find("fixed_bytes");
  auto perLaunch = ws->find("per_launch");
  if (fixed == ws->end() || !fixed->is_number_unsigned() || perLaunch == ws->end() ||
      !perLaunch->is_boolean())
    return fail("workspace: expected {\"fixed_bytes\": unsigned, \"per_launch\": bool}");
  plan.workspace.fixedBytes = fixed->get<uint64_t>();
  plan.workspace.perLaunch = perLaunch->get<bool>();
  if (std::string why = plan.validate(); !why.empty())
    return fail(why);
  out = std::move(plan);
  return true;
}

nlohmann::json kernelRecordToJson(const CompiledKernel &kernel) {
  nlohmann::json j = nlohmann::json::object();
  // Start from the public metadata so tools see the same fields everywhere, then
  // pin the ones this reader depends on under names it controls.
  nlohmann::json pub = nlohmann::json::parse(kernel.metadataJson(), nullptr,
                                             /*allow_exceptions=*/false);
  if (pub.is_object())
    j = std::move(pub);
  j["spec"] = kernel.spec.canonical();
  j["arch"] = kernel.spec.arch;
  j["plan"] = launchPlanToJson(kernel.plan);
  j["abi_version"] = kernel.abiVersion;
  j["compile_ms"] = kernel.compileMs;
  j["ptx_bytes"] = kernel.ptx.size();
  j["cubin_bytes"] = kernel.cubin.size();
  return j;
}

bool kernelRecordFromJson(const nlohmann::json &j, size_t ptxBytes, size_t cubinBytes,
                          CompiledKernel &out, std::string *error) {
  auto fail = [&](std::string msg) {
    if (error)
      *error = std::move(msg);
    return false;
  };
  if (!j.is_object())
    return fail("metadata is not a JSON object");
  auto str = [&](const char *name, std::string &dst) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string())
      return false;
    dst = it->get<std::string>();
    return true;
  };
  auto integer = [&](const char *name, int64_t &dst) {
    auto it = j.find(name);
    if (it == j.end() || !it->is_number_integer())
      return false;
    dst = it->get<int64_t>();
    return true;
  };
  std::string specText, arch;
  if (!str("spec", specText))
    return fail("metadata: missing string field 'spec'");
  if (!str("arch", arch))
    return fail("metadata: missing string field 'arch'");
  std::string specError;
  auto spec = AttentionSpec::parse(specText, &specError);
  if (!spec)
    return fail("metadata: unparseable spec '" + specText + "': " + specError);
  if (spec->arch != arch)
    return fail("metadata: arch '" + arch + "' differs from the spec's '" + spec->arch + "'");
  // The checksum proves the bytes are whole, not that the writer was honest
  // or that this runtime can use them: every field is range-checked.
  if (std::string why = spec->validate(); !why.empty())
    return fail("metadata: spec '" + specText + "': " + why);
  out.spec = *spec;
  auto planIt = j.find("plan");
  if (planIt == j.end())
    return fail("metadata: missing object field 'plan' (written by format 1 and older, "
                "which had no launch plan)");
  if (!launchPlanFromJson(*planIt, out.plan, error))
    return false;
  int64_t abi, ptxLen, cubinLen;
  if (!integer("abi_version", abi) || !integer("ptx_bytes", ptxLen) ||
      !integer("cubin_bytes", cubinLen))
    return fail("metadata: missing integer field (abi_version, ptx_bytes or cubin_bytes)");
  if (ptxLen != static_cast<int64_t>(ptxBytes) || cubinLen != static_cast<int64_t>(cubinBytes))
    return fail("metadata: code sizes (ptx " + std::to_string(ptxLen) + ", cubin " +
                std::to_string(cubinLen) + ") differ from the stored ones (ptx " +
                std::to_string(ptxBytes) + ", cubin " + std::to_string(cubinBytes) + ")");
  if (int want = abiVersion(out.spec.variant);
      want != 0 ? abi != want : (abi < 0 || abi > INT32_MAX))
    return fail("metadata: abi_version " + std::to_string(abi) + ", this runtime's " +
                std::string(toString(out.spec.variant)) + " ABI is " + std::to_string(want));
  if (ptxLen == 0 && cubinLen == 0)
    return fail("metadata: the kernel has neither PTX nor a cubin");
  int maxShared = archMaxSharedBytes(out.spec.arch);
  for (size_t i = 0; i < out.plan.kernels.size(); ++i) {
    const KernelLaunchInfo &k = out.plan.kernels[i];
    if (k.sharedMemBytes > maxShared)
      return fail("metadata: plan kernel " + std::to_string(i) + ": " +
                  std::to_string(k.sharedMemBytes) + " bytes of shared memory, beyond " +
                  out.spec.arch + "'s " + std::to_string(maxShared));
  }
  out.abiVersion = static_cast<int>(abi);
  auto ms = j.find("compile_ms");
  out.compileMs = (ms != j.end() && ms->is_number()) ? ms->get<double>() : 0.0;
  // Informational ptxas statistics; absent in records of older writers.
  auto optionalInt = [&](const char *name) {
    auto it = j.find(name);
    return (it != j.end() && it->is_number_integer()) ? it->get<int>() : -1;
  };
  out.registers = optionalInt("registers");
  out.spillBytes = optionalInt("spill_bytes");
  return true;
}

} // namespace attnjit::detail

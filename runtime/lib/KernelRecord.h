//===- KernelRecord.h - Storing kernels: JSON records, files (private) -*- C++ -*-===//
//
// Part of attnjit. The disk cache and bundles store a kernel as a JSON object
// (everything but the code) next to its PTX and cubin bytes, in files with
// little-endian headers written atomically. Both use these helpers so that the
// fields they write and the checks they make on reading stay in one place.
// Private to attnjit_runtime.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_LIB_KERNELRECORD_H
#define ATTNJIT_RUNTIME_LIB_KERNELRECORD_H

#include "attnjit/Runtime/CompiledKernel.h"
#include "LittleEndian.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace attnjit::detail {

/// `dir` + "/" + `name` (no doubled slash).
std::string joinPath(const std::string &dir, std::string_view name);
/// How readRegularFile treats a path.
struct ReadLimits {
  uint64_t maxBytes;          ///< larger files are refused before any byte is read
  bool followSymlink = true;  ///< false: a symbolic link is refused (ELOOP)
};
/// Outcome of readRegularFile: errno 0 on success; else the errno (ENOENT or
/// ENOTDIR: missing; ELOOP: a refused symbolic link; EINVAL: not a regular
/// file; EFBIG: beyond maxBytes) and a message saying which.
struct ReadOutcome {
  int err = 0;
  std::string message;
  explicit operator bool() const { return err == 0; }
};
/// Reads a whole regular file. A FIFO, socket, device or directory is refused
/// after a stat and an O_NONBLOCK open, so nothing blocks on it; the size is
/// checked before reading, so a huge or sparse file costs no memory.
ReadOutcome readRegularFile(const std::string &path, std::string &out, ReadLimits limits);
/// Writes `size` bytes to `tmpPath` (created exclusively, mode 0644), fsyncs
/// it, renames it to `path` and fsyncs the directory. On failure removes
/// `tmpPath`, sets *error (call, path, strerror) and returns false.
bool writeFileAtomically(const std::string &path, const std::string &tmpPath, const char *data,
                         size_t size, std::string *error);

/// A launch plan as JSON: {"kernels": [{"entry", "threads", "shared_mem_bytes",
/// "grid": "tile"|"persistent", "block_rows", "ctas_per_sm", "cluster": [x, y, z],
/// "params": ["ptr", "i32", "i64", "f32", "tensormap", ...]}, ...],
/// "workspace": {"fixed_bytes", "per_launch"}}. Written by metadataJson() and
/// stored in cache entries (format 2) and bundles (format 2).
nlohmann::json launchPlanToJson(const LaunchPlan &plan);
/// Reads launchPlanToJson's output and validates the plan; false with *error
/// naming the field (or LaunchPlan::validate's message) otherwise. Never throws.
bool launchPlanFromJson(const nlohmann::json &j, LaunchPlan &out, std::string *error);

/// The kernel's metadataJson() fields plus the ones needed to rebuild it
/// (spec, launch plan, ABI, compile time, code sizes).
nlohmann::json kernelRecordToJson(const CompiledKernel &kernel);

/// Rebuilds everything but ptx/cubin from `j` and checks that the recorded code
/// sizes equal `ptxBytes`/`cubinBytes`. Returns false and sets *error on any
/// missing, mistyped or inconsistent field; never throws.
bool kernelRecordFromJson(const nlohmann::json &j, size_t ptxBytes, size_t cubinBytes,
                          CompiledKernel &out, std::string *error);

} // namespace attnjit::detail

#endif // ATTNJIT_RUNTIME_LIB_KERNELRECORD_H

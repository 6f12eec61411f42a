//===- Bundle.h - Many precompiled kernels in one file ------------*- C++ -*-===//
//
// Part of attnjit. attnjit-aot compiles a set of specs into a bundle (or C++
// source embedding one); the runtime serves kernels from it before any disk
// cache or JIT, so an application linking only attnjit_runtime runs the
// precompiled kernels. Layout (integers little-endian):
//
//   offset  size  field
//        0     8  magic "ATTNPACK"
//        8     4  format version (kBundleFormatVersion)
//       12     4  number of kernels
//       16     8  index length I
//       24     8  blob length B
//       32     8  checksum: XXH64 of bytes [40, end), seeded with XXH64 of bytes [0, 32)
//       40     I  index JSON: {"format_version": 2, "kernels": [record, ...]}, where a
//                 record is the kernel's metadata (its launch plan included) plus
//                 ptx_offset/cubin_offset into the blob
//     40+I     B  blob: every kernel's PTX and cubin
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_BUNDLE_H
#define ATTNJIT_RUNTIME_BUNDLE_H

#include "attnjit/Runtime/KernelProvider.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace attnjit {

/// Version of the bundle layout above; a bundle of another version is refused
/// with an Error naming both versions. 2: records hold a launch plan ("plan").
inline constexpr uint32_t kBundleFormatVersion = 2;

/// The largest bundle file load() reads; a larger file is refused before any
/// byte of it is read (a bundle of every flash and SDPA spec for three archs
/// is well under 100 MB).
inline constexpr uint64_t kMaxBundleBytes = uint64_t(1) << 30;

/// The bytes of a bundle holding `kernels`, in order. Throws Error
/// (InvalidArgument) when two kernels have the same spec (arch included).
std::vector<uint8_t> serializeBundle(const std::vector<CompiledKernel> &kernels);
/// Writes serializeBundle(kernels) to `path` atomically (temporary file in the
/// same directory, fsync, rename). Throws Error (Io) naming the path and errno.
void writeBundle(const std::string &path, const std::vector<CompiledKernel> &kernels);

/// Serves the kernels of one bundle. Lookups are read-only and thread-safe.
class BundleProvider : public KernelProvider {
public:
  /// Reads and checks the bundle at `path`. Throws Error (Io) when it cannot be
  /// read (not a regular file, larger than kMaxBundleBytes), or is truncated,
  /// of another version, fails its checksum, does not parse, or holds no
  /// kernel, a record with an out-of-range field (KernelRecord.h) or code
  /// ranges that are empty or overlap; the message names the file and the fault.
  static std::shared_ptr<BundleProvider> load(const std::string &path);
  /// Same for bundle bytes in memory (e.g. embedded by attnjit-aot --emit-cpp);
  /// the bytes are copied. `sourceName` is used in messages.
  static std::shared_ptr<BundleProvider> load(const void *data, size_t size,
                                              std::string sourceName = "<memory>");

  std::string name() const override { return "bundle"; }
  /// The kernel whose spec canonical text (arch included) equals `spec`'s. When
  /// `spec`'s config is incomplete, its zero fields match any value: the first
  /// kernel in bundle order whose other fields are equal is returned.
  std::shared_ptr<const CompiledKernel> getKernel(const AttentionSpec &spec) override;

  /// Every kernel, in bundle order.
  const std::vector<std::shared_ptr<const CompiledKernel>> &kernels() const { return kernels_; }
  /// Path or sourceName it was loaded from.
  const std::string &source() const { return source_; }
  /// Size of the bundle in bytes.
  size_t sizeBytes() const { return sizeBytes_; }

private:
  BundleProvider() = default;

  std::string source_;
  size_t sizeBytes_ = 0;
  std::vector<std::shared_ptr<const CompiledKernel>> kernels_;
  /// canonical() -> index into kernels_
  std::unordered_map<std::string, size_t> exact_;
  /// canonical() with the config cleared -> indices into kernels_, bundle order
  std::unordered_map<std::string, std::vector<size_t>> byShape_;
};

/// Loads the bundle at `path` and adds it to KernelRuntime::instance() with
/// priority 0 (asked before the disk cache and the JIT). Throws like load().
std::shared_ptr<BundleProvider> registerBundle(const std::string &path);
/// Same for bundle bytes in memory.
std::shared_ptr<BundleProvider> registerBundle(const void *data, size_t size,
                                               std::string sourceName = "<memory>");

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_BUNDLE_H

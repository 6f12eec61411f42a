//===- Bundle.cpp - Many precompiled kernels in one file ------------------===//
//
// Part of attnjit. See Bundle.h for the layout.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Bundle.h"

#include "KernelRecord.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Hash.h"
#include "attnjit/Runtime/KernelRuntime.h"
#include "attnjit/Runtime/Logging.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <unordered_set>
#include <unistd.h>

namespace attnjit {

using namespace detail;

namespace {

constexpr char kMagic[8] = {'A', 'T', 'T', 'N', 'P', 'A', 'C', 'K'};
constexpr size_t kHeaderBytes = 40;
constexpr size_t kChecksumOffset = 32;

uint64_t bundleChecksum(const char *data, size_t size) {
  uint64_t seed = xxh64(data, kChecksumOffset);
  return xxh64(data + kHeaderBytes, size - kHeaderBytes, seed);
}

/// The spec's canonical text with its config cleared: kernels that differ only
/// in tiling share it.
std::string shapeKey(AttentionSpec spec) {
  spec.config = KernelConfig{};
  return spec.canonical();
}

bool configMatches(const KernelConfig &want, const KernelConfig &have) {
  return (want.blockM == 0 || want.blockM == have.blockM) &&
         (want.blockN == 0 || want.blockN == have.blockN) &&
         (want.numWarps == 0 || want.numWarps == have.numWarps) &&
         (want.stages == 0 || want.stages == have.stages);
}

} // namespace

std::vector<uint8_t> serializeBundle(const std::vector<CompiledKernel> &kernels) {
  nlohmann::json records = nlohmann::json::array();
  std::unordered_set<std::string> seen;
  std::string blob;
  for (const CompiledKernel &k : kernels) {
    std::string canonical = k.spec.canonical();
    if (!seen.insert(canonical).second)
      throw Error(ErrorKind::InvalidArgument,
                  "bundle: two kernels have the same spec '" + canonical + "'");
    nlohmann::json r = kernelRecordToJson(k);
    r["ptx_offset"] = blob.size();
    blob.append(k.ptx);
    r["cubin_offset"] = blob.size();
    blob.append(reinterpret_cast<const char *>(k.cubin.data()), k.cubin.size());
    records.push_back(std::move(r));
  }
  nlohmann::json index = {{"format_version", kBundleFormatVersion}, {"kernels", records}};
  std::string indexText = index.dump();

  std::string out;
  out.reserve(kHeaderBytes + indexText.size() + blob.size());
  out.append(kMagic, sizeof(kMagic));
  putU32(out, kBundleFormatVersion);
  putU32(out, static_cast<uint32_t>(kernels.size()));
  putU64(out, indexText.size());
  putU64(out, blob.size());
  putU64(out, 0); // checksum, filled below
  out.append(indexText);
  out.append(blob);
  setU64(out, kChecksumOffset, bundleChecksum(out.data(), out.size()));
  return std::vector<uint8_t>(out.begin(), out.end());
}

void writeBundle(const std::string &path, const std::vector<CompiledKernel> &kernels) {
  static std::atomic<uint64_t> counter{0};
  std::vector<uint8_t> bytes = serializeBundle(kernels);
  std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(counter.fetch_add(1));
  std::string error;
  if (!writeFileAtomically(path, tmp, reinterpret_cast<const char *>(bytes.data()),
                           bytes.size(), &error))
    throw Error(ErrorKind::Io, "bundle: " + error);
}

std::shared_ptr<BundleProvider> BundleProvider::load(const std::string &path) {
  std::string bytes;
  if (ReadOutcome read = readRegularFile(path, bytes, {kMaxBundleBytes}); !read)
    throw Error(ErrorKind::Io, "bundle " + path + ": cannot read: " + read.message);
  return load(bytes.data(), bytes.size(), path);
}

std::shared_ptr<BundleProvider> BundleProvider::load(const void *data, size_t size,
                                                     std::string sourceName) {
  const char *bytes = static_cast<const char *>(data);
  auto fail = [&](const std::string &msg) {
    return Error(ErrorKind::Io, "bundle " + sourceName + ": " + msg);
  };
  if (size < kHeaderBytes)
    throw fail("truncated: " + std::to_string(size) + " bytes, shorter than the header");
  if (std::memcmp(bytes, kMagic, sizeof(kMagic)) != 0)
    throw fail("not an attnjit bundle (bad magic)");
  uint32_t version = getU32(bytes + 8);
  if (version != kBundleFormatVersion)
    throw fail("format version " + std::to_string(version) + ", this runtime reads " +
               std::to_string(kBundleFormatVersion) + "; rebuild it with this attnjit-aot");
  uint32_t count = getU32(bytes + 12);
  uint64_t indexLen = getU64(bytes + 16), blobLen = getU64(bytes + 24);
  if (indexLen > size || blobLen > size || kHeaderBytes + indexLen + blobLen != size)
    throw fail("truncated or corrupt: " + std::to_string(size) + " bytes, header says " +
               std::to_string(kHeaderBytes + indexLen + blobLen));
  if (getU64(bytes + kChecksumOffset) != bundleChecksum(bytes, size))
    throw fail("checksum mismatch (the file is damaged)");

  nlohmann::json index = nlohmann::json::parse(bytes + kHeaderBytes,
                                               bytes + kHeaderBytes + indexLen, nullptr,
                                               /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object() || !index.contains("kernels") ||
      !index["kernels"].is_array())
    throw fail("index is not valid JSON with a 'kernels' list");
  const nlohmann::json &records = index["kernels"];
  if (records.size() != count)
    throw fail("index lists " + std::to_string(records.size()) + " kernels, header says " +
               std::to_string(count));
  if (records.empty())
    throw fail("the bundle holds no kernels");

  const char *blob = bytes + kHeaderBytes + indexLen;
  std::shared_ptr<BundleProvider> p(new BundleProvider());
  p->source_ = sourceName; // a copy: `fail` still names the file for later kernels
  p->sizeBytes_ = size;
  p->kernels_.reserve(count);
  struct CodeRange {
    uint64_t offset, length;
    size_t kernel;
  };
  std::vector<CodeRange> ranges;
  for (size_t i = 0; i < records.size(); ++i) {
    const nlohmann::json &r = records[i];
    auto offset = [&](const char *name, const char *sizeName, uint64_t &off, uint64_t &len) {
      if (!r.is_object() || !r.contains(name) || !r[name].is_number_unsigned() ||
          !r.contains(sizeName) || !r[sizeName].is_number_unsigned())
        return false;
      off = r[name].get<uint64_t>();
      len = r[sizeName].get<uint64_t>();
      return off <= blobLen && len <= blobLen - off;
    };
    uint64_t ptxOff, ptxLen, cubinOff, cubinLen;
    if (!offset("ptx_offset", "ptx_bytes", ptxOff, ptxLen) ||
        !offset("cubin_offset", "cubin_bytes", cubinOff, cubinLen))
      throw fail("kernel " + std::to_string(i) + ": bad or missing code offsets");
    if (ptxLen == 0)
      throw fail("kernel " + std::to_string(i) + ": empty PTX range");
    ranges.push_back({ptxOff, ptxLen, i});
    if (cubinLen > 0)
      ranges.push_back({cubinOff, cubinLen, i});
    CompiledKernel k;
    std::string error;
    if (!kernelRecordFromJson(r, ptxLen, cubinLen, k, &error))
      throw fail("kernel " + std::to_string(i) + ": " + error);
    k.ptx.assign(blob + ptxOff, ptxLen);
    k.cubin.assign(reinterpret_cast<const uint8_t *>(blob + cubinOff),
                   reinterpret_cast<const uint8_t *>(blob + cubinOff + cubinLen));
    std::string canonical = k.spec.canonical();
    if (!p->exact_.emplace(canonical, p->kernels_.size()).second)
      throw fail("kernel " + std::to_string(i) + ": duplicate spec '" + canonical + "'");
    p->byShape_[shapeKey(k.spec)].push_back(p->kernels_.size());
    p->kernels_.push_back(std::make_shared<const CompiledKernel>(std::move(k)));
  }
  // Every kernel's code is its own: ranges that overlap are a forged index.
  std::sort(ranges.begin(), ranges.end(),
            [](const CodeRange &a, const CodeRange &b) { return a.offset < b.offset; });
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].offset < ranges[i - 1].offset + ranges[i - 1].length)
      throw fail("kernel " + std::to_string(ranges[i].kernel) + ": code range [" +
                 std::to_string(ranges[i].offset) + ", +" + std::to_string(ranges[i].length) +
                 ") overlaps one of kernel " + std::to_string(ranges[i - 1].kernel));
  logger().debug("bundle {}: {} kernels, {} bytes", p->source_, p->kernels_.size(), size);
  return p;
}

std::shared_ptr<const CompiledKernel> BundleProvider::getKernel(const AttentionSpec &spec) {
  auto it = exact_.find(spec.canonical());
  if (it != exact_.end())
    return kernels_[it->second];
  if (spec.config.isComplete())
    return nullptr;
  auto shape = byShape_.find(shapeKey(spec));
  if (shape == byShape_.end())
    return nullptr;
  for (size_t i : shape->second)
    if (configMatches(spec.config, kernels_[i]->spec.config))
      return kernels_[i];
  return nullptr;
}

std::shared_ptr<BundleProvider> registerBundle(const std::string &path) {
  auto bundle = BundleProvider::load(path);
  KernelRuntime::instance().addProvider(bundle, 0);
  return bundle;
}

std::shared_ptr<BundleProvider> registerBundle(const void *data, size_t size,
                                               std::string sourceName) {
  auto bundle = BundleProvider::load(data, size, std::move(sourceName));
  KernelRuntime::instance().addProvider(bundle, 0);
  return bundle;
}

} // namespace attnjit

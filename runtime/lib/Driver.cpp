//===- Driver.cpp - The CUDA driver, loaded with dlopen -------------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Driver.h"

#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Loading
//===----------------------------------------------------------------------===//

CudaDriver::CudaDriver(std::string libraryPath) : path_(std::move(libraryPath)) {}

CudaDriver::~CudaDriver() {
  // The process-wide instance is never destroyed (see get()); test instances
  // are, and closing the handle is safe because they launch nothing.
  if (handle_)
    dlclose(handle_);
}

CudaDriver &CudaDriver::get() {
  // Leaked on purpose: modules and buffers may be released from other static
  // destructors, and libcuda must still be mapped then.
  static CudaDriver *driver = [] {
    const char *env = std::getenv("ATTNJIT_LIBCUDA_PATH");
    auto *d = new CudaDriver(env && *env ? env : "libcuda.so.1");
    d->load();
    if (d->available())
      logger().debug("CUDA driver {} loaded from {}", d->driverVersion(), d->libraryPath());
    else
      logger().debug("CUDA driver unavailable: {}", d->unavailableReason());
    return d;
  }();
  return *driver;
}

std::unique_ptr<CudaDriver> CudaDriver::loadFrom(const std::string &libraryPath) {
  std::unique_ptr<CudaDriver> d(new CudaDriver(libraryPath));
  d->load();
  return d;
}

void CudaDriver::load() {
  dlerror();
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) {
    const char *err = dlerror();
    reason_ = fmt::format("cannot load the CUDA driver library '{}': {} (is an NVIDIA driver "
                          "installed? set ATTNJIT_LIBCUDA_PATH to override the path)",
                          path_, err ? err : "unknown dlopen error");
    return;
  }

  std::string missing;
  auto resolve = [&](const char *symbol, const char *fallback, bool required) -> void * {
    void *p = dlsym(handle_, symbol);
    if (!p && fallback)
      p = dlsym(handle_, fallback);
    if (!p && required) {
      if (!missing.empty())
        missing += ", ";
      missing += symbol;
    }
    return p;
  };
#define ATTNJIT_CUDA_RESOLVE(name, symbol, fallback, required)                                     \
  name = reinterpret_cast<decltype(name)>(resolve(symbol, fallback, required));
#define ATTNJIT_CUDA_RESOLVE_REQUIRED(name, symbol, fallback)                                      \
  ATTNJIT_CUDA_RESOLVE(name, symbol, fallback, true)
#define ATTNJIT_CUDA_RESOLVE_OPTIONAL(name, symbol, fallback)                                      \
  ATTNJIT_CUDA_RESOLVE(name, symbol, fallback, false)
  ATTNJIT_CUDA_DRIVER_SYMBOLS(ATTNJIT_CUDA_RESOLVE_REQUIRED, ATTNJIT_CUDA_RESOLVE_OPTIONAL)
#undef ATTNJIT_CUDA_RESOLVE_OPTIONAL
#undef ATTNJIT_CUDA_RESOLVE_REQUIRED
#undef ATTNJIT_CUDA_RESOLVE

  if (!missing.empty()) {
    reason_ = fmt::format("the CUDA driver '{}' lacks required entry points ({}); "
                          "the driver is too old for attnjit",
                          path_, missing);
    return;
  }

  CUresult r = this->cuInit(0);
  if (r != CUDA_SUCCESS) {
    reason_ = fmt::format("cuInit failed: {} (driver '{}')", describe(r), path_);
    return;
  }
  r = this->cuDriverGetVersion(&driverVersion_);
  if (r != CUDA_SUCCESS) {
    reason_ = fmt::format("cuDriverGetVersion failed: {}", describe(r));
    return;
  }
  available_ = true;
}

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

void CudaDriver::requireAvailable() const {
  if (!available_)
    throw Error(ErrorKind::NoDevice, "no usable CUDA driver: " + reason_);
}

int CudaDriver::deviceCount() const {
  requireAvailable();
  int n = 0;
  check(this->cuDeviceGetCount(&n), "cuDeviceGetCount");
  return n;
}

std::string CudaDriver::describe(CUresult result) const {
  const char *name = nullptr, *text = nullptr;
  if (this->cuGetErrorName && this->cuGetErrorName(result, &name) != CUDA_SUCCESS)
    name = nullptr;
  if (this->cuGetErrorString && this->cuGetErrorString(result, &text) != CUDA_SUCCESS)
    text = nullptr;
  if (!name)
    return fmt::format("CUresult {}", static_cast<int>(result));
  if (!text)
    return name;
  return fmt::format("{} ({})", name, text);
}

void CudaDriver::fail(CUresult result, std::string_view call, std::string_view context) const {
  ErrorKind kind = (result == CUDA_ERROR_NO_DEVICE || result == CUDA_ERROR_NOT_INITIALIZED)
                       ? ErrorKind::NoDevice
                       : ErrorKind::Driver;
  std::string msg = fmt::format("{} failed: {}", call, describe(result));
  if (!context.empty())
    msg += fmt::format(" [{}]", context);
  throw Error(kind, msg);
}

void CudaDriver::requireSymbol(const void *fn, std::string_view symbol,
                               std::string_view purpose) const {
  requireAvailable();
  if (!fn)
    throw Error(ErrorKind::Unsupported,
                fmt::format("the CUDA driver '{}' (CUDA {}.{}) lacks {}, which {} needs; "
                            "update the NVIDIA driver",
                            path_, driverVersion_ / 1000, driverVersion_ % 1000 / 10, symbol,
                            purpose));
}

//===----------------------------------------------------------------------===//
// Device helpers
//===----------------------------------------------------------------------===//

std::string archForComputeCapability(int major, int minor) {
  return fmt::format("sm_{}{}{}", major, minor, major >= 9 ? "a" : "");
}

int deviceAttribute(CUdevice device, CUdevice_attribute attribute, std::string_view what) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  int value = 0;
  drv.check(drv.cuDeviceGetAttribute(&value, attribute, device), "cuDeviceGetAttribute",
            fmt::format("device {}, {}", static_cast<int>(device), what));
  return value;
}

std::string deviceArch(CUdevice device) {
  int major = deviceAttribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                              "compute capability major");
  int minor = deviceAttribute(device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                              "compute capability minor");
  return archForComputeCapability(major, minor);
}

std::string deviceName(CUdevice device) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  char name[256] = {};
  drv.check(drv.cuDeviceGetName(name, sizeof(name) - 1, device), "cuDeviceGetName",
            fmt::format("device {}", static_cast<int>(device)));
  return name;
}

//===----------------------------------------------------------------------===//
// Tensor maps
//===----------------------------------------------------------------------===//

namespace {
/// Storage bits of one element; 0 for a value outside the enum. The packed
/// 4- and 6-bit types occupy 4, 8 and 8 bits each with their alignment gaps.
int tensorMapElementBits(CUtensorMapDataType t) {
  switch (t) {
  case CU_TENSOR_MAP_DATA_TYPE_UINT8: return 8;
  case CU_TENSOR_MAP_DATA_TYPE_UINT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16: return 16;
  case CU_TENSOR_MAP_DATA_TYPE_UINT32:
  case CU_TENSOR_MAP_DATA_TYPE_INT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ: return 32;
  case CU_TENSOR_MAP_DATA_TYPE_UINT64:
  case CU_TENSOR_MAP_DATA_TYPE_INT64:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT64: return 64;
  case CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN8B: return 4;
  case CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN16B:
  case CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B: return 8;
  default: return 0;
  }
}

bool isFloatTensorMapType(CUtensorMapDataType t) {
  switch (t) {
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT64:
  case CU_TENSOR_MAP_DATA_TYPE_BFLOAT16:
  case CU_TENSOR_MAP_DATA_TYPE_FLOAT32_FTZ:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32:
  case CU_TENSOR_MAP_DATA_TYPE_TFLOAT32_FTZ: return true;
  default: return false;
  }
}
} // namespace

void checkTiledTensorMap(const TiledTensorMapDesc &d, std::string_view what) {
  auto bad = [&](const std::string &field, const std::string &rule) {
    return Error(ErrorKind::InvalidArgument,
                 fmt::format("tensor map '{}': {} {}", what, field, rule));
  };
  // The enum fields are read as their raw integers first: a value that is no
  // enumerator may lie outside the enum's range, where reading the field as
  // the enum is undefined behaviour (UBSan's -fsanitize=enum reports it).
  auto raw = [](const auto &field) {
    std::underlying_type_t<std::decay_t<decltype(field)>> v;
    std::memcpy(&v, &field, sizeof v);
    return static_cast<int64_t>(v);
  };
  auto inRange = [](int64_t v, int64_t last) { return v >= 0 && v <= last; };
  int64_t dataType = raw(d.dataType);
  int bits = inRange(dataType, CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B)
                 ? tensorMapElementBits(static_cast<CUtensorMapDataType>(dataType))
                 : 0;
  if (bits == 0)
    throw bad(fmt::format("dataType = {}", dataType), "is not a CUtensorMapDataType");
  if (!inRange(raw(d.interleave), CU_TENSOR_MAP_INTERLEAVE_32B))
    throw bad(fmt::format("interleave = {}", raw(d.interleave)), "is not a CUtensorMapInterleave");
  if (!inRange(raw(d.swizzle), CU_TENSOR_MAP_SWIZZLE_128B_ATOM_64B))
    throw bad(fmt::format("swizzle = {}", raw(d.swizzle)), "is not a CUtensorMapSwizzle");
  if (!inRange(raw(d.l2Promotion), CU_TENSOR_MAP_L2_PROMOTION_L2_256B))
    throw bad(fmt::format("l2Promotion = {}", raw(d.l2Promotion)),
              "is not a CUtensorMapL2promotion");
  if (!inRange(raw(d.oobFill), CU_TENSOR_MAP_FLOAT_OOB_FILL_NAN_REQUEST_ZERO_FMA))
    throw bad(fmt::format("oobFill = {}", raw(d.oobFill)), "is not a CUtensorMapFloatOOBfill");
  bool interleaved = d.interleave != CU_TENSOR_MAP_INTERLEAVE_NONE;
  if (d.rank < 1 || d.rank > 5)
    throw bad(fmt::format("rank = {}", d.rank), "must be 1..5");
  if (interleaved && d.rank < 3)
    throw bad(fmt::format("rank = {}", d.rank), "must be 3..5 with an interleaved layout");

  bool packed16 = d.dataType == CU_TENSOR_MAP_DATA_TYPE_16U4_ALIGN16B ||
                  d.dataType == CU_TENSOR_MAP_DATA_TYPE_16U6_ALIGN16B;
  uint64_t addrAlign = (d.interleave == CU_TENSOR_MAP_INTERLEAVE_32B || packed16) ? 32 : 16;
  auto addr = reinterpret_cast<uintptr_t>(d.globalAddress);
  if (addr == 0)
    throw bad("globalAddress", "is null");
  if (addr % addrAlign != 0)
    throw bad(fmt::format("globalAddress = {:#x}", addr),
              fmt::format("must be {}-byte aligned", addrAlign));

  for (uint32_t i = 0; i < d.rank; ++i)
    if (d.globalDim[i] == 0 || d.globalDim[i] > (uint64_t(1) << 32))
      throw bad(fmt::format("globalDim[{}] = {}", i, d.globalDim[i]), "must be 1..2^32");
  uint64_t strideAlign = (d.interleave == CU_TENSOR_MAP_INTERLEAVE_32B || packed16) ? 32 : 16;
  for (uint32_t i = 0; i + 1 < d.rank; ++i) {
    uint64_t s = d.globalStrides[i];
    if (s == 0 || s % strideAlign != 0)
      throw bad(fmt::format("globalStrides[{}] = {} bytes", i, s),
                fmt::format("must be a nonzero multiple of {}", strideAlign));
    if (s >= (uint64_t(1) << 40))
      throw bad(fmt::format("globalStrides[{}] = {} bytes", i, s), "must be below 2^40");
  }

  for (uint32_t i = 0; i < d.rank; ++i) {
    if (d.boxDim[i] == 0 || d.boxDim[i] > 256)
      throw bad(fmt::format("boxDim[{}] = {}", i, d.boxDim[i]), "must be 1..256");
    if (d.elementStrides[i] == 0 || d.elementStrides[i] > 8)
      throw bad(fmt::format("elementStrides[{}] = {}", i, d.elementStrides[i]), "must be 1..8");
  }
  uint64_t innerBits = uint64_t(d.boxDim[0]) * bits;
  if (packed16 && d.boxDim[0] != 128)
    throw bad(fmt::format("boxDim[0] = {}", d.boxDim[0]), "must be 128 for a packed 16B type");
  if (!interleaved && innerBits % (16 * 8) != 0)
    throw bad(fmt::format("boxDim[0] = {}", d.boxDim[0]),
              fmt::format("must span a multiple of 16 bytes ({} bits each)", bits));
  if (d.interleave == CU_TENSOR_MAP_INTERLEAVE_32B && d.swizzle != CU_TENSOR_MAP_SWIZZLE_32B)
    throw bad(fmt::format("swizzle = {}", static_cast<int>(d.swizzle)),
              "must be CU_TENSOR_MAP_SWIZZLE_32B with a 32B interleave");
  if (!interleaved && d.swizzle != CU_TENSOR_MAP_SWIZZLE_NONE) {
    uint64_t span = d.swizzle == CU_TENSOR_MAP_SWIZZLE_32B   ? 32
                    : d.swizzle == CU_TENSOR_MAP_SWIZZLE_64B ? 64
                                                             : 128;
    if (innerBits > span * 8)
      throw bad(fmt::format("boxDim[0] = {}", d.boxDim[0]),
                fmt::format("spans {} bytes, more than the {}-byte swizzle", innerBits / 8,
                            span));
  }
  if (d.oobFill != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE && !isFloatTensorMapType(d.dataType))
    throw bad("oobFill", "may request NaN fill only for a floating-point dataType");
}

CUtensorMap encodeTiledTensorMap(const TiledTensorMapDesc &d, std::string_view what) {
  checkTiledTensorMap(d, what);
  CudaDriver &drv = CudaDriver::get();
  // Runs on every sm_90a flash launch: messages are formatted only on failure.
  if (!drv.cuTensorMapEncodeTiled)
    drv.requireSymbol(nullptr, "cuTensorMapEncodeTiled", fmt::format("tensor map '{}'", what));
  CUtensorMap map;
  cuuint64_t dims[5], strides[4];
  cuuint32_t box[5], elementStrides[5];
  for (uint32_t i = 0; i < d.rank; ++i) {
    dims[i] = d.globalDim[i];
    box[i] = d.boxDim[i];
    elementStrides[i] = d.elementStrides[i];
    if (i + 1 < d.rank)
      strides[i] = d.globalStrides[i];
  }
  CUresult r = drv.cuTensorMapEncodeTiled(&map, d.dataType, d.rank,
                                         const_cast<void *>(d.globalAddress), dims, strides, box,
                                         elementStrides, d.interleave, d.swizzle, d.l2Promotion,
                                         d.oobFill);
  if (r != CUDA_SUCCESS)
    drv.fail(r, "cuTensorMapEncodeTiled",
             fmt::format("tensor map '{}', rank {}, dataType {}", what, d.rank,
                         static_cast<int>(d.dataType)));
  return map;
}

//===----------------------------------------------------------------------===//
// DeviceBuffer
//===----------------------------------------------------------------------===//

DeviceBuffer::DeviceBuffer(size_t bytes) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  size_t n = bytes ? bytes : 1;
  drv.check(drv.cuMemAlloc(&ptr_, n), "cuMemAlloc", fmt::format("{} bytes", n));
  size_ = bytes;
}

DeviceBuffer::~DeviceBuffer() { reset(); }

DeviceBuffer::DeviceBuffer(DeviceBuffer &&other) noexcept
    : ptr_(std::exchange(other.ptr_, 0)), size_(std::exchange(other.size_, 0)) {}

DeviceBuffer &DeviceBuffer::operator=(DeviceBuffer &&other) noexcept {
  if (this != &other) {
    reset();
    ptr_ = std::exchange(other.ptr_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void DeviceBuffer::reset() {
  if (!ptr_)
    return;
  CudaDriver &drv = CudaDriver::get();
  CUresult r = drv.cuMemFree(ptr_);
  if (r != CUDA_SUCCESS)
    logger().warn("cuMemFree of {} bytes at {:#x} failed: {}", size_,
                  static_cast<unsigned long long>(ptr_), drv.describe(r));
  ptr_ = 0;
  size_ = 0;
}

static void checkRange(size_t bytes, size_t size, const char *what) {
  if (bytes > size)
    throw Error(
        ErrorKind::InvalidArgument,
        fmt::format("DeviceBuffer::{}: {} bytes requested, buffer holds {}", what, bytes, size));
}

void DeviceBuffer::copyFromHost(const void *src, size_t bytes) {
  checkRange(bytes, size_, "copyFromHost");
  if (!bytes)
    return;
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemcpyHtoD(ptr_, src, bytes), "cuMemcpyHtoD", fmt::format("{} bytes", bytes));
  // From pageable memory the copy returns once staged, before the DMA lands;
  // a kernel on a non-blocking stream could otherwise read stale data.
  drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize", "after cuMemcpyHtoD");
}

void DeviceBuffer::copyToHost(void *dst, size_t bytes) const {
  checkRange(bytes, size_, "copyToHost");
  if (!bytes)
    return;
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemcpyDtoH(dst, ptr_, bytes), "cuMemcpyDtoH", fmt::format("{} bytes", bytes));
}

void DeviceBuffer::fill(unsigned char value) {
  if (!size_)
    return;
  CudaDriver &drv = CudaDriver::get();
  drv.check(drv.cuMemsetD8(ptr_, value, size_), "cuMemsetD8", fmt::format("{} bytes", size_));
  // Device memsets are asynchronous with respect to the host; a test that
  // poisons a buffer and then launches on a non-blocking stream must not race.
  drv.check(drv.cuCtxSynchronize(), "cuCtxSynchronize", "after cuMemsetD8");
}

} // namespace attnjit

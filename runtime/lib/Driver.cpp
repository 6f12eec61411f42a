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

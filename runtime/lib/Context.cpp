//===- Context.cpp - Current context and device resolution ----------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Runtime/Context.h"

#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Logging.h"

#include <fmt/format.h>

#include <map>
#include <memory>
#include <mutex>

namespace attnjit {

static CUdevice deviceForOrdinal(int ordinal) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  int count = drv.deviceCount();
  if (count == 0)
    throw Error(ErrorKind::NoDevice, "the CUDA driver reports no devices");
  if (ordinal < 0 || ordinal >= count)
    throw Error(ErrorKind::InvalidArgument,
                fmt::format("device: expected an ordinal in [0, {}), got {}", count, ordinal));
  CUdevice dev = 0;
  drv.check(drv.cuDeviceGet(&dev, ordinal), "cuDeviceGet", fmt::format("ordinal {}", ordinal));
  return dev;
}

const DeviceInfo &deviceInfo(int ordinal) {
  static std::mutex mu;
  static std::map<int, std::unique_ptr<DeviceInfo>> infos;
  std::lock_guard<std::mutex> lock(mu);
  auto it = infos.find(ordinal);
  if (it != infos.end())
    return *it->second;
  auto info = std::make_unique<DeviceInfo>();
  info->ordinal = ordinal;
  info->device = deviceForOrdinal(ordinal);
  info->name = deviceName(info->device);
  int major = deviceAttribute(info->device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR,
                              "compute capability major");
  int minor = deviceAttribute(info->device, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR,
                              "compute capability minor");
  info->arch = archForComputeCapability(major, minor);
  info->computeCapability = major * 10 + minor;
  info->smCount =
      deviceAttribute(info->device, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, "SM count");
  info->maxThreadsPerBlock = deviceAttribute(
      info->device, CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, "max threads per block");
  info->maxSharedMemPerBlockOptin =
      deviceAttribute(info->device, CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN,
                      "max opt-in shared memory per block");
  logger().debug("device {}: {} ({}, {} SMs, {} bytes opt-in shared memory)", ordinal, info->name,
                 info->arch, info->smCount, info->maxSharedMemPerBlockOptin);
  return *infos.emplace(ordinal, std::move(info)).first->second;
}

CUcontext currentOrPrimaryContext(int fallbackDevice) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  CUcontext ctx = nullptr;
  drv.check(drv.cuCtxGetCurrent(&ctx), "cuCtxGetCurrent");
  if (ctx)
    return ctx;

  // Retained once per device and never released: the runtime's modules live
  // in it, and releasing the last reference would destroy them.
  static std::mutex mu;
  static std::map<int, CUcontext> primary;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = primary.find(fallbackDevice);
    if (it != primary.end()) {
      ctx = it->second;
    } else {
      CUdevice dev = deviceForOrdinal(fallbackDevice);
      drv.check(drv.cuDevicePrimaryCtxRetain(&ctx, dev), "cuDevicePrimaryCtxRetain",
                fmt::format("device {}", fallbackDevice));
      primary.emplace(fallbackDevice, ctx);
    }
  }
  drv.check(drv.cuCtxSetCurrent(ctx), "cuCtxSetCurrent",
            fmt::format("primary context of device {}", fallbackDevice));
  return ctx;
}

CUcontext streamContext(CUstream stream, int fallbackDevice) {
  if (stream == nullptr || stream == CU_STREAM_LEGACY || stream == CU_STREAM_PER_THREAD)
    return currentOrPrimaryContext(fallbackDevice);
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  CUcontext ctx = nullptr;
  // Every launch on a stream asks: the message is formatted only on failure.
  if (CUresult r = drv.cuStreamGetCtx(stream, &ctx); r != CUDA_SUCCESS)
    drv.fail(r, "cuStreamGetCtx", fmt::format("stream {}", static_cast<void *>(stream)));
  return ctx;
}

int contextDevice(CUcontext ctx) {
  CudaDriver &drv = CudaDriver::get();
  drv.requireAvailable();
  ScopedContext scope(ctx);
  CUdevice dev = 0;
  drv.check(drv.cuCtxGetDevice(&dev), "cuCtxGetDevice");
  // CUdevice handles are ordinals in every driver; keep the mapping in one place.
  return static_cast<int>(dev);
}

ScopedContext::ScopedContext(CUcontext ctx) {
  CudaDriver &drv = CudaDriver::get();
  CUcontext current = nullptr;
  drv.check(drv.cuCtxGetCurrent(&current), "cuCtxGetCurrent");
  if (current == ctx)
    return;
  drv.check(drv.cuCtxPushCurrent(ctx), "cuCtxPushCurrent");
  pushed_ = true;
}

ScopedContext::~ScopedContext() {
  if (!pushed_)
    return;
  CudaDriver &drv = CudaDriver::get();
  CUcontext popped = nullptr;
  CUresult r = drv.cuCtxPopCurrent(&popped);
  if (r != CUDA_SUCCESS)
    logger().error("cuCtxPopCurrent failed: {}", drv.describe(r));
}

ScopedRelaxedCaptureMode::ScopedRelaxedCaptureMode() {
  CudaDriver &drv = CudaDriver::get();
  CUstreamCaptureMode mode = CU_STREAM_CAPTURE_MODE_RELAXED;
  drv.check(drv.cuThreadExchangeStreamCaptureMode(&mode), "cuThreadExchangeStreamCaptureMode");
  previous_ = mode;
  active_ = true;
}

ScopedRelaxedCaptureMode::~ScopedRelaxedCaptureMode() {
  if (!active_)
    return;
  CudaDriver &drv = CudaDriver::get();
  CUstreamCaptureMode mode = previous_;
  CUresult r = drv.cuThreadExchangeStreamCaptureMode(&mode);
  if (r != CUDA_SUCCESS)
    logger().error("cuThreadExchangeStreamCaptureMode (restore) failed: {}", drv.describe(r));
}

} // namespace attnjit

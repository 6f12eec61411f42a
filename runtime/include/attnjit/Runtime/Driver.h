//===- Driver.h - The CUDA driver, loaded with dlopen ------------*- C++ -*-===//
//
// Part of attnjit. attnjit_runtime does not link libcuda: it opens
// libcuda.so.1 at run time and resolves the entry points it uses through the
// symbol table below (model: IREE's cuda_dynamic_symbol_table.h). A process
// without a driver can therefore load the library, validate arguments, read
// caches and bundles, and get a clear ErrorKind::NoDevice when it tries to
// launch. Every driver call goes through CudaDriver::check, whose error names
// the call, its CUresult name and description, and the caller's context.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_DRIVER_H
#define ATTNJIT_RUNTIME_DRIVER_H

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/LaunchPlan.h"

#include <cuda.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace attnjit {

//===----------------------------------------------------------------------===//
// Symbol table
//===----------------------------------------------------------------------===//

/// Every driver entry point attnjit uses, as
///   REQUIRED(name, "exported symbol", "fallback symbol or nullptr")
///   OPTIONAL(name, "exported symbol", "fallback symbol or nullptr")
/// `name` is the cuda.h spelling. Where cuda.h maps a name to a versioned
/// symbol with a macro (cuMemAlloc -> cuMemAlloc_v2) the token expands the same
/// way in the member declaration and at every call site, so the member's type is
/// always the prototype of the symbol cuda.h selects; the exported symbol named
/// here must be the one with that prototype. The fallback has the same prototype
/// and is tried when an older driver lacks the first (cuda.h 13 maps
/// cuEventElapsedTime to cuEventElapsedTime_v2, which older drivers do not
/// export; the unversioned symbol has the same signature).
/// The legacy (not _ptds/_ptsz) variants are used: attnjit runs on the stream
/// the caller passes, never on an implicit per-thread default stream.
/// An OPTIONAL symbol may be null after loading (an older driver); code that
/// needs one calls CudaDriver::requireSymbol first, which names it in an error.
#define ATTNJIT_CUDA_DRIVER_SYMBOLS(REQUIRED, OPTIONAL)                                            \
  REQUIRED(cuInit, "cuInit", nullptr)                                                              \
  REQUIRED(cuDriverGetVersion, "cuDriverGetVersion", nullptr)                                      \
  REQUIRED(cuGetErrorName, "cuGetErrorName", nullptr)                                              \
  REQUIRED(cuGetErrorString, "cuGetErrorString", nullptr)                                          \
  REQUIRED(cuDeviceGet, "cuDeviceGet", nullptr)                                                    \
  REQUIRED(cuDeviceGetCount, "cuDeviceGetCount", nullptr)                                          \
  REQUIRED(cuDeviceGetAttribute, "cuDeviceGetAttribute", nullptr)                                  \
  REQUIRED(cuDeviceGetName, "cuDeviceGetName", nullptr)                                            \
  REQUIRED(cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", nullptr)                          \
  REQUIRED(cuCtxGetCurrent, "cuCtxGetCurrent", nullptr)                                            \
  REQUIRED(cuCtxSetCurrent, "cuCtxSetCurrent", nullptr)                                            \
  REQUIRED(cuCtxGetDevice, "cuCtxGetDevice", nullptr)                                              \
  REQUIRED(cuCtxPushCurrent, "cuCtxPushCurrent_v2", nullptr)                                       \
  REQUIRED(cuCtxPopCurrent, "cuCtxPopCurrent_v2", nullptr)                                         \
  REQUIRED(cuCtxSynchronize, "cuCtxSynchronize", nullptr)                                          \
  REQUIRED(cuModuleLoadDataEx, "cuModuleLoadDataEx", nullptr)                                      \
  REQUIRED(cuModuleUnload, "cuModuleUnload", nullptr)                                              \
  REQUIRED(cuModuleGetFunction, "cuModuleGetFunction", nullptr)                                    \
  REQUIRED(cuFuncSetAttribute, "cuFuncSetAttribute", nullptr)                                      \
  REQUIRED(cuFuncGetAttribute, "cuFuncGetAttribute", nullptr)                                      \
  REQUIRED(cuLaunchKernel, "cuLaunchKernel", nullptr)                                              \
  OPTIONAL(cuLaunchKernelEx, "cuLaunchKernelEx", nullptr)                                          \
  REQUIRED(cuStreamGetCtx, "cuStreamGetCtx", nullptr)                                              \
  REQUIRED(cuStreamIsCapturing, "cuStreamIsCapturing", nullptr)                                    \
  REQUIRED(cuStreamSynchronize, "cuStreamSynchronize", nullptr)                                    \
  REQUIRED(cuThreadExchangeStreamCaptureMode, "cuThreadExchangeStreamCaptureMode", nullptr)        \
  REQUIRED(cuStreamCreate, "cuStreamCreate", nullptr)                                              \
  REQUIRED(cuStreamDestroy, "cuStreamDestroy_v2", nullptr)                                         \
  REQUIRED(cuStreamBeginCapture, "cuStreamBeginCapture_v2", nullptr)                               \
  REQUIRED(cuStreamEndCapture, "cuStreamEndCapture", nullptr)                                      \
  REQUIRED(cuGraphInstantiate, "cuGraphInstantiateWithFlags", nullptr)                             \
  REQUIRED(cuGraphLaunch, "cuGraphLaunch", nullptr)                                                \
  REQUIRED(cuGraphExecDestroy, "cuGraphExecDestroy", nullptr)                                      \
  REQUIRED(cuGraphDestroy, "cuGraphDestroy", nullptr)                                              \
  REQUIRED(cuMemAlloc, "cuMemAlloc_v2", nullptr)                                                   \
  REQUIRED(cuMemFree, "cuMemFree_v2", nullptr)                                                     \
  REQUIRED(cuMemcpyHtoD, "cuMemcpyHtoD_v2", nullptr)                                               \
  REQUIRED(cuMemcpyDtoH, "cuMemcpyDtoH_v2", nullptr)                                               \
  REQUIRED(cuMemsetD8, "cuMemsetD8_v2", nullptr)                                                   \
  REQUIRED(cuMemsetD32, "cuMemsetD32_v2", nullptr)                                                 \
  REQUIRED(cuPointerGetAttribute, "cuPointerGetAttribute", nullptr)                                \
  REQUIRED(cuEventCreate, "cuEventCreate", nullptr)                                                \
  REQUIRED(cuEventRecord, "cuEventRecord", nullptr)                                                \
  REQUIRED(cuEventSynchronize, "cuEventSynchronize", nullptr)                                      \
  REQUIRED(cuEventElapsedTime, "cuEventElapsedTime_v2", "cuEventElapsedTime")                      \
  REQUIRED(cuEventDestroy, "cuEventDestroy_v2", nullptr)                                           \
  REQUIRED(cuLinkCreate, "cuLinkCreate_v2", nullptr)                                               \
  REQUIRED(cuLinkAddData, "cuLinkAddData_v2", nullptr)                                             \
  REQUIRED(cuLinkComplete, "cuLinkComplete", nullptr)                                              \
  REQUIRED(cuLinkDestroy, "cuLinkDestroy", nullptr)                                                \
  OPTIONAL(cuTensorMapEncodeTiled, "cuTensorMapEncodeTiled", nullptr)

//===----------------------------------------------------------------------===//
// CudaDriver
//===----------------------------------------------------------------------===//

/// The process-wide CUDA driver. Loading never throws: when libcuda.so.1 is
/// missing, lacks a required symbol, or cuInit fails, available() is false and
/// unavailableReason() says why; requireAvailable() turns that into an
/// ErrorKind::NoDevice error. Function pointers are members named like the
/// driver functions, so call sites read `drv.cuModuleLoadDataEx(...)`.
class CudaDriver {
public:
  /// The driver of this process, loaded (and cuInit(0) called) on first use.
  /// The library path can be overridden with ATTNJIT_LIBCUDA_PATH.
  static CudaDriver &get();
  /// Loads a separate instance from `libraryPath` (for tests of the failure
  /// paths); the result is never null.
  static std::unique_ptr<CudaDriver> loadFrom(const std::string &libraryPath);

  ~CudaDriver();
  CudaDriver(const CudaDriver &) = delete;
  CudaDriver &operator=(const CudaDriver &) = delete;

  /// True when the library was opened, every required symbol resolved and
  /// cuInit(0) succeeded.
  bool available() const { return available_; }
  /// Why available() is false; empty when it is true.
  const std::string &unavailableReason() const { return reason_; }
  /// Throws ErrorKind::NoDevice with unavailableReason() when not available.
  void requireAvailable() const;
  /// The driver's CUDA version (e.g. 12080), 0 when unavailable.
  int driverVersion() const { return driverVersion_; }
  /// The path that was opened.
  const std::string &libraryPath() const { return path_; }

  /// Number of devices; throws NoDevice when the driver is unavailable.
  int deviceCount() const;
  /// `CUDA_ERROR_INVALID_PTX (a PTX JIT compilation failed)`, or the bare
  /// number when the driver is unavailable or does not know the code.
  std::string describe(CUresult result) const;

  /// Returns when `result` is CUDA_SUCCESS, else throws (see fail()).
  void check(CUresult result, std::string_view call, std::string_view context = {}) const {
    if (result != CUDA_SUCCESS)
      fail(result, call, context);
  }
  /// Throws attnjit::Error with "<call> failed: <describe(result)> [<context>]".
  /// The kind is NoDevice for CUDA_ERROR_NO_DEVICE / CUDA_ERROR_NOT_INITIALIZED
  /// and Driver otherwise.
  [[noreturn]] void fail(CUresult result, std::string_view call,
                         std::string_view context = {}) const;
  /// Throws NoDevice when the driver is unavailable and Unsupported, naming
  /// `symbol`, the driver version and `purpose`, when the OPTIONAL entry point
  /// `fn` was not found in it.
  void requireSymbol(const void *fn, std::string_view symbol, std::string_view purpose) const;

#define ATTNJIT_CUDA_DECLARE_PFN(name, symbol, fallback) decltype(&::name) name = nullptr;
  ATTNJIT_CUDA_DRIVER_SYMBOLS(ATTNJIT_CUDA_DECLARE_PFN, ATTNJIT_CUDA_DECLARE_PFN)
#undef ATTNJIT_CUDA_DECLARE_PFN

private:
  explicit CudaDriver(std::string libraryPath);
  void load();

  std::string path_;
  void *handle_ = nullptr;
  bool available_ = false;
  std::string reason_;
  int driverVersion_ = 0;
};

//===----------------------------------------------------------------------===//
// Device helpers
//===----------------------------------------------------------------------===//

/// The arch attnjit compiles for a compute capability: 8.0 -> sm_80,
/// 8.6 -> sm_86, 8.9 -> sm_89, and 9.0 and newer get the architecture-specific
/// suffix that unlocks wgmma/TMA/tcgen05 (9.0 -> sm_90a, 10.0 -> sm_100a,
/// 12.0 -> sm_120a); kernels are JIT-compiled per device, so the loss of
/// forward compatibility that the suffix implies does not matter.
std::string archForComputeCapability(int major, int minor);
/// The arch of `device` (see archForComputeCapability).
std::string deviceArch(CUdevice device);
/// The device's name, e.g. "NVIDIA H100 80GB HBM3".
std::string deviceName(CUdevice device);
/// One device attribute, checked.
int deviceAttribute(CUdevice device, CUdevice_attribute attribute, std::string_view what);

//===----------------------------------------------------------------------===//
// Tensor maps
//===----------------------------------------------------------------------===//

static_assert(sizeof(CUtensorMap) == kTensorMapBytes, "LaunchPlan.h's tensor map size");
static_assert(alignof(CUtensorMap) % kTensorMapAlign == 0, "LaunchPlan.h's tensor map alignment");

/// The arguments of cuTensorMapEncodeTiled, dimension 0 innermost.
struct TiledTensorMapDesc {
  CUtensorMapDataType dataType = CU_TENSOR_MAP_DATA_TYPE_BFLOAT16;
  uint32_t rank = 0;                  ///< 1..5 (3..5 when interleaved)
  const void *globalAddress = nullptr; ///< 16-byte aligned (32 when interleave is 32B)
  uint64_t globalDim[5] = {};         ///< elements, 1..2^32 each
  uint64_t globalStrides[4] = {};     ///< bytes, of dimensions 1..rank-1; multiples of 16, < 2^40
  uint32_t boxDim[5] = {};            ///< elements per copy, 1..256 each
  uint32_t elementStrides[5] = {1, 1, 1, 1, 1}; ///< 1..8 each
  CUtensorMapInterleave interleave = CU_TENSOR_MAP_INTERLEAVE_NONE;
  CUtensorMapSwizzle swizzle = CU_TENSOR_MAP_SWIZZLE_NONE;
  CUtensorMapL2promotion l2Promotion = CU_TENSOR_MAP_L2_PROMOTION_NONE;
  CUtensorMapFloatOOBfill oobFill = CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE;
};

/// Checks `d` against the requirements cuTensorMapEncodeTiled documents (CUDA
/// 13 cuda.h), without calling the driver, so that a bad descriptor is an
/// Error naming the field rather than a bare CUDA_ERROR_INVALID_VALUE. Throws
/// Error(InvalidArgument) "tensor map '<what>': <field> = <value> <rule>".
void checkTiledTensorMap(const TiledTensorMapDesc &d, std::string_view what);

/// checkTiledTensorMap, then cuTensorMapEncodeTiled. Throws NoDevice without a
/// driver, Unsupported when the driver lacks cuTensorMapEncodeTiled (CUDA < 12),
/// Driver (naming `what`) when the call fails.
CUtensorMap encodeTiledTensorMap(const TiledTensorMapDesc &d, std::string_view what);

//===----------------------------------------------------------------------===//
// DeviceBuffer
//===----------------------------------------------------------------------===//

/// Owning device allocation for tests and tools (the attention entry points
/// never allocate). Allocated in the current context, which must be the one
/// current when it is destroyed; freeing errors in the destructor are logged,
/// not thrown.
class DeviceBuffer {
public:
  DeviceBuffer() = default;
  /// cuMemAlloc of `bytes` (at least 1) in the current context.
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer &&other) noexcept;
  DeviceBuffer &operator=(DeviceBuffer &&other) noexcept;
  DeviceBuffer(const DeviceBuffer &) = delete;
  DeviceBuffer &operator=(const DeviceBuffer &) = delete;

  CUdeviceptr ptr() const { return ptr_; }
  void *data() const { return reinterpret_cast<void *>(static_cast<uintptr_t>(ptr_)); }
  size_t size() const { return size_; }
  explicit operator bool() const { return ptr_ != 0; }

  /// Copies that return when the data has arrived (the context is
  /// synchronized); `bytes` must not exceed size().
  void copyFromHost(const void *src, size_t bytes);
  void copyToHost(void *dst, size_t bytes) const;
  /// Sets every byte to `value` (synchronous).
  void fill(unsigned char value);
  /// Frees now; the buffer becomes empty.
  void reset();

private:
  CUdeviceptr ptr_ = 0;
  size_t size_ = 0;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_DRIVER_H

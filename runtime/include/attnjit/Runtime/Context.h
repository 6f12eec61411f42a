//===- Context.h - Current context and device resolution ---------*- C++ -*-===//
//
// Part of attnjit. attnjit runs in the caller's CUDA context: the one that owns
// the stream it is given, else the one current on the calling thread, else the
// primary context of the tensors' device (which is then made current, as the
// CUDA runtime does on first use). Modules are loaded into that context.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_CONTEXT_H
#define ATTNJIT_RUNTIME_CONTEXT_H

#include <cuda.h>

#include <string>

namespace attnjit {

/// What the runtime needs to know about a device; queried once per device.
struct DeviceInfo {
  int ordinal = -1;
  CUdevice device = 0;
  std::string name;          ///< e.g. "NVIDIA H100 80GB HBM3"
  std::string arch;          ///< e.g. sm_90a (see archForComputeCapability)
  int computeCapability = 0; ///< e.g. 90
  int smCount = 0;
  int maxThreadsPerBlock = 0;
  int maxSharedMemPerBlockOptin = 0; ///< bytes a kernel may opt in to
};

/// Cached DeviceInfo of device `ordinal`; throws NoDevice when there is no
/// driver, InvalidArgument when the ordinal is out of range.
const DeviceInfo &deviceInfo(int ordinal);

/// The context current on this thread; when there is none, the primary context
/// of `fallbackDevice` (retained once for the life of the process) made current.
CUcontext currentOrPrimaryContext(int fallbackDevice = 0);

/// The context `stream` belongs to. The null stream, CU_STREAM_LEGACY and
/// CU_STREAM_PER_THREAD belong to the current context, so for them this is
/// currentOrPrimaryContext(fallbackDevice).
CUcontext streamContext(CUstream stream, int fallbackDevice = 0);

/// Device ordinal of `ctx` (pushes it briefly when it is not current).
int contextDevice(CUcontext ctx);

/// Makes `ctx` current for a scope (push/pop), doing nothing when it already is.
class ScopedContext {
public:
  explicit ScopedContext(CUcontext ctx);
  ~ScopedContext();
  ScopedContext(const ScopedContext &) = delete;
  ScopedContext &operator=(const ScopedContext &) = delete;

private:
  bool pushed_ = false;
};

/// Switches this thread's stream-capture mode to relaxed for a scope, so that
/// loading a module (a "potentially unsafe" call) during a CUDA graph capture
/// on another stream does not invalidate that capture. Restores the previous
/// mode on exit.
class ScopedRelaxedCaptureMode {
public:
  ScopedRelaxedCaptureMode();
  ~ScopedRelaxedCaptureMode();
  ScopedRelaxedCaptureMode(const ScopedRelaxedCaptureMode &) = delete;
  ScopedRelaxedCaptureMode &operator=(const ScopedRelaxedCaptureMode &) = delete;

private:
  CUstreamCaptureMode previous_ = CU_STREAM_CAPTURE_MODE_RELAXED;
  bool active_ = false;
};

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_CONTEXT_H

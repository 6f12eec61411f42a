//===- EventTimer.h - Median kernel time with CUDA events ---------*- C++ -*-===//
//
// Part of attnjit. How attnjit measures: untimed warm-up runs, then each run
// bracketed by CUDA events on the caller's stream, the median reported. Used by
// attnjit-bench and the GPU tests.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_RUNTIME_EVENTTIMER_H
#define ATTNJIT_RUNTIME_EVENTTIMER_H

#include "attnjit/Runtime/Driver.h"

#include <algorithm>
#include <functional>
#include <vector>

namespace attnjit {

/// Median milliseconds of `fn` enqueued on `stream`, timed with CUDA events
/// after `warmup` untimed runs (iters >= 1).
inline double medianEventMs(const std::function<void()> &fn, CUstream stream, int warmup,
                            int iters) {
  CudaDriver &drv = CudaDriver::get();
  for (int i = 0; i < warmup; ++i)
    fn();
  CUevent start = nullptr, stop = nullptr;
  drv.check(drv.cuEventCreate(&start, CU_EVENT_DEFAULT), "cuEventCreate");
  drv.check(drv.cuEventCreate(&stop, CU_EVENT_DEFAULT), "cuEventCreate");
  std::vector<double> times;
  for (int i = 0; i < std::max(iters, 1); ++i) {
    drv.check(drv.cuEventRecord(start, stream), "cuEventRecord");
    fn();
    drv.check(drv.cuEventRecord(stop, stream), "cuEventRecord");
    drv.check(drv.cuEventSynchronize(stop), "cuEventSynchronize");
    float ms = 0;
    drv.check(drv.cuEventElapsedTime(&ms, start, stop), "cuEventElapsedTime");
    times.push_back(ms);
  }
  drv.cuEventDestroy(start);
  drv.cuEventDestroy(stop);
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

} // namespace attnjit

#endif // ATTNJIT_RUNTIME_EVENTTIMER_H

//===- CApi.cpp - attnjit's C API over the C++ runtime --------------------===//
//
// Part of attnjit. Every entry point runs its body inside guarded(), which
// turns any exception into a status code plus this thread's last-error message
// (attnjit::Error's text, unchanged), so nothing thrown crosses the C boundary.
//
//===----------------------------------------------------------------------===//
#include "attnjit/attnjit.h"

#include "attnjit/Runtime/Backend.h"
#include "attnjit/Runtime/BackendImpls.h"
#include "attnjit/Runtime/BuildInfo.h"
#include "attnjit/Runtime/Bundle.h"
#include "attnjit/Runtime/Context.h"
#include "attnjit/Runtime/Driver.h"
#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/SdpaAttention.h"
#include "attnjit/Runtime/Tensor.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

using namespace attnjit;

static_assert(static_cast<int>(DType::F16) == ATTNJIT_DTYPE_F16 &&
                  static_cast<int>(DType::BF16) == ATTNJIT_DTYPE_BF16 &&
                  static_cast<int>(DType::F32) == ATTNJIT_DTYPE_F32 &&
                  static_cast<int>(DType::Bool) == ATTNJIT_DTYPE_BOOL &&
                  static_cast<int>(DType::I8) == ATTNJIT_DTYPE_I8 &&
                  static_cast<int>(DType::F8E4M3) == ATTNJIT_DTYPE_F8E4M3,
              "attnjit_dtype mirrors attnjit::DType");
static_assert(static_cast<int>(SelectionSource::Explicit) == ATTNJIT_SELECTION_EXPLICIT &&
                  static_cast<int>(SelectionSource::Env) == ATTNJIT_SELECTION_ENV &&
                  static_cast<int>(SelectionSource::CallerDefault) ==
                      ATTNJIT_SELECTION_CALLER_DEFAULT &&
                  static_cast<int>(SelectionSource::Automatic) == ATTNJIT_SELECTION_AUTOMATIC,
              "attnjit_selection_source mirrors attnjit::SelectionSource");

namespace {

//===----------------------------------------------------------------------===//
// Errors
//===----------------------------------------------------------------------===//

struct LastError {
  attnjit_status code = ATTNJIT_OK;
  std::string message;
};

LastError &lastError() {
  thread_local LastError err;
  return err;
}

attnjit_status toStatus(ErrorKind kind) {
  switch (kind) {
  case ErrorKind::InvalidArgument: return ATTNJIT_ERROR_INVALID_ARGUMENT;
  case ErrorKind::Unsupported: return ATTNJIT_ERROR_UNSUPPORTED;
  case ErrorKind::NoDevice: return ATTNJIT_ERROR_NO_DEVICE;
  case ErrorKind::Driver: return ATTNJIT_ERROR_DRIVER;
  case ErrorKind::Compile: return ATTNJIT_ERROR_COMPILE;
  case ErrorKind::NotFound: return ATTNJIT_ERROR_NOT_FOUND;
  case ErrorKind::Io: return ATTNJIT_ERROR_IO;
  }
  return ATTNJIT_ERROR_INTERNAL;
}

attnjit_status fail(attnjit_status code, const char *message) noexcept {
  LastError &err = lastError();
  err.code = code;
  try {
    err.message = message;
  } catch (...) {
    // Out of memory while recording the message: keep the code, drop the text.
    err.message.clear();
  }
  return code;
}

/// Runs `body`; any exception becomes the returned status and the thread's
/// last error. A success clears the last error.
template <typename F> attnjit_status guarded(F &&body) noexcept {
  try {
    body();
    LastError &err = lastError();
    err.code = ATTNJIT_OK;
    err.message.clear();
    return ATTNJIT_OK;
  } catch (const Error &e) {
    return fail(toStatus(e.kind()), e.what());
  } catch (const std::bad_alloc &) {
    return fail(ATTNJIT_ERROR_INTERNAL, "out of host memory");
  } catch (const std::exception &e) {
    return fail(ATTNJIT_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(ATTNJIT_ERROR_INTERNAL, "unknown exception inside attnjit");
  }
}

[[noreturn]] void invalid(const std::string &message) {
  throw Error(ErrorKind::InvalidArgument, message);
}

template <typename T> void requireOut(T *p, const char *function, const char *name) {
  if (!p)
    invalid(fmt::format("{}: {} is NULL", function, name));
}

//===----------------------------------------------------------------------===//
// Arguments
//===----------------------------------------------------------------------===//

/// The view of DLTensor `t`, with errors prefixed by the tensor's name.
TensorView view(const DLTensor *t, const char *name) {
  if (!t)
    invalid(fmt::format("{}: NULL DLTensor pointer", name));
  try {
    return TensorView::fromDLPack(*t);
  } catch (const Error &e) {
    throw Error(e.kind(), fmt::format("{}: {}", name, e.what()));
  }
}

/// Copies the caller's options (struct_size bytes of them) over the defaults.
/// Every field of version 1 is required; later versions append fields, whose
/// defaults then stay for callers compiled against an earlier header.
template <typename T>
T readOptions(const T *opts, void (*init)(T *), size_t minimumSize, const char *what) {
  T result;
  init(&result);
  if (!opts)
    return result;
  if (opts->struct_size < minimumSize)
    invalid(fmt::format("{}: struct_size is {}, expected at least {} (initialise the struct "
                        "with its _init function)",
                        what, opts->struct_size, minimumSize));
  std::memcpy(static_cast<void *>(&result), opts, std::min<size_t>(opts->struct_size, sizeof(T)));
  result.struct_size = sizeof(T);
  return result;
}

Layout toLayout(int32_t layout, const char *what) {
  switch (layout) {
  case ATTNJIT_LAYOUT_BSHD: return Layout::BSHD;
  case ATTNJIT_LAYOUT_BHSD: return Layout::BHSD;
  default:
    invalid(fmt::format("{}: layout must be ATTNJIT_LAYOUT_BSHD (0) or ATTNJIT_LAYOUT_BHSD (1), "
                        "got {}",
                        what, layout));
  }
}

KernelConfig toConfig(const attnjit_kernel_config &c) {
  KernelConfig config;
  config.blockM = c.block_m;
  config.blockN = c.block_n;
  config.numWarps = c.num_warps;
  config.stages = c.stages;
  return config;
}

std::optional<float> toScale(int32_t has, float scale) {
  return has ? std::optional<float>(scale) : std::nullopt;
}

DType toDType(int dtype, const char *what) {
  if (dtype < ATTNJIT_DTYPE_F16 || dtype > ATTNJIT_DTYPE_F8E4M3)
    invalid(fmt::format("{}: dtype {} is not an attnjit_dtype (0..{})", what, dtype,
                        static_cast<int>(ATTNJIT_DTYPE_F8E4M3)));
  return static_cast<DType>(dtype);
}

CUstream toStream(void *stream) { return static_cast<CUstream>(stream); }

/// Copies `s` (truncated) into the fixed-size buffer `dst`.
template <size_t N> void copyString(char (&dst)[N], std::string_view s) {
  size_t n = std::min(s.size(), N - 1);
  std::memcpy(dst, s.data(), n);
  dst[n] = '\0';
}

} // namespace

//===----------------------------------------------------------------------===//
// Status, errors, version
//===----------------------------------------------------------------------===//

extern "C" {

int attnjit_c_api_version(void) { return ATTNJIT_C_API_VERSION; }
const char *attnjit_version(void) { return runtimeVersion(); }
const char *attnjit_git_hash(void) { return runtimeGitHash(); }

const char *attnjit_build_id(void) {
  // runtimeBuildId() builds a std::string; keep one copy for the process.
  static const std::string id = [] {
    try {
      return runtimeBuildId();
    } catch (...) {
      return std::string("unknown");
    }
  }();
  return id.c_str();
}

int attnjit_has_jit(void) {
#ifdef ATTNJIT_C_HAVE_JIT
  return 1;
#else
  return 0;
#endif
}

const char *attnjit_status_name(attnjit_status status) {
  switch (status) {
  case ATTNJIT_OK: return "ATTNJIT_OK";
  case ATTNJIT_ERROR_INVALID_ARGUMENT: return "ATTNJIT_ERROR_INVALID_ARGUMENT";
  case ATTNJIT_ERROR_UNSUPPORTED: return "ATTNJIT_ERROR_UNSUPPORTED";
  case ATTNJIT_ERROR_NO_DEVICE: return "ATTNJIT_ERROR_NO_DEVICE";
  case ATTNJIT_ERROR_DRIVER: return "ATTNJIT_ERROR_DRIVER";
  case ATTNJIT_ERROR_COMPILE: return "ATTNJIT_ERROR_COMPILE";
  case ATTNJIT_ERROR_NOT_FOUND: return "ATTNJIT_ERROR_NOT_FOUND";
  case ATTNJIT_ERROR_IO: return "ATTNJIT_ERROR_IO";
  case ATTNJIT_ERROR_INTERNAL: return "ATTNJIT_ERROR_INTERNAL";
  case ATTNJIT_STATUS_MAX_ENUM: break; // not a status
  }
  return "unknown status";
}

attnjit_status attnjit_last_error_code(void) { return lastError().code; }
const char *attnjit_last_error_message(void) { return lastError().message.c_str(); }

//===----------------------------------------------------------------------===//
// Devices
//===----------------------------------------------------------------------===//

attnjit_status attnjit_device_count(int *count) {
  return guarded([&] {
    requireOut(count, "attnjit_device_count", "count");
    *count = 0;
    *count = CudaDriver::get().deviceCount();
  });
}

void attnjit_device_info_init(attnjit_device_info *info) {
  if (!info)
    return;
  std::memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(*info);
}

attnjit_status attnjit_device_get_info(int ordinal, attnjit_device_info *info) {
  return guarded([&] {
    requireOut(info, "attnjit_device_get_info", "info");
    if (info->struct_size < sizeof(attnjit_device_info))
      invalid(fmt::format("attnjit_device_get_info: struct_size is {}, expected at least {}",
                          info->struct_size, sizeof(attnjit_device_info)));
    const DeviceInfo &d = deviceInfo(ordinal);
    copyString(info->name, d.name);
    copyString(info->arch, d.arch);
    info->cc_major = d.computeCapability / 10;
    info->cc_minor = d.computeCapability % 10;
    info->sm_count = d.smCount;
  });
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

void attnjit_flash_options_init(attnjit_flash_options *opts) {
  if (!opts)
    return;
  std::memset(opts, 0, sizeof(*opts));
  opts->struct_size = sizeof(*opts);
  opts->layout = ATTNJIT_LAYOUT_BSHD;
}

attnjit_status attnjit_flash_attention(const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                       const DLTensor *out, const attnjit_flash_options *opts,
                                       void *stream) {
  return guarded([&] {
    attnjit_flash_options o = readOptions(opts, attnjit_flash_options_init,
                                          sizeof(attnjit_flash_options), "flash options");
    FlashOptions fo;
    fo.causal = o.causal != 0;
    fo.softmaxScale = toScale(o.has_softmax_scale, o.softmax_scale);
    fo.lse = o.lse;
    fo.config = toConfig(o.config);
    // Named in order: a call's argument evaluation order is unspecified, and
    // the first bad tensor (q before out) is the one to report.
    TensorView qv = view(q, "q"), kv = view(k, "k"), vv = view(v, "v"), ov = view(out, "out");
    flashAttention(qv, kv, vv, ov, toLayout(o.layout, "flash options"), fo, toStream(stream));
  });
}

void attnjit_sdpa_options_init(attnjit_sdpa_options *opts) {
  if (!opts)
    return;
  std::memset(opts, 0, sizeof(*opts));
  opts->struct_size = sizeof(*opts);
  opts->layout = ATTNJIT_LAYOUT_BSHD;
}

attnjit_status attnjit_sdpa_attention(const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                      const DLTensor *out, const attnjit_sdpa_options *opts,
                                      void *stream) {
  return guarded([&] {
    attnjit_sdpa_options o = readOptions(opts, attnjit_sdpa_options_init,
                                         sizeof(attnjit_sdpa_options), "sdpa options");
    TensorView qv = view(q, "q"), kv = view(k, "k"), vv = view(v, "v"), ov = view(out, "out");
    SdpaOptions so;
    so.causal = o.causal != 0;
    so.softmaxScale = toScale(o.has_softmax_scale, o.softmax_scale);
    if (o.mask)
      so.mask = view(o.mask, "mask");
    so.dropoutP = o.dropout_p;
    so.seed = o.seed;
    so.offset = o.offset;
    so.config = toConfig(o.config);
    sdpaAttention(qv, kv, vv, ov, toLayout(o.layout, "sdpa options"), so, toStream(stream));
  });
}

void attnjit_sage_options_init(attnjit_sage_options *opts) {
  if (!opts)
    return;
  std::memset(opts, 0, sizeof(*opts));
  opts->struct_size = sizeof(*opts);
  opts->layout = ATTNJIT_LAYOUT_BSHD;
}

attnjit_status attnjit_sage_attention(const DLTensor *q, const DLTensor *k, const DLTensor *v,
                                      const DLTensor *out, const attnjit_sage_options *opts,
                                      void *stream) {
  return guarded([&] {
    attnjit_sage_options o = readOptions(opts, attnjit_sage_options_init,
                                         sizeof(attnjit_sage_options), "sage options");
    Layout layout = toLayout(o.layout, "sage options");
    TensorView qv = view(q, "q"), kv = view(k, "k"), vv = view(v, "v"), ov = view(out, "out");
    for (const auto &[t, name] : {std::pair{&qv, "q"}, {&kv, "k"}})
      if (t->rank() != 4)
        invalid(fmt::format("{}: expected rank 4 ({}), got {}", name,
                            layout == Layout::BSHD ? "[batch, seqlen, heads, head_dim]"
                                                   : "[batch, heads, seqlen, head_dim]",
                            t->str()));
    int headsDim = layout == Layout::BSHD ? 2 : 1;
    // The SAGE_ATTN backend of the registry serves the call. One impl per
    // call keeps this entry stateless (an impl holds no device state: the
    // workspace is the runtime's, per stream).
    ImplParams params;
    params.numHeads = static_cast<int>(qv.size(headsDim));
    params.numKvHeads = static_cast<int>(kv.size(headsDim));
    params.headSize = static_cast<int>(qv.size(3));
    params.softmaxScale = toScale(o.has_softmax_scale, o.softmax_scale);
    params.causal = o.causal != 0;
    params.layout = layout;
    params.prefix = "attnjit_sage_attention";
    auto backend = BackendRegistry::instance().get(kSageAttnBackend);
    std::unique_ptr<AttentionImpl> impl = backend->makeImpl(params);
    impl->forward(qv, kv, vv, *backend->makeMetadata(0), ov, toStream(stream));
  });
}

//===----------------------------------------------------------------------===//
// Attention through one pointer
//===----------------------------------------------------------------------===//

} // extern "C"

namespace {
/// Checks a call struct before its entry reads it; OK or the failure.
template <typename Call> attnjit_status checkCall(const Call *call, const char *function) {
  return guarded([&] {
    requireOut(call, function, "call");
    if (call->struct_size < sizeof(Call))
      invalid(fmt::format("{}: call->struct_size is {}, expected at least {} (set it to "
                          "sizeof the struct)",
                          function, call->struct_size, sizeof(Call)));
  });
}
} // namespace

extern "C" {

attnjit_status attnjit_flash_attention_call(const attnjit_flash_call *call) {
  if (attnjit_status s = checkCall(call, "attnjit_flash_attention_call"); s != ATTNJIT_OK)
    return s;
  return attnjit_flash_attention(call->q, call->k, call->v, call->out, call->opts, call->stream);
}

attnjit_status attnjit_sdpa_attention_call(const attnjit_sdpa_call *call) {
  if (attnjit_status s = checkCall(call, "attnjit_sdpa_attention_call"); s != ATTNJIT_OK)
    return s;
  return attnjit_sdpa_attention(call->q, call->k, call->v, call->out, call->opts, call->stream);
}

//===----------------------------------------------------------------------===//
// Backend registry and selector
//===----------------------------------------------------------------------===//

attnjit_status attnjit_backend_count(int *count) {
  return guarded([&] {
    requireOut(count, "attnjit_backend_count", "count");
    *count = static_cast<int>(BackendRegistry::instance().names().size());
  });
}

attnjit_status attnjit_backend_name(int index, const char **name) {
  return guarded([&] {
    requireOut(name, "attnjit_backend_name", "name");
    thread_local std::string storage;
    std::vector<std::string> names = BackendRegistry::instance().names();
    if (index < 0 || static_cast<size_t>(index) >= names.size())
      invalid(fmt::format("attnjit_backend_name: index {} is out of range (0..{}); the backends "
                          "are {}",
                          index, static_cast<int>(names.size()) - 1,
                          BackendRegistry::instance().knownNamesText()));
    storage = names[index];
    *name = storage.c_str();
  });
}

void attnjit_backend_info_init(attnjit_backend_info *info) {
  if (!info)
    return;
  std::memset(info, 0, sizeof(*info));
  info->struct_size = sizeof(*info);
}

attnjit_status attnjit_backend_get_info(const char *name, attnjit_backend_info *info) {
  return guarded([&] {
    requireOut(name, "attnjit_backend_get_info", "name");
    requireOut(info, "attnjit_backend_get_info", "info");
    if (info->struct_size < sizeof(attnjit_backend_info))
      invalid(fmt::format("attnjit_backend_get_info: struct_size is {}, expected at least {}",
                          info->struct_size, sizeof(attnjit_backend_info)));
    auto backend = BackendRegistry::instance().get(name);
    std::vector<int> sizes = backend->supportedHeadSizes();
    std::sort(sizes.begin(), sizes.end());
    constexpr size_t kCapacity = sizeof(info->head_sizes) / sizeof(info->head_sizes[0]);
    if (sizes.size() > kCapacity)
      throw Error(ErrorKind::Unsupported,
                  fmt::format("attnjit_backend_get_info: {} supports {} head sizes, more than "
                              "the {} attnjit_backend_info holds",
                              backend->name(), sizes.size(), kCapacity));
    attnjit_backend_info_init(info);
    info->accepts_output_buffer = backend->acceptsOutputBuffer();
    info->causal_bottom_right = backend->causalAlignedBottomRight();
    info->auto_priority = backend->autoPriority();
    info->num_head_sizes = static_cast<int32_t>(sizes.size());
    std::copy(sizes.begin(), sizes.end(), info->head_sizes);
    for (DType t : backend->supportedDTypes())
      info->dtype_mask |= 1u << static_cast<int>(t);
  });
}

void attnjit_selector_options_init(attnjit_selector_options *opts) {
  if (!opts)
    return;
  std::memset(opts, 0, sizeof(*opts));
  opts->struct_size = sizeof(*opts);
}

void attnjit_selection_init(attnjit_selection *selection) {
  if (!selection)
    return;
  std::memset(selection, 0, sizeof(*selection));
  selection->struct_size = sizeof(*selection);
}

attnjit_status attnjit_select_backend(int head_size, int dtype,
                                      const attnjit_selector_options *opts,
                                      attnjit_selection *selection) {
  return guarded([&] {
    requireOut(selection, "attnjit_select_backend", "selection");
    if (selection->struct_size < sizeof(attnjit_selection))
      invalid(fmt::format("attnjit_select_backend: selection struct_size is {}, expected at "
                          "least {}",
                          selection->struct_size, sizeof(attnjit_selection)));
    attnjit_selector_options o = readOptions(opts, attnjit_selector_options_init,
                                             sizeof(attnjit_selector_options), "selector options");
    SelectorOptions so;
    so.requested = o.requested ? o.requested : "";
    so.callerDefault = o.caller_default ? o.caller_default : "";
    so.strict = o.strict != 0;
    ImplArgs extra;
    if (o.dropout_p != 0)
      extra.set("dropout_p", o.dropout_p);
    BackendSelection sel =
        selectAttentionBackend(head_size, toDType(dtype, "attnjit_select_backend"), so, extra);
    thread_local std::string backend, requested, reason;
    backend = std::string(sel.backend->name());
    requested = sel.requested ? std::string(sel.requested->name()) : std::string();
    reason = sel.fallbackReason;
    attnjit_selection_init(selection);
    selection->backend = backend.c_str();
    selection->requested = requested.c_str();
    selection->source = static_cast<int32_t>(sel.source);
    selection->is_fallback = sel.isFallback();
    selection->fallback_reason = reason.c_str();
  });
}

//===----------------------------------------------------------------------===//
// Precompiled kernels
//===----------------------------------------------------------------------===//

attnjit_status attnjit_load_bundle(const char *path, int *num_kernels) {
  return guarded([&] {
    requireOut(path, "attnjit_load_bundle", "path");
    auto bundle = registerBundle(path);
    if (num_kernels)
      *num_kernels = static_cast<int>(bundle->kernels().size());
  });
}

attnjit_status attnjit_load_bundle_memory(const void *data, size_t size, const char *source_name,
                                          int *num_kernels) {
  return guarded([&] {
    requireOut(data, "attnjit_load_bundle_memory", "data");
    auto bundle = registerBundle(data, size, source_name ? source_name : "<memory>");
    if (num_kernels)
      *num_kernels = static_cast<int>(bundle->kernels().size());
  });
}

} // extern "C"

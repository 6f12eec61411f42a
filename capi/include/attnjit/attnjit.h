/*===- attnjit.h - attnjit's C API ---------------------------------*- C -*-===*
 *
 * Part of attnjit. The C interface of the attention runtime, for applications
 * in C and for other languages (the Python package calls it through ctypes).
 * Library: libattnjit_c.so (links attnjit_runtime and, when the compiler was
 * built, attnjit_compiler, so kernels are compiled on first use).
 *
 * Conventions
 *   - Every function that can fail returns an attnjit_status. ATTNJIT_OK is 0;
 *     any other value comes with a message, the same text the C++
 *     attnjit::Error carries, readable with attnjit_last_error_message() on
 *     the calling thread until that thread's next attnjit call (a successful
 *     call clears it). No C++ exception crosses this interface and nothing in
 *     it exits or aborts the process.
 *   - Tensors are DLPack DLTensors (dlpack/dlpack.h), never copied: data
 *     (plus byte_offset), dtype, device, shape and strides in elements
 *     (strides == NULL means row-major contiguous). The head dimension must
 *     be contiguous (stride 1). The caller owns the memory and keeps it alive
 *     until the work on `stream` is done.
 *   - Streams are CUstream passed as void* (NULL: the current context's null
 *     stream, or the primary context of the tensors' device). Attention calls
 *     allocate nothing and synchronize nothing, so once their kernel has been
 *     loaded (the first call with a shape family compiles or loads it) they
 *     may be captured into a CUDA graph.
 *   - Options structs begin with struct_size = sizeof(the struct) as the
 *     caller compiled it; initialise them with the matching *_init function.
 *     Fields are only ever appended, so a library of a later
 *     ATTNJIT_C_API_VERSION accepts structs of an earlier one. A NULL options
 *     pointer means the defaults.
 *   - Everything is thread-safe except where noted; the last error is per
 *     thread.
 *
 *===----------------------------------------------------------------------===*/
#ifndef ATTNJIT_ATTNJIT_H
#define ATTNJIT_ATTNJIT_H

#include <dlpack/dlpack.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ATTNJIT_C_EXPORT __attribute__((visibility("default")))
#else
#define ATTNJIT_C_EXPORT
#endif

/** Version of this interface. Incremented whenever a function or a field is
 *  added; an existing signature or field never changes meaning. Compare with
 *  attnjit_c_api_version() to detect a header/library mismatch. */
#define ATTNJIT_C_API_VERSION 2

/*===----------------------------------------------------------------------===*
 * Status, errors, version
 *===----------------------------------------------------------------------===*/

typedef enum attnjit_status {
  ATTNJIT_OK = 0,
  ATTNJIT_ERROR_INVALID_ARGUMENT = 1, /**< bad input; nothing was launched */
  ATTNJIT_ERROR_UNSUPPORTED = 2,      /**< valid, but attnjit cannot serve it (yet) */
  ATTNJIT_ERROR_NO_DEVICE = 3,        /**< no CUDA driver or no device */
  ATTNJIT_ERROR_DRIVER = 4,           /**< a CUDA driver call failed */
  ATTNJIT_ERROR_COMPILE = 5,          /**< the kernel compiler failed */
  ATTNJIT_ERROR_NOT_FOUND = 6,        /**< no bundle, cache or JIT has the kernel */
  ATTNJIT_ERROR_IO = 7,               /**< file system (bundles, cache) */
  ATTNJIT_ERROR_INTERNAL = 8,         /**< an unexpected failure (e.g. out of host memory) */
  /** Not a status: makes every int up to INT32_MAX a value of the type, so a
   * code from a newer library (or garbage) read here is defined behaviour. */
  ATTNJIT_STATUS_MAX_ENUM = 0x7FFFFFFF
} attnjit_status;

/** ATTNJIT_C_API_VERSION of the library (not of the header you compiled). */
ATTNJIT_C_EXPORT int attnjit_c_api_version(void);
/** Project version, e.g. "0.1.0". Static storage. */
ATTNJIT_C_EXPORT const char *attnjit_version(void);
/** Git hash the library was built from (12 hex digits or "unknown"). Static storage. */
ATTNJIT_C_EXPORT const char *attnjit_git_hash(void);
/** "<version>+<git hash>"; part of every kernel cache key. Static storage. */
ATTNJIT_C_EXPORT const char *attnjit_build_id(void);
/** 1 when the JIT compiler is linked (kernels compile on first use), 0 when
 *  kernels come only from bundles and the disk cache. */
ATTNJIT_C_EXPORT int attnjit_has_jit(void);

/** "ATTNJIT_ERROR_INVALID_ARGUMENT" etc.; "unknown status" for other values. */
ATTNJIT_C_EXPORT const char *attnjit_status_name(attnjit_status status);
/** Status of this thread's last attnjit call. */
ATTNJIT_C_EXPORT attnjit_status attnjit_last_error_code(void);
/** Message of this thread's last failed call ("" after a success). Valid
 *  until this thread's next attnjit call. */
ATTNJIT_C_EXPORT const char *attnjit_last_error_message(void);

/*===----------------------------------------------------------------------===*
 * Devices
 *===----------------------------------------------------------------------===*/

/** Number of CUDA devices. Without a driver or device: *count = 0 and
 *  ATTNJIT_ERROR_NO_DEVICE with the reason. */
ATTNJIT_C_EXPORT attnjit_status attnjit_device_count(int *count);

typedef struct attnjit_device_info {
  uint32_t struct_size;
  char name[256];      /**< e.g. "NVIDIA H200" */
  char arch[32];       /**< the arch kernels are compiled for, e.g. "sm_90a" */
  int32_t cc_major;    /**< compute capability */
  int32_t cc_minor;
  int32_t sm_count;
} attnjit_device_info;

ATTNJIT_C_EXPORT void attnjit_device_info_init(attnjit_device_info *info);
/** Fills `info` for device `ordinal` (0 .. count-1). */
ATTNJIT_C_EXPORT attnjit_status attnjit_device_get_info(int ordinal, attnjit_device_info *info);

/*===----------------------------------------------------------------------===*
 * Attention
 *===----------------------------------------------------------------------===*/

/** Order of the dimensions of q, k, v and out. */
typedef enum attnjit_layout {
  ATTNJIT_LAYOUT_BSHD = 0, /**< [batch, seqlen, heads, head_dim] (flash-attn, FastVideo) */
  ATTNJIT_LAYOUT_BHSD = 1, /**< [batch, heads, seqlen, head_dim] (PyTorch SDPA) */
  ATTNJIT_LAYOUT_MAX_ENUM = 0x7FFFFFFF /**< not a layout (see ATTNJIT_STATUS_MAX_ENUM) */
} attnjit_layout;

/** Element types (the values of attnjit::DType). */
typedef enum attnjit_dtype {
  ATTNJIT_DTYPE_F16 = 0,
  ATTNJIT_DTYPE_BF16 = 1,
  ATTNJIT_DTYPE_F32 = 2,
  ATTNJIT_DTYPE_BOOL = 3,
  ATTNJIT_DTYPE_I8 = 4,
  ATTNJIT_DTYPE_F8E4M3 = 5,
  ATTNJIT_DTYPE_MAX_ENUM = 0x7FFFFFFF /**< not a dtype (see ATTNJIT_STATUS_MAX_ENUM) */
} attnjit_dtype;

/** Kernel configuration; 0 fields are chosen by the compiler. */
typedef struct attnjit_kernel_config {
  int32_t block_m, block_n, num_warps, stages;
} attnjit_kernel_config;

typedef struct attnjit_flash_options {
  uint32_t struct_size;
  int32_t layout;            /**< attnjit_layout; default BSHD */
  /** Causal mask aligned bottom-right (FlashAttention-2): key j is visible to
   *  query i iff j <= i + seqlen_k - seqlen_q; fully masked rows output 0. */
  int32_t causal;
  /** Nonzero: use softmax_scale; zero: 1/sqrt(head_dim). */
  int32_t has_softmax_scale;
  float softmax_scale;
  /** Optional fp32 [batch, num_heads, seqlen_q] contiguous output on the
   *  tensors' device: the natural-log log-sum-exp of each row's scaled
   *  scores. NULL: not written. */
  float *lse;
  attnjit_kernel_config config;
} attnjit_flash_options;

ATTNJIT_C_EXPORT void attnjit_flash_options_init(attnjit_flash_options *opts);

/** out = softmax(q k^T * scale [+ causal mask]) v. q and out [B, Sq, H, D],
 *  k and v [B, Sk, Hkv, D] (or BHSD order with opts->layout); grouped query
 *  attention when Hkv divides H. f16/bf16, head sizes 32..256 in steps of 32
 *  (see attnjit_backend_get_info("FLASH_ATTN")). Everything is checked
 *  before anything is loaded or launched. */
ATTNJIT_C_EXPORT attnjit_status attnjit_flash_attention(const DLTensor *q, const DLTensor *k,
                                                        const DLTensor *v, const DLTensor *out,
                                                        const attnjit_flash_options *opts,
                                                        void *stream);

typedef struct attnjit_sdpa_options {
  uint32_t struct_size;
  int32_t layout;            /**< attnjit_layout; default BSHD */
  /** PyTorch's is_causal: key j visible to query i iff j <= i (top-left). */
  int32_t causal;
  int32_t has_softmax_scale; /**< nonzero: use softmax_scale; zero: 1/sqrt(head_dim) */
  float softmax_scale;
  /** Optional mask (NULL: none): bool / uint8 (nonzero = attend) or additive
   *  in q's dtype. Rank 2 [B, Sk] (key padding), rank 3 [B, Sq, Sk] or rank 4
   *  [B, H, Sq, Sk]; a size may be 1 to broadcast. A mask whose query stride
   *  is 0 (e.g. [B, 1, 1, Sk]) selects the per-key mask kernels. Rows with
   *  every key masked out produce zeros. */
  const DLTensor *mask;
  /** Drop probability in [0, 1); the Philox stream is (seed, offset). */
  float dropout_p;
  uint64_t seed;
  uint64_t offset;
  attnjit_kernel_config config;
} attnjit_sdpa_options;

ATTNJIT_C_EXPORT void attnjit_sdpa_options_init(attnjit_sdpa_options *opts);

/** torch.nn.functional.scaled_dot_product_attention: out = dropout(softmax(
 *  q k^T * scale + mask [causal])) v. Shapes as attnjit_flash_attention;
 *  f16/bf16/f32, any head size 1..256, GQA when Hkv divides H. */
ATTNJIT_C_EXPORT attnjit_status attnjit_sdpa_attention(const DLTensor *q, const DLTensor *k,
                                                       const DLTensor *v, const DLTensor *out,
                                                       const attnjit_sdpa_options *opts,
                                                       void *stream);

typedef struct attnjit_sage_options {
  uint32_t struct_size;
  int32_t layout;            /**< attnjit_layout; default BSHD */
  int32_t causal;
  int32_t has_softmax_scale; /**< nonzero: use softmax_scale; zero: 1/sqrt(head_dim) */
  float softmax_scale;
} attnjit_sage_options;

ATTNJIT_C_EXPORT void attnjit_sage_options_init(attnjit_sage_options *opts);

/** SageAttention (INT8 Q K^T, FP8 P V; the default granularity per_thread,
 *  smooth_k and two-level fp32 accumulation) through the SAGE_ATTN backend of
 *  the registry. Shapes as attnjit_flash_attention; f16/bf16, head sizes 32,
 *  64, ..., 256; needs an sm_89+ GPU (ATTNJIT_ERROR_UNSUPPORTED elsewhere). */
ATTNJIT_C_EXPORT attnjit_status attnjit_sage_attention(const DLTensor *q, const DLTensor *k,
                                                       const DLTensor *v, const DLTensor *out,
                                                       const attnjit_sage_options *opts,
                                                       void *stream);

/*===----------------------------------------------------------------------===*
 * Attention through one pointer (C API version 2)
 *
 * The same entries with their arguments gathered in one struct. An FFI that
 * pays per argument (Python's ctypes converts each one, about as much as the
 * launch itself costs) keeps one such struct per thread, pointing at
 * DLTensors and options it rewrites in place, and passes only its address.
 * The checks, errors and launch are those of the entry named; a NULL `call`
 * or a struct_size below the struct's size is ATTNJIT_ERROR_INVALID_ARGUMENT.
 *===----------------------------------------------------------------------===*/

typedef struct attnjit_flash_call {
  uint32_t struct_size; /**< sizeof(attnjit_flash_call) */
  const DLTensor *q, *k, *v, *out;
  const attnjit_flash_options *opts; /**< NULL: the defaults */
  void *stream;
} attnjit_flash_call;

/** attnjit_flash_attention(call->q, call->k, call->v, call->out, call->opts,
 *  call->stream). */
ATTNJIT_C_EXPORT attnjit_status attnjit_flash_attention_call(const attnjit_flash_call *call);

typedef struct attnjit_sdpa_call {
  uint32_t struct_size; /**< sizeof(attnjit_sdpa_call) */
  const DLTensor *q, *k, *v, *out;
  const attnjit_sdpa_options *opts; /**< NULL: the defaults */
  void *stream;
} attnjit_sdpa_call;

/** attnjit_sdpa_attention(call->q, call->k, call->v, call->out, call->opts,
 *  call->stream). */
ATTNJIT_C_EXPORT attnjit_status attnjit_sdpa_attention_call(const attnjit_sdpa_call *call);

/*===----------------------------------------------------------------------===*
 * Backend registry and selector (FastVideo's attention backends)
 *===----------------------------------------------------------------------===*/

/** Number of registered backends (FLASH_ATTN, SDPA, SAGE_ATTN, ...). */
ATTNJIT_C_EXPORT attnjit_status attnjit_backend_count(int *count);
/** Canonical name of backend `index` in registration order. The string is
 *  valid until this thread's next attnjit_backend_name call. */
ATTNJIT_C_EXPORT attnjit_status attnjit_backend_name(int index, const char **name);

typedef struct attnjit_backend_info {
  uint32_t struct_size;
  int32_t accepts_output_buffer;
  int32_t causal_bottom_right; /**< causal aligned bottom-right (else top-left) */
  int32_t auto_priority;       /**< higher first; negative: never chosen automatically */
  int32_t num_head_sizes;
  int32_t head_sizes[256];     /**< the first num_head_sizes entries, ascending */
  uint32_t dtype_mask;         /**< bit (1 << attnjit_dtype) per supported dtype */
} attnjit_backend_info;

ATTNJIT_C_EXPORT void attnjit_backend_info_init(attnjit_backend_info *info);
/** Describes the backend `name` (case-insensitive; TORCH_SDPA is SDPA). An
 *  unknown name is ATTNJIT_ERROR_INVALID_ARGUMENT listing the known ones. */
ATTNJIT_C_EXPORT attnjit_status attnjit_backend_get_info(const char *name,
                                                         attnjit_backend_info *info);

typedef enum attnjit_selection_source {
  ATTNJIT_SELECTION_EXPLICIT = 0,
  ATTNJIT_SELECTION_ENV = 1,            /**< $ATTNJIT_ATTENTION_BACKEND */
  ATTNJIT_SELECTION_CALLER_DEFAULT = 2,
  ATTNJIT_SELECTION_AUTOMATIC = 3,
  ATTNJIT_SELECTION_MAX_ENUM = 0x7FFFFFFF /**< not a source (see ATTNJIT_STATUS_MAX_ENUM) */
} attnjit_selection_source;

typedef struct attnjit_selector_options {
  uint32_t struct_size;
  const char *requested;      /**< explicit request; NULL or "": none */
  const char *caller_default; /**< used when neither request nor env names one */
  /** Nonzero: a named backend that cannot serve is ATTNJIT_ERROR_UNSUPPORTED
   *  instead of a logged fallback. */
  int32_t strict;
  /** Extra argument the backends must honour (FLASH_ATTN only 0). */
  double dropout_p;
} attnjit_selector_options;

typedef struct attnjit_selection {
  uint32_t struct_size;
  /** Strings valid until this thread's next attnjit_select_backend call. */
  const char *backend;         /**< the backend chosen */
  const char *requested;       /**< the backend named ("" when automatic) */
  int32_t source;              /**< attnjit_selection_source */
  int32_t is_fallback;
  const char *fallback_reason; /**< why `requested` could not serve ("" if it did) */
} attnjit_selection;

ATTNJIT_C_EXPORT void attnjit_selector_options_init(attnjit_selector_options *opts);
ATTNJIT_C_EXPORT void attnjit_selection_init(attnjit_selection *selection);
/** Picks the backend for (head_size, dtype): explicit request >
 *  $ATTNJIT_ATTENTION_BACKEND > caller default > automatic (FLASH_ATTN when it
 *  serves, else SDPA). Unknown names are ATTNJIT_ERROR_INVALID_ARGUMENT. */
ATTNJIT_C_EXPORT attnjit_status attnjit_select_backend(int head_size, int dtype,
                                                       const attnjit_selector_options *opts,
                                                       attnjit_selection *selection);

/*===----------------------------------------------------------------------===*
 * Precompiled kernels
 *===----------------------------------------------------------------------===*/

/** Loads the bundle at `path` (written by attnjit-aot) and serves its
 *  kernels before the disk cache and the JIT. *num_kernels (may be NULL)
 *  receives its kernel count. A missing, truncated, foreign-version or
 *  corrupt file is ATTNJIT_ERROR_IO naming the file and the fault. */
ATTNJIT_C_EXPORT attnjit_status attnjit_load_bundle(const char *path, int *num_kernels);
/** The same for bundle bytes in memory (copied); `source_name` (may be NULL)
 *  names it in messages. */
ATTNJIT_C_EXPORT attnjit_status attnjit_load_bundle_memory(const void *data, size_t size,
                                                           const char *source_name,
                                                           int *num_kernels);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTNJIT_ATTNJIT_H */

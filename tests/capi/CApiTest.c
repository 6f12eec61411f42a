/*===- CApiTest.c - The C API, called from C -------------------------------===*
 *
 * Part of attnjit. Compiled as C (not C++): the header must be valid C. Every
 * bad-input path of the attention entries is exercised with host buffers, so
 * nothing reaches a device; each check pins the status code and a piece of the
 * message (the text attnjit::Error carries). Runs without a GPU.
 *
 *===----------------------------------------------------------------------===*/
#include "attnjit/attnjit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                   \
      ++failures;                                                                                  \
    }                                                                                              \
  } while (0)

/* Checks that `status` is `expected` and that the thread's last error says
 * `fragment`; prints the message either way so the log shows what users see. */
static void expectError(int line, attnjit_status status, attnjit_status expected,
                        const char *fragment) {
  const char *msg = attnjit_last_error_message();
  printf("line %d: %s: %s\n", line, attnjit_status_name(status), msg);
  if (status != expected) {
    fprintf(stderr, "line %d: expected %s, got %s (%s)\n", line, attnjit_status_name(expected),
            attnjit_status_name(status), msg);
    ++failures;
  }
  if (attnjit_last_error_code() != status) {
    fprintf(stderr, "line %d: attnjit_last_error_code() is %s, the call returned %s\n", line,
            attnjit_status_name(attnjit_last_error_code()), attnjit_status_name(status));
    ++failures;
  }
  if (!strstr(msg, fragment)) {
    fprintf(stderr, "line %d: message lacks \"%s\": %s\n", line, fragment, msg);
    ++failures;
  }
}
#define EXPECT_ERROR(call, expected, fragment) expectError(__LINE__, (call), (expected), (fragment))

static void expectOk(int line, attnjit_status status) {
  if (status != ATTNJIT_OK) {
    fprintf(stderr, "line %d: expected ATTNJIT_OK, got %s: %s\n", line,
            attnjit_status_name(status), attnjit_last_error_message());
    ++failures;
  }
  if (attnjit_last_error_code() != ATTNJIT_OK || attnjit_last_error_message()[0] != '\0') {
    fprintf(stderr, "line %d: a success must clear the last error\n", line);
    ++failures;
  }
}
#define EXPECT_OK(call) expectOk(__LINE__, (call))

/* A BSHD tensor over a host buffer; `device` is kDLCUDA unless a test says. */
typedef struct {
  DLTensor t;
  int64_t shape[4];
  int64_t strides[4];
} Tensor4;

static void makeTensor(Tensor4 *x, void *data, uint8_t code, uint8_t bits, int64_t b, int64_t s,
                       int64_t h, int64_t d) {
  memset(x, 0, sizeof(*x));
  x->shape[0] = b, x->shape[1] = s, x->shape[2] = h, x->shape[3] = d;
  x->strides[3] = 1;
  x->strides[2] = d;
  x->strides[1] = h * d;
  x->strides[0] = s * h * d;
  x->t.data = data;
  x->t.device.device_type = kDLCUDA;
  x->t.device.device_id = 0;
  x->t.ndim = 4;
  x->t.dtype.code = code;
  x->t.dtype.bits = bits;
  x->t.dtype.lanes = 1;
  x->t.shape = x->shape;
  x->t.strides = x->strides;
}

/* Host memory standing in for device memory: every call below fails its
 * checks before anything would read it. */
static _Alignas(256) unsigned char qBuf[4096], kBuf[4096], vBuf[4096], oBuf[4096], mBuf[4096];

static void testVersion(void) {
  CHECK(attnjit_c_api_version() == ATTNJIT_C_API_VERSION);
  CHECK(strcmp(attnjit_version(), ATTNJIT_EXPECTED_VERSION) == 0);
  const char *id = attnjit_build_id();
  size_t n = strlen(attnjit_version());
  CHECK(strncmp(id, attnjit_version(), n) == 0 && id[n] == '+');
  CHECK(strcmp(id + n + 1, attnjit_git_hash()) == 0);
  CHECK(attnjit_has_jit() == ATTNJIT_EXPECTED_JIT);
  CHECK(strcmp(attnjit_status_name(ATTNJIT_ERROR_IO), "ATTNJIT_ERROR_IO") == 0);
  CHECK(strcmp(attnjit_status_name((attnjit_status)99), "unknown status") == 0);
  printf("attnjit %s (C API %d, build %s, jit %d)\n", attnjit_version(), attnjit_c_api_version(),
         id, attnjit_has_jit());
}

static void testDevices(void) {
  int count = -1;
  attnjit_status s = attnjit_device_count(&count);
  if (s == ATTNJIT_OK) {
    CHECK(count >= 0);
    printf("devices: %d\n", count);
  } else {
    /* No driver (CI): a reason, and count 0. */
    CHECK(s == ATTNJIT_ERROR_NO_DEVICE);
    CHECK(count == 0);
    CHECK(attnjit_last_error_message()[0] != '\0');
    printf("devices: none (%s)\n", attnjit_last_error_message());
  }
  EXPECT_ERROR(attnjit_device_count(NULL), ATTNJIT_ERROR_INVALID_ARGUMENT, "count is NULL");
  EXPECT_ERROR(attnjit_device_get_info(0, NULL), ATTNJIT_ERROR_INVALID_ARGUMENT, "info is NULL");
  attnjit_device_info info;
  attnjit_device_info_init(&info);
  if (s != ATTNJIT_OK)
    EXPECT_ERROR(attnjit_device_get_info(0, &info), ATTNJIT_ERROR_NO_DEVICE, "");
  else
    EXPECT_ERROR(attnjit_device_get_info(count, &info), ATTNJIT_ERROR_INVALID_ARGUMENT, "");
}

static void testFlashBadInput(void) {
  Tensor4 q, k, v, o;
  makeTensor(&q, qBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&k, kBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&v, vBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&o, oBuf, kDLBfloat, 16, 1, 4, 2, 64);

  /* Null pointers, each named. */
  EXPECT_ERROR(attnjit_flash_attention(NULL, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q: NULL DLTensor pointer");
  EXPECT_ERROR(attnjit_flash_attention(&q.t, NULL, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "k: NULL DLTensor pointer");
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, NULL, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "v: NULL DLTensor pointer");
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, NULL, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "out: NULL DLTensor pointer");
  q.t.data = NULL;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q.data: expected a non-null device pointer");
  q.t.data = qBuf;

  /* A dtype DLPack can name but attnjit cannot take; one attnjit takes but
   * flash does not; one that differs from q's. */
  k.t.dtype.code = kDLInt, k.t.dtype.bits = 32;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "k: DLPack dtype: unsupported");
  /* Several bad tensors: the first in argument order is named (an output
   * made like a bad q is bad too; the message names q). */
  o.t.dtype.code = kDLInt, o.t.dtype.bits = 64;
  k.t.dtype.code = kDLBfloat, k.t.dtype.bits = 16;
  q.t.dtype.code = kDLInt, q.t.dtype.bits = 64;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q: DLPack dtype: unsupported");
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q: DLPack dtype: unsupported");
  q.t.dtype.code = kDLBfloat, q.t.dtype.bits = 16;
  o.t.dtype.code = kDLBfloat, o.t.dtype.bits = 16;
  k.t.dtype.code = kDLFloat, k.t.dtype.bits = 32;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "k.dtype: expected bf16 (q's dtype)");
  k.t.dtype.code = kDLBfloat, k.t.dtype.bits = 16;
  q.t.dtype.code = kDLFloat, q.t.dtype.bits = 32;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q.dtype: expected");
  q.t.dtype.code = kDLBfloat, q.t.dtype.bits = 16;

  /* Tensors on the host. */
  q.t.device.device_type = kDLCPU;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q.device: expected a CUDA tensor");
  q.t.device.device_type = kDLCUDA;
  q.t.device.device_type = kDLOpenCL;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q: DLPack device: unsupported");
  q.t.device.device_type = kDLCUDA;

  /* Mismatched shapes. */
  k.shape[3] = 32;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "k.shape[3] (head_dim): expected 64");
  k.shape[3] = 64;
  v.shape[1] = 5;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "v.shape: expected");
  v.shape[1] = 4;
  o.shape[1] = 3;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "out.shape: expected");
  o.shape[1] = 4;
  k.shape[2] = v.shape[2] = 3;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "(num_kv_heads): expected a divisor");
  k.shape[2] = v.shape[2] = 2;
  q.t.ndim = 3;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "q.rank: expected 4");
  q.t.ndim = 4;

  /* A head dim that is not contiguous. */
  v.strides[3] = 2;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "head_dim must be contiguous");
  v.strides[3] = 1;

  /* A head size no flash kernel serves. */
  {
    Tensor4 q80, k80, v80, o80;
    makeTensor(&q80, qBuf, kDLBfloat, 16, 1, 4, 2, 80);
    makeTensor(&k80, kBuf, kDLBfloat, 16, 1, 4, 2, 80);
    makeTensor(&v80, vBuf, kDLBfloat, 16, 1, 4, 2, 80);
    makeTensor(&o80, oBuf, kDLBfloat, 16, 1, 4, 2, 80);
    EXPECT_ERROR(attnjit_flash_attention(&q80.t, &k80.t, &v80.t, &o80.t, NULL, NULL),
                 ATTNJIT_ERROR_UNSUPPORTED, "80");
  }

  /* Options: a struct from no _init, an unknown layout, a NaN scale. */
  attnjit_flash_options opts;
  attnjit_flash_options_init(&opts);
  CHECK(opts.struct_size == sizeof(opts) && opts.layout == ATTNJIT_LAYOUT_BSHD && !opts.causal);
  opts.struct_size = 4;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "flash options: struct_size is 4");
  attnjit_flash_options_init(&opts);
  opts.layout = 7;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "layout must be");
  attnjit_flash_options_init(&opts);
  opts.has_softmax_scale = 1;
  opts.softmax_scale = 0.0f / 0.0f;
  EXPECT_ERROR(attnjit_flash_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "softmaxScale: expected a finite value");
}

static void testSdpaBadInput(void) {
  Tensor4 q, k, v, o;
  makeTensor(&q, qBuf, kDLFloat, 16, 1, 4, 2, 80);
  makeTensor(&k, kBuf, kDLFloat, 16, 1, 6, 2, 80);
  makeTensor(&v, vBuf, kDLFloat, 16, 1, 6, 2, 80);
  makeTensor(&o, oBuf, kDLFloat, 16, 1, 4, 2, 80);
  attnjit_sdpa_options opts;
  attnjit_sdpa_options_init(&opts);

  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, NULL, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "v: NULL DLTensor pointer");
  o.t.device.device_type = kDLCPU;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "out.device: expected a CUDA tensor");
  o.t.device.device_type = kDLCUDA;
  /* BHSD order reads the same memory as [B, H, S, D]: heads 4 vs kv heads 6. */
  opts.layout = ATTNJIT_LAYOUT_BHSD;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "(num_kv_heads): expected a divisor");
  opts.layout = ATTNJIT_LAYOUT_BSHD;

  opts.dropout_p = 1.5f;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "opts.dropoutP: expected a drop probability");
  opts.dropout_p = 0.0f;

  /* Masks: a dtype attnjit does not take, one no mask has, a wrong key length. */
  int64_t mshape[2] = {1, 6};
  DLTensor mask;
  memset(&mask, 0, sizeof(mask));
  mask.data = mBuf;
  mask.device.device_type = kDLCUDA;
  mask.ndim = 2;
  mask.shape = mshape;
  mask.dtype.code = kDLInt, mask.dtype.bits = 32, mask.dtype.lanes = 1;
  opts.mask = &mask;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "mask: DLPack dtype: unsupported");
  mask.dtype.code = kDLFloat, mask.dtype.bits = 32;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "mask.dtype: expected bool or f16");
  mask.dtype.code = 6 /* kDLBool (DLPack 0.8; Debian ships 0.6) */, mask.dtype.bits = 8;
  mshape[1] = 5;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "(seqlen_k): expected 6");
  mshape[1] = 6;
  mask.device.device_type = kDLCPU;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "mask.device: expected a CUDA tensor");
  opts.mask = NULL;

  opts.struct_size = 8;
  EXPECT_ERROR(attnjit_sdpa_attention(&q.t, &k.t, &v.t, &o.t, &opts, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "sdpa options: struct_size is 8");
}

/* The one-pointer entries: the call struct itself is checked, then every
 * check of the entry it forwards to applies (the same messages). */
static void testCallEntries(void) {
  Tensor4 q, k, v, o;
  makeTensor(&q, qBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&k, kBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&v, vBuf, kDLBfloat, 16, 1, 4, 2, 64);
  makeTensor(&o, oBuf, kDLBfloat, 16, 1, 4, 2, 64);
  attnjit_flash_options fopts;
  attnjit_flash_options_init(&fopts);

  EXPECT_ERROR(attnjit_flash_attention_call(NULL), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "attnjit_flash_attention_call: call is NULL");
  attnjit_flash_call fc;
  memset(&fc, 0, sizeof(fc));
  fc.struct_size = 8;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "call->struct_size is 8");
  fc.struct_size = sizeof(fc);
  fc.q = &q.t, fc.k = &k.t, fc.v = NULL, fc.out = &o.t, fc.opts = &fopts;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "v: NULL DLTensor pointer");
  fc.v = &v.t;
  k.t.dtype.code = kDLFloat;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "k.dtype: expected bf16 (q's dtype), got f16");
  k.t.dtype.code = kDLBfloat;
  /* A NULL strides pointer is row-major, e.g. an output made for the call. */
  o.t.strides = NULL;
  o.shape[3] = 32;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "out.shape: expected [1, 4, 2, 64] (q's shape), got [1, 4, 2, 32]");
  o.shape[3] = 64;
  fopts.layout = 7;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "flash options: layout must be");
  fopts.layout = ATTNJIT_LAYOUT_BSHD;
  /* Valid arguments on host memory: refused for the device, never launched. */
  q.t.device.device_type = kDLCPU;
  EXPECT_ERROR(attnjit_flash_attention_call(&fc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "q.device: expected a CUDA tensor");
  q.t.device.device_type = kDLCUDA;

  attnjit_sdpa_options sopts;
  attnjit_sdpa_options_init(&sopts);
  EXPECT_ERROR(attnjit_sdpa_attention_call(NULL), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "attnjit_sdpa_attention_call: call is NULL");
  attnjit_sdpa_call sc;
  memset(&sc, 0, sizeof(sc));
  sc.struct_size = sizeof(sc) - 1;
  EXPECT_ERROR(attnjit_sdpa_attention_call(&sc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "call->struct_size is");
  sc.struct_size = sizeof(sc);
  sc.q = &q.t, sc.k = &k.t, sc.v = &v.t, sc.out = &o.t, sc.opts = &sopts;
  sopts.dropout_p = -1.0f;
  EXPECT_ERROR(attnjit_sdpa_attention_call(&sc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "opts.dropoutP: expected a drop probability");
  sopts.dropout_p = 0.0f;
  q.t.strides = NULL; /* row-major: the same strides as before */
  q.shape[1] = 0;
  EXPECT_ERROR(attnjit_sdpa_attention_call(&sc), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "q.shape[1] (seqlen_q): expected > 0, got 0");
}

static void testSage(void) {
  Tensor4 q, k, v, o;
  makeTensor(&q, qBuf, kDLFloat, 16, 1, 4, 2, 64);
  makeTensor(&k, kBuf, kDLFloat, 16, 1, 4, 2, 64);
  makeTensor(&v, vBuf, kDLFloat, 16, 1, 4, 2, 64);
  makeTensor(&o, oBuf, kDLFloat, 16, 1, 4, 2, 64);
  EXPECT_ERROR(attnjit_sage_attention(&q.t, &k.t, &v.t, NULL, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "out: NULL DLTensor pointer");
  k.t.ndim = 2;
  EXPECT_ERROR(attnjit_sage_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "k: expected rank 4");
  k.t.ndim = 4;
  /* A head size SAGE_ATTN does not serve is refused before anything runs. */
  makeTensor(&q, qBuf, kDLFloat, 16, 1, 4, 2, 80);
  makeTensor(&k, kBuf, kDLFloat, 16, 1, 4, 2, 80);
  makeTensor(&v, vBuf, kDLFloat, 16, 1, 4, 2, 80);
  makeTensor(&o, oBuf, kDLFloat, 16, 1, 4, 2, 80);
  EXPECT_ERROR(attnjit_sage_attention(&q.t, &k.t, &v.t, &o.t, NULL, NULL),
               ATTNJIT_ERROR_UNSUPPORTED, "head size 80 is not one of 32, 64, 96");
}

static void testRegistry(void) {
  int count = 0;
  EXPECT_OK(attnjit_backend_count(&count));
  CHECK(count >= 3);
  const char *name = NULL;
  EXPECT_OK(attnjit_backend_name(0, &name));
  CHECK(name && strcmp(name, "FLASH_ATTN") == 0);
  EXPECT_OK(attnjit_backend_name(1, &name));
  CHECK(name && strcmp(name, "SDPA") == 0);
  EXPECT_ERROR(attnjit_backend_name(count, &name), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "out of range");
  EXPECT_ERROR(attnjit_backend_name(0, NULL), ATTNJIT_ERROR_INVALID_ARGUMENT, "name is NULL");

  attnjit_backend_info info;
  attnjit_backend_info_init(&info);
  EXPECT_OK(attnjit_backend_get_info("flash_attn", &info));
  CHECK(info.accepts_output_buffer == 1 && info.causal_bottom_right == 1);
  CHECK(info.num_head_sizes > 0 && info.head_sizes[0] == 32);
  CHECK(info.dtype_mask == ((1u << ATTNJIT_DTYPE_F16) | (1u << ATTNJIT_DTYPE_BF16)));
  EXPECT_OK(attnjit_backend_get_info("TORCH_SDPA", &info));
  CHECK(info.causal_bottom_right == 0 && info.num_head_sizes == 256 && info.head_sizes[255] == 256);
  CHECK(info.dtype_mask & (1u << ATTNJIT_DTYPE_F32));
  EXPECT_OK(attnjit_backend_get_info("SAGE_ATTN", &info));
  CHECK(info.num_head_sizes == 8 && info.head_sizes[7] == 256 && info.auto_priority < 0);
  EXPECT_ERROR(attnjit_backend_get_info("NO_SUCH_BACKEND", &info),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "FLASH_ATTN");
  EXPECT_ERROR(attnjit_backend_get_info(NULL, &info), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "name is NULL");
  info.struct_size = 3;
  EXPECT_ERROR(attnjit_backend_get_info("SDPA", &info), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "struct_size is 3");
}

static void testSelector(void) {
  attnjit_selector_options opts;
  attnjit_selection sel;
  attnjit_selector_options_init(&opts);
  attnjit_selection_init(&sel);

  /* Automatic: FLASH_ATTN at 64, SDPA at 80 (no flash kernel). */
  EXPECT_OK(attnjit_select_backend(64, ATTNJIT_DTYPE_BF16, &opts, &sel));
  CHECK(strcmp(sel.backend, "FLASH_ATTN") == 0 && sel.source == ATTNJIT_SELECTION_AUTOMATIC);
  EXPECT_OK(attnjit_select_backend(80, ATTNJIT_DTYPE_BF16, NULL, &sel));
  CHECK(strcmp(sel.backend, "SDPA") == 0 && !sel.is_fallback && sel.requested[0] == '\0');

  /* A request that cannot serve falls back with the reason, or fails when strict. */
  opts.requested = "SAGE_ATTN";
  EXPECT_OK(attnjit_select_backend(64, ATTNJIT_DTYPE_F16, &opts, &sel));
  CHECK(strcmp(sel.backend, "SAGE_ATTN") == 0 && !sel.is_fallback);
  EXPECT_OK(attnjit_select_backend(80, ATTNJIT_DTYPE_F16, &opts, &sel));
  CHECK(strcmp(sel.backend, "SDPA") == 0 && sel.is_fallback);
  CHECK(strcmp(sel.requested, "SAGE_ATTN") == 0 && sel.source == ATTNJIT_SELECTION_EXPLICIT);
  CHECK(strstr(sel.fallback_reason, "head size 80") != NULL);
  opts.strict = 1;
  EXPECT_ERROR(attnjit_select_backend(80, ATTNJIT_DTYPE_F16, &opts, &sel),
               ATTNJIT_ERROR_UNSUPPORTED, "head size 80");
  opts.requested = "FLASH_ATTN";
  opts.dropout_p = 0.1;
  EXPECT_ERROR(attnjit_select_backend(64, ATTNJIT_DTYPE_F16, &opts, &sel),
               ATTNJIT_ERROR_UNSUPPORTED, "dropout");
  opts.dropout_p = 0;
  opts.requested = "flash-attention-3";
  EXPECT_ERROR(attnjit_select_backend(64, ATTNJIT_DTYPE_F16, &opts, &sel),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "flash-attention-3");
  opts.requested = NULL;
  opts.strict = 0;
  opts.caller_default = "TORCH_SDPA";
  EXPECT_OK(attnjit_select_backend(64, ATTNJIT_DTYPE_F16, &opts, &sel));
  CHECK(strcmp(sel.backend, "SDPA") == 0);
  CHECK(sel.source == ATTNJIT_SELECTION_CALLER_DEFAULT || sel.source == ATTNJIT_SELECTION_ENV);

  EXPECT_ERROR(attnjit_select_backend(64, 99, NULL, &sel), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "dtype 99");
  EXPECT_ERROR(attnjit_select_backend(64, ATTNJIT_DTYPE_F16, NULL, NULL),
               ATTNJIT_ERROR_INVALID_ARGUMENT, "selection is NULL");
}

static void testBundles(void) {
  int n = -1;
  EXPECT_ERROR(attnjit_load_bundle("/nonexistent/attnjit-capi-test.attnpack", &n),
               ATTNJIT_ERROR_IO, "/nonexistent/attnjit-capi-test.attnpack");
  CHECK(n == -1);
  EXPECT_ERROR(attnjit_load_bundle(NULL, &n), ATTNJIT_ERROR_INVALID_ARGUMENT, "path is NULL");
  static const char garbage[64] = "not a bundle at all";
  EXPECT_ERROR(attnjit_load_bundle_memory(garbage, sizeof(garbage), "garbage.attnpack", &n),
               ATTNJIT_ERROR_IO, "garbage.attnpack");
  EXPECT_ERROR(attnjit_load_bundle_memory(NULL, 10, NULL, &n), ATTNJIT_ERROR_INVALID_ARGUMENT,
               "data is NULL");
}

int main(void) {
  testVersion();
  testDevices();
  testFlashBadInput();
  testSdpaBadInput();
  testCallEntries();
  testSage();
  testRegistry();
  testSelector();
  testBundles();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("all C API checks passed\n");
  return 0;
}

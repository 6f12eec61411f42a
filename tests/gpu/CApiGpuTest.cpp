//===- CApiGpuTest.cpp - The C API on a GPU -------------------------------===//
//
// Part of attnjit. attnjit_flash_attention and attnjit_sdpa_attention over
// DLTensors must write exactly what flashAttention() / sdpaAttention() write
// for the same memory (same kernels, same arguments), and match float64; the
// device queries report the GPU; Sage runs through SAGE_ATTN. Tag [capi].
//
//===----------------------------------------------------------------------===//
#include "GpuTestUtil.h"

#include "attnjit/attnjit.h"

#include "attnjit/Runtime/FlashAttention.h"
#include "attnjit/Runtime/SdpaAttention.h"

#include <catch2/catch.hpp>

#include <string>

using namespace attnjit;
using namespace attnjit::gputest;

namespace {

/// A DLTensor over a view (the view, which holds shape and strides, must
/// outlive it).
DLTensor dl(const TensorView &v) { return v.toDLPack(); }

std::string lastError() { return attnjit_last_error_message(); }

} // namespace

TEST_CASE("C API flash and sdpa write what the C++ entries write", "[gpu][capi]") {
  for (bool causal : {false, true}) {
    AttnShape s;
    s.batch = 2, s.heads = 4, s.kvHeads = 2, s.seqQ = 100, s.seqK = 130, s.headDim = 64;
    s.causal = causal;
    AttentionInputs in = makeAttentionInputs(s, DType::BF16, causal ? 7 : 8);
    Stream stream;
    TensorView q = in.qView(), k = in.kView(), v = in.vView(), out = in.outView();
    DLTensor dq = dl(q), dk = dl(k), dv = dl(v), dout = dl(out);

    // flash, with LSE: the C++ entry first, then the C API into poisoned memory.
    size_t lseBytes = size_t(s.batch * s.heads * s.seqQ) * sizeof(float);
    DeviceBuffer lseA = poisonedBuffer(lseBytes), lseB = poisonedBuffer(lseBytes);
    FlashOptions fo;
    fo.causal = causal;
    fo.lse = static_cast<float *>(lseA.data());
    flashAttention(q, k, v, out, fo, stream);
    stream.sync();
    std::vector<uint16_t> viaCpp = download<uint16_t>(in.out);
    std::vector<float> lseCpp = download<float>(lseA);
    in.out.fill(kPoisonByte);
    attnjit_flash_options co;
    attnjit_flash_options_init(&co);
    co.causal = causal;
    co.lse = static_cast<float *>(lseB.data());
    REQUIRE(attnjit_flash_attention(&dq, &dk, &dv, &dout, &co, stream.get()) == ATTNJIT_OK);
    stream.sync();
    CHECK(download<uint16_t>(in.out) == viaCpp);
    CHECK(download<float>(lseB) == lseCpp);
    Accuracy acc = compareToReference(in.reference(), in.outHost());
    INFO(s.str() << " " << acc.str());
    CHECK(acc.relativeL2 <= 1e-2);

    // sdpa with a bool key-padding mask [B, Sk] (the last 30 keys of batch 1 hidden).
    std::vector<uint8_t> mask(size_t(s.batch * s.seqK), 1);
    for (int64_t j = s.seqK - 30; j < s.seqK; ++j)
      mask[size_t(s.seqK + j)] = 0;
    DeviceBuffer maskBuf = upload(mask);
    TensorView mv(maskBuf.data(), DType::Bool, {s.batch, s.seqK});
    DLTensor dmask = dl(mv);
    SdpaOptions so;
    so.causal = causal;
    so.mask = mv;
    in.out.fill(kPoisonByte);
    sdpaAttention(q, k, v, out, so, stream);
    stream.sync();
    viaCpp = download<uint16_t>(in.out);
    in.out.fill(kPoisonByte);
    attnjit_sdpa_options sco;
    attnjit_sdpa_options_init(&sco);
    sco.causal = causal;
    sco.mask = &dmask;
    REQUIRE(attnjit_sdpa_attention(&dq, &dk, &dv, &dout, &sco, stream.get()) == ATTNJIT_OK);
    stream.sync();
    CHECK(download<uint16_t>(in.out) == viaCpp);
  }
}

TEST_CASE("C API device queries and Sage on a GPU", "[gpu][capi]") {
  int count = 0;
  REQUIRE(attnjit_device_count(&count) == ATTNJIT_OK);
  CHECK(count >= 1);
  attnjit_device_info info;
  attnjit_device_info_init(&info);
  REQUIRE(attnjit_device_get_info(0, &info) == ATTNJIT_OK);
  CHECK(std::string(info.name).size() > 0);
  CHECK(std::string(info.arch).rfind("sm_", 0) == 0);
  CHECK(info.sm_count > 0);
  CHECK(attnjit_device_get_info(count, &info) == ATTNJIT_ERROR_INVALID_ARGUMENT);

  AttnShape s;
  s.heads = s.kvHeads = 2, s.seqQ = s.seqK = 64;
  AttentionInputs in = makeAttentionInputs(s, DType::BF16, 3);
  TensorView q = in.qView(), k = in.kView(), v = in.vView(), out = in.outView();
  DLTensor dq = dl(q), dk = dl(k), dv = dl(v), dout = dl(out);
  // Sage through the registry's SAGE_ATTN: sm_89+ runs it (quantized, so
  // held to the Sage bar), older GPUs say the recipe needs a newer arch.
  attnjit_status st = attnjit_sage_attention(&dq, &dk, &dv, &dout, nullptr, nullptr);
  if (archComputeCapability(deviceArch(0)) >= 89) {
    INFO(lastError());
    REQUIRE(st == ATTNJIT_OK);
    CudaDriver::get().check(CudaDriver::get().cuCtxSynchronize(), "cuCtxSynchronize");
    Accuracy acc = compareToReference(in.reference(), in.outHost());
    INFO(acc.str());
    CHECK(acc.cosine >= 0.9995);
  } else {
    CHECK(st == ATTNJIT_ERROR_UNSUPPORTED);
    CHECK(lastError().find("no sage recipe targets") != std::string::npos);
  }
}

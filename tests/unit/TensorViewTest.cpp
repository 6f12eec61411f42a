//===- TensorViewTest.cpp - TensorView and DLPack conversion --------------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include <catch2/catch.hpp>

#include "attnjit/Runtime/Error.h"
#include "attnjit/Runtime/Tensor.h"

#include <functional>
#include <string>

using namespace attnjit;

namespace {
void *fake(uintptr_t a) { return reinterpret_cast<void *>(a); }

std::string errorOf(const std::function<void()> &fn, ErrorKind *kind = nullptr) {
  try {
    fn();
  } catch (const Error &e) {
    if (kind)
      *kind = e.kind();
    return e.what();
  }
  return "";
}
} // namespace

TEST_CASE("TensorView: contiguous default strides and queries", "[runtime][tensor]") {
  TensorView t(fake(0x1000), DType::BF16, {2, 3, 4, 5});
  CHECK(t.rank() == 4);
  CHECK(t.strides() == std::vector<int64_t>{60, 20, 5, 1});
  CHECK(t.numel() == 120);
  CHECK(t.isContiguous());
  CHECK(t.elementSize() == 2);
  CHECK(t.device() == 0);
  CHECK(t.deviceKind() == DeviceKind::Cuda);
  auto [lo, hi] = t.byteExtent();
  CHECK(lo == 0x1000);
  CHECK(hi == 0x1000 + 240);
  CHECK(t.str().find("bf16[2, 3, 4, 5]") != std::string::npos);

  TensorView p = t.permute({0, 2, 1, 3});
  CHECK(p.shape() == std::vector<int64_t>{2, 4, 3, 5});
  CHECK(p.strides() == std::vector<int64_t>{60, 5, 20, 1});
  CHECK_FALSE(p.isContiguous());
  CHECK(p.byteExtent() == t.byteExtent());
  CHECK_THROWS_AS(t.permute({0, 1, 1, 3}), Error);
  CHECK_THROWS_AS(t.permute({0, 1, 2}), Error);

  // Size-1 dimensions do not break contiguity.
  TensorView one(fake(0x1000), DType::F16, {1, 3, 1, 5}, {7, 5, 9, 1});
  CHECK(one.isContiguous());

  TensorView empty(fake(0x1000), DType::F32, {2, 0, 4});
  CHECK(empty.numel() == 0);
  CHECK(empty.byteExtent().first == empty.byteExtent().second);

  TensorView scalar(fake(0x1000), DType::F32, {});
  CHECK(scalar.rank() == 0);
  CHECK(scalar.numel() == 1);
}

TEST_CASE("TensorView: bad construction", "[runtime][tensor]") {
  ErrorKind kind{};
  std::string msg = errorOf([] { TensorView(fake(0x10), DType::F16, {1, 2, 3}, {1, 2}); }, &kind);
  CHECK(kind == ErrorKind::InvalidArgument);
  CHECK(msg.find("expected 3 strides") != std::string::npos);
  msg = errorOf([] { TensorView(fake(0x10), DType::F16, std::vector<int64_t>(9, 1)); }, &kind);
  CHECK(msg.find("at most 8") != std::string::npos);
}

TEST_CASE("TensorView: DLPack round trip", "[runtime][tensor]") {
  SECTION("bf16 strided on cuda:1") {
    TensorView t(fake(0x20000), DType::BF16, {2, 8, 128, 64}, {65536, 64, 512, 1}, 1);
    DLTensor d = t.toDLPack();
    CHECK(d.data == t.data());
    CHECK(d.device.device_type == kDLCUDA);
    CHECK(d.device.device_id == 1);
    CHECK(d.ndim == 4);
    CHECK(d.dtype.code == kDLBfloat);
    CHECK(d.dtype.bits == 16);
    CHECK(d.dtype.lanes == 1);
    CHECK(d.strides[2] == 512);
    CHECK(d.byte_offset == 0);
    TensorView back = TensorView::fromDLPack(d);
    CHECK(back.data() == t.data());
    CHECK(back.dtype() == DType::BF16);
    CHECK(back.shape() == t.shape());
    CHECK(back.strides() == t.strides());
    CHECK(back.device() == 1);
    CHECK(back.deviceKind() == DeviceKind::Cuda);
  }
  SECTION("f16 and f32 codes") {
    TensorView h(fake(0x20000), DType::F16, {4});
    CHECK(h.toDLPack().dtype.code == kDLFloat);
    CHECK(h.toDLPack().dtype.bits == 16);
    CHECK(TensorView::fromDLPack(h.toDLPack()).dtype() == DType::F16);
    TensorView f(fake(0x20000), DType::F32, {4}, {}, 0, DeviceKind::Cpu);
    DLTensor d = f.toDLPack();
    CHECK(d.dtype.bits == 32);
    CHECK(d.device.device_type == kDLCPU);
    CHECK(TensorView::fromDLPack(d).dtype() == DType::F32);
    CHECK(TensorView::fromDLPack(d).deviceKind() == DeviceKind::Cpu);
  }
  SECTION("i8 and f8e4m3 (the Sage quantized types) codes") {
    TensorView i(fake(0x20000), DType::I8, {4});
    CHECK(i.toDLPack().dtype.code == kDLInt);
    CHECK(i.toDLPack().dtype.bits == 8);
    CHECK(TensorView::fromDLPack(i.toDLPack()).dtype() == DType::I8);
    TensorView f8(fake(0x20000), DType::F8E4M3, {4});
    CHECK(f8.toDLPack().dtype.code == 10); // kDLFloat8_e4m3fn, DLPack 1.1
    CHECK(f8.toDLPack().dtype.bits == 8);
    CHECK(TensorView::fromDLPack(f8.toDLPack()).dtype() == DType::F8E4M3);
  }
  SECTION("NULL strides mean contiguous; byte_offset is folded in") {
    int64_t shape[] = {2, 3, 4};
    DLTensor d{};
    d.data = fake(0x40000);
    d.device = {kDLCUDA, 0};
    d.ndim = 3;
    d.dtype = {kDLFloat, 16, 1};
    d.shape = shape;
    d.strides = nullptr;
    d.byte_offset = 64;
    TensorView t = TensorView::fromDLPack(d);
    CHECK(t.strides() == std::vector<int64_t>{12, 4, 1});
    CHECK(t.isContiguous());
    CHECK(t.data() == fake(0x40040));
  }
  SECTION("managed memory is a CUDA tensor") {
    int64_t shape[] = {8};
    DLTensor d{};
    d.data = fake(0x40000);
    d.device = {kDLCUDAManaged, 2};
    d.ndim = 1;
    d.dtype = {kDLBfloat, 16, 1};
    d.shape = shape;
    TensorView t = TensorView::fromDLPack(d);
    CHECK(t.deviceKind() == DeviceKind::Cuda);
    CHECK(t.device() == 2);
  }
}

TEST_CASE("TensorView: DLPack rejects unsupported dtypes and devices", "[runtime][tensor]") {
  int64_t shape[] = {8};
  DLTensor d{};
  d.data = fake(0x40000);
  d.device = {kDLCUDA, 0};
  d.ndim = 1;
  d.shape = shape;
  ErrorKind kind{};

  d.dtype = {kDLInt, 16, 1};
  std::string msg = errorOf([&] { TensorView::fromDLPack(d); }, &kind);
  CHECK(kind == ErrorKind::InvalidArgument);
  CHECK(msg.find("DLPack dtype") != std::string::npos);
  CHECK(msg.find("int16") != std::string::npos);

  d.dtype = {10, 16, 1}; // kDLFloat8_e4m3fn with the wrong width
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("float8_e4m3fn16") != std::string::npos);

  d.dtype = {kDLFloat, 64, 1};
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("float64") != std::string::npos);

  d.dtype = {kDLFloat, 16, 2};
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("lanes 2") != std::string::npos);

  d.dtype = {kDLBfloat, 16, 1};
  d.device = {kDLROCM, 0};
  msg = errorOf([&] { TensorView::fromDLPack(d); }, &kind);
  CHECK(kind == ErrorKind::InvalidArgument);
  CHECK(msg.find("DLPack device") != std::string::npos);
  CHECK(msg.find("kDLROCM") != std::string::npos);

  d.device = {kDLCUDA, 0};
  d.ndim = 9;
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("DLPack ndim") != std::string::npos);
}

TEST_CASE("TensorView: DLPack bool masks", "[runtime][tensor]") {
  int64_t shape[] = {2, 16};
  DLTensor d{};
  d.data = fake(0x40001);
  d.device = {kDLCUDA, 0};
  d.ndim = 2;
  d.shape = shape;
  // kDLBool is code 6 (DLPack 0.8+); older headers lack the enumerator.
  d.dtype = {6, 8, 1};
  TensorView t = TensorView::fromDLPack(d);
  CHECK(t.dtype() == DType::Bool);
  CHECK(t.elementSize() == 1);
  CHECK(t.strides() == std::vector<int64_t>{16, 1});
  CHECK(t.byteExtent().second - t.byteExtent().first == 32);
  // uint8 (how older frameworks export bool tensors) is a bool mask too.
  d.dtype = {kDLUInt, 8, 1};
  CHECK(TensorView::fromDLPack(d).dtype() == DType::Bool);

  DLTensor back = t.toDLPack();
  CHECK(back.dtype.code == 6);
  CHECK(back.dtype.bits == 8);
  CHECK(back.dtype.lanes == 1);
  CHECK(TensorView::fromDLPack(back).dtype() == DType::Bool);
  CHECK(t.str().find("bool[2, 16]") != std::string::npos);

  // Other 8-bit and wider integer or bool types are still refused.
  d.dtype = {kDLUInt, 16, 1};
  std::string msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("uint16") != std::string::npos);
  d.dtype = {6, 8, 4};
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("bool8x4") != std::string::npos);
  d.dtype = {6, 1, 1}; // bit-packed bools
  msg = errorOf([&] { TensorView::fromDLPack(d); });
  CHECK(msg.find("DLPack dtype") != std::string::npos);
}

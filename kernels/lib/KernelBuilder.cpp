//===- KernelBuilder.cpp - The builder library every recipe uses ----------===//
//
// Part of attnjit.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Kernels/KernelBuilder.h"

#include "mlir/IR/BuiltinAttributes.h"

#include "llvm/Support/ErrorHandling.h"

#include <limits>
#include <string_view>

using namespace mlir;

namespace attnjit::kernels {

Value KernelFunction::arg(const char *name) const {
  Block &entry = func.getBody().front();
  for (size_t i = 0; i < params.size(); ++i)
    if (std::string_view(params[i].name) == name)
      return entry.getArgument(i);
  llvm::report_fatal_error(llvm::Twine("kernel ABI has no parameter '") + name + "'");
}

KernelBuilder::KernelBuilder(OpBuilder &b, Location loc) : b(b), loc(loc), ctx(b.getContext()) {
  i1 = b.getI1Type();
  i8 = b.getI8Type();
  i16 = b.getI16Type();
  i32 = b.getI32Type();
  i64 = b.getI64Type();
  f32 = b.getF32Type();
  ptrG = LLVM::LLVMPointerType::get(ctx, 1);
  ptrS = LLVM::LLVMPointerType::get(ctx, 3);
}

KernelFunction KernelBuilder::createKernel(gpu::GPUModuleOp module, const std::string &name,
                                           ArrayRef<AbiParam> params, int threads) {
  SmallVector<Type> argTypes;
  for (const AbiParam &p : params) {
    switch (p.type) {
    case AbiType::Ptr: argTypes.push_back(ptrG); break;
    case AbiType::I32: argTypes.push_back(i32); break;
    case AbiType::I64: argTypes.push_back(i64); break;
    case AbiType::F32: argTypes.push_back(f32); break;
    // A by-value CUtensorMap: a generic pointer to the 128-byte parameter,
    // which TMA instructions take as their descriptor (below).
    case AbiType::TensorMap: argTypes.push_back(LLVM::LLVMPointerType::get(ctx)); break;
    }
  }
  auto fn = gpu::GPUFuncOp::create(b, loc, name, b.getFunctionType(argTypes, {}));
  // By-value tensor maps are listed on the function and become byval [128 x
  // i8] align 64 + nvvm.grid_constant arguments after the GPU-to-NVVM lowering
  // (attnjit-mark-grid-constants): NVVM accepts grid_constant only on
  // nvvm.kernel llvm.funcs, and the lowering of gpu.func does not carry
  // llvm.byval argument attributes over (function attributes it keeps).
  SmallVector<int32_t> tensorMaps;
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i].type == AbiType::TensorMap)
      tensorMaps.push_back(static_cast<int32_t>(i));
  if (!tensorMaps.empty())
    fn->setAttr(kTensorMapArgsAttr, b.getDenseI32ArrayAttr(tensorMaps));
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn->setAttr("nvvm.maxntid", b.getDenseI32ArrayAttr({threads, 1, 1}));
  fn->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
  b.setInsertionPointToStart(&fn.getBody().front());
  return KernelFunction{fn, SmallVector<AbiParam>(params.begin(), params.end())};
}

void KernelBuilder::declareDynamicSmem(const std::string &symbol, int alignment) {
  LLVM::GlobalOp::create(b, loc, LLVM::LLVMArrayType::get(i8, 0), /*isConstant=*/false,
                         LLVM::Linkage::External, symbol, Attribute(), alignment,
                         /*addrSpace=*/3);
}

void KernelBuilder::bindDynamicSmem(const std::string &symbol) {
  smemBase = LLVM::AddressOfOp::create(b, loc, ptrS, symbol);
}

Value KernelBuilder::toI32(Value index) {
  return arith::IndexCastUIOp::create(b, loc, i32, index).getResult();
}
Value KernelBuilder::threadIdX() { return toI32(gpu::ThreadIdOp::create(b, loc, gpu::Dimension::x)); }
Value KernelBuilder::blockId(gpu::Dimension d) { return toI32(gpu::BlockIdOp::create(b, loc, d)); }
Value KernelBuilder::gridDim(gpu::Dimension d) { return toI32(gpu::GridDimOp::create(b, loc, d)); }

Value KernelBuilder::cf32(double v) {
  return arith::ConstantFloatOp::create(b, loc, cast<FloatType>(f32), APFloat(float(v)));
}
Value KernelBuilder::negInf() { return cf32(-std::numeric_limits<double>::infinity()); }

Value KernelBuilder::intrinsic(StringRef name, Value x) {
  return LLVM::CallIntrinsicOp::create(b, loc, f32, b.getStringAttr(name), ValueRange{x})
      .getResult(0);
}

Value KernelBuilder::vec2(Value x0, Value x1) {
  Value v = LLVM::PoisonOp::create(b, loc, VectorType::get({2}, x0.getType()));
  v = LLVM::InsertElementOp::create(b, loc, v, x0, ci32(0));
  return LLVM::InsertElementOp::create(b, loc, v, x1, ci32(1));
}

Value KernelBuilder::shflXor(Value v, int offset) {
  return NVVM::ShflOp::create(b, loc, f32, ci32(-1), v, ci32(offset), ci32(0x1f),
                              NVVM::ShflKind::bfly, UnitAttr())
      .getResult();
}

Value KernelBuilder::shflIdx(Value v, Value srcLane) {
  return NVVM::ShflOp::create(b, loc, v.getType(), ci32(-1), v, srcLane, ci32(0x1f),
                              NVVM::ShflKind::idx, UnitAttr())
      .getResult();
}

void KernelBuilder::requirePtxVersion(int version) {
  Operation *scope = b.getInsertionBlock()->getParentOp();
  auto module = isa<gpu::GPUModuleOp>(scope) ? cast<gpu::GPUModuleOp>(scope)
                                             : scope->getParentOfType<gpu::GPUModuleOp>();
  if (!module)
    llvm::report_fatal_error("requirePtxVersion: not inside a gpu.module");
  auto current = module->getAttrOfType<IntegerAttr>(kMinPtxVersionAttr);
  if (!current || current.getInt() < version)
    module->setAttr(kMinPtxVersionAttr, b.getI32IntegerAttr(version));
}

Value KernelBuilder::voteAny(Value pred) {
  return NVVM::VoteSyncOp::create(b, loc, i1, ci32(-1), pred, NVVM::VoteSyncKind::any);
}

} // namespace attnjit::kernels

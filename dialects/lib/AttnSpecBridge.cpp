//===- AttnSpecBridge.cpp - AttentionSpec <-> attn ops --------------------===//
//
// Part of attnjit. The spec is the compiler's input (DESIGN.md, data flow);
// these two functions turn it into the attn module the pipeline lowers and
// read it back off an op parsed from text.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Dialect/Attn/AttnSpecBridge.h"
#include "attnjit/Dialect/Attn/AttnDialect.h"
#include "attnjit/Dialect/Attn/AttnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;

namespace attnjit {

namespace {

// Every spec field is carried by the op built below and read back by
// specFromOp; tests/unit/SpecFieldListTest.cpp round-trips each field. Adding a
// field to AttentionSpec::forEachField means adding it here too.
static_assert(AttentionSpec::kNumFields == 16,
              "a new AttentionSpec field must be carried by the attn op: update "
              "buildAttnModule and specFromOp, then this count");

std::optional<DType> dtypeOf(Type type) {
  if (type.isF16())
    return DType::F16;
  if (type.isBF16())
    return DType::BF16;
  if (type.isF32())
    return DType::F32;
  if (type.isInteger(1))
    return DType::Bool;
  if (type.isSignlessInteger(8))
    return DType::I8;
  if (isa<Float8E4M3FNType>(type))
    return DType::F8E4M3;
  return std::nullopt;
}

/// The inverse of dtypeOf. Bool, I8 and F8E4M3 are no q/k/v type of any
/// current op: the verifiers reject them, with a message naming the operand.
Type elementTypeOf(MLIRContext &ctx, DType dtype) {
  switch (dtype) {
  case DType::F16:
    return Float16Type::get(&ctx);
  case DType::BF16:
    return BFloat16Type::get(&ctx);
  case DType::F32:
    return Float32Type::get(&ctx);
  case DType::Bool:
    return IntegerType::get(&ctx, 1);
  case DType::I8:
    return IntegerType::get(&ctx, 8);
  case DType::F8E4M3:
    return Float8E4M3FNType::get(&ctx);
  }
  return {};
}

/// arch from the nearest `attn.target`, config from the op's `config`.
template <typename OpTy>
LogicalResult readTargetAndConfig(OpTy op, AttentionSpec &spec) {
  spec.arch = attn::AttnDialect::getTargetArch(op).str();
  if (attn::ConfigAttr config = op.getConfigAttr()) {
    spec.config.blockM = static_cast<int>(config.getBlockM());
    spec.config.blockN = static_cast<int>(config.getBlockN());
    spec.config.numWarps = static_cast<int>(config.getWarps());
    spec.config.stages = static_cast<int>(config.getStages());
  }
  return success();
}

/// head_dim and dtype from the rank-4 memref `type` of operand `name`.
LogicalResult readHeadDimAndDType(Operation *op, StringRef name, MemRefType type,
                                  AttentionSpec &spec) {
  if (type.getRank() != 4 || type.isDynamicDim(3))
    return op->emitOpError() << "cannot read a spec: '" << name
                             << "' must be a rank-4 memref with a static head_dim, got " << type;
  std::optional<DType> dtype = dtypeOf(type.getElementType());
  if (!dtype)
    return op->emitOpError() << "cannot read a spec: element type of '" << name
                             << "' must be f16, bf16, f32, i1, i8 or f8E4M3FN, got "
                             << type.getElementType();
  spec.headDim = static_cast<int>(type.getDimSize(3));
  spec.dtype = *dtype;
  return success();
}

/// Fields common to the three attention ops.
template <typename OpTy>
LogicalResult readCommon(OpTy op, AttentionSpec &spec) {
  if (failed(readHeadDimAndDType(op, "q", op.getQ().getType(), spec)))
    return failure();
  spec.causal = op.getCausal();
  spec.returnLse = static_cast<bool>(op.getLse());
  return readTargetAndConfig(op, spec);
}

/// attn.lse_merge: head_dim and dtype from `out`, lse from the lse operand.
LogicalResult readMerge(attn::LseMergeOp op, AttentionSpec &spec) {
  spec.variant = Variant::Merge;
  MemRefType out = op.getOut().getType();
  auto parts = cast<MemRefType>(op.getPartialOut().getType());
  if (failed(readHeadDimAndDType(op, "out", out, spec)))
    return failure();
  if (parts.getElementType() != out.getElementType())
    return op.emitOpError() << "cannot read a spec: the merge recipe reads 'partial_out' in "
                               "the element type of 'out' ("
                            << out.getElementType() << "), got " << parts.getElementType();
  spec.returnLse = static_cast<bool>(op.getLse());
  return readTargetAndConfig(op, spec);
}

/// attn.gemm: the dtype from `x`; no head_dim (M, N, K are run-time), and the
/// bias is a run-time choice of the one kernel.
LogicalResult readGemm(attn::GemmOp op, AttentionSpec &spec) {
  spec.variant = Variant::Gemm;
  spec.headDim = 0;
  MemRefType x = op.getX().getType();
  std::optional<DType> dtype = dtypeOf(x.getElementType());
  if (!dtype || (*dtype != DType::F16 && *dtype != DType::BF16 && *dtype != DType::F32))
    return op.emitOpError() << "cannot read a spec: element type of 'x' must be f16, bf16 or "
                               "f32, got "
                            << x.getElementType();
  spec.dtype = *dtype;
  return readTargetAndConfig(op, spec);
}

} // namespace

FailureOr<AttentionSpec> specFromOp(Operation *op) {
  AttentionSpec spec;
  LogicalResult result =
      llvm::TypeSwitch<Operation *, LogicalResult>(op)
          .Case([&](attn::FlashOp flash) {
            spec.variant = Variant::Flash;
            return readCommon(flash, spec);
          })
          .Case([&](attn::SdpaOp sdpa) {
            spec.variant = Variant::Sdpa;
            if (failed(readCommon(sdpa, spec)))
              return failure();
            if (Value mask = sdpa.getMask()) {
              auto maskType = cast<MemRefType>(mask.getType());
              spec.maskKind = !maskType.getElementType().isInteger(1) ? MaskKind::Additive
                              : sdpa.getMaskTrueHides()              ? MaskKind::BoolHides
                                                                     : MaskKind::Bool;
              // [B, Sk], or a query dim of static size 1: one mask value per key.
              int64_t rank = maskType.getRank();
              spec.maskPerKey = rank == 2 || maskType.getDimSize(rank - 2) == 1;
            }
            spec.dropout = sdpa.getDropout();
            return success();
          })
          .Case([&](attn::SageOp sage) {
            spec.variant = Variant::Sage;
            switch (sage.getGranularity()) {
            case attn::Granularity::per_block: spec.granularity = Granularity::PerBlock; break;
            case attn::Granularity::per_warp: spec.granularity = Granularity::PerWarp; break;
            case attn::Granularity::per_thread: spec.granularity = Granularity::PerThread; break;
            }
            spec.smoothK = sage.getSmoothK();
            spec.pvAccum = sage.getPvAccum() == attn::PVAccum::fp32 ? PvAccum::Fp32
                                                                     : PvAccum::Fp32Fp32;
            return readCommon(sage, spec);
          })
          .Case([&](attn::LseMergeOp merge) { return readMerge(merge, spec); })
          .Case([&](attn::GemmOp gemm) { return readGemm(gemm, spec); })
          .Default([](Operation *other) {
            return other->emitError() << "expected attn.flash, attn.sdpa, attn.sage, "
                                         "attn.lse_merge or attn.gemm, got '"
                   << other->getName() << "'";
          });
  if (failed(result))
    return failure();
  return spec;
}

/// Appends func.func @<spec.kernelName()>(argTypes) to `module` and leaves the
/// builder at the start of its body; returns the arguments.
static ValueRange addHostFunction(OpBuilder &builder, ModuleOp module, Location loc,
                                  const AttentionSpec &spec, ArrayRef<Type> argTypes) {
  builder.setInsertionPointToEnd(module.getBody());
  auto func = func::FuncOp::create(builder, loc, spec.kernelName(),
                                   builder.getFunctionType(argTypes, {}));
  Block *body = func.addEntryBlock();
  builder.setInsertionPointToStart(body);
  return body->getArguments();
}

/// The module of a merge spec: func.func @<name>(%parts, %parts_lse, %out[,
/// %lse]) { attn.lse_merge ... }, parts [P, B, S, H, D] in the dtype,
/// parts_lse f32 [P, B, H, S], out [B, S, H, D].
static OwningOpRef<ModuleOp> buildMergeModule(MLIRContext &ctx, const AttentionSpec &spec,
                                              OwningOpRef<ModuleOp> module, Location loc,
                                              Type elt, MemRefType lseType, bool anyConfig) {
  OpBuilder builder(&ctx);
  int64_t dyn = ShapedType::kDynamic;
  auto partsType = MemRefType::get({dyn, dyn, dyn, dyn, spec.headDim}, elt);
  auto partsLseType = MemRefType::get({dyn, dyn, dyn, dyn}, builder.getF32Type());
  auto outType = MemRefType::get({dyn, dyn, dyn, spec.headDim}, elt);
  SmallVector<Type> argTypes = {partsType, partsLseType, outType};
  if (spec.returnLse)
    argTypes.push_back(lseType);
  ValueRange args = addHostFunction(builder, *module, loc, spec, argTypes);
  attn::ConfigAttr configAttr;
  if (anyConfig)
    configAttr = attn::ConfigAttr::get(&ctx, spec.config.blockM, spec.config.blockN,
                                       spec.config.numWarps, spec.config.stages);
  attn::LseMergeOp::create(builder, loc, args[0], args[1], args[2],
                           spec.returnLse ? args[3] : Value(), attn::Layout::bshd, configAttr);
  func::ReturnOp::create(builder, loc);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

/// The module of a gemm spec: func.func @<name>(%x, %w, %bias, %y) {
/// attn.gemm ... }, x [M, K], w [N, K], bias [N], y [M, N] in the dtype. The
/// bias operand is always there: whether it is added is a run-time argument.
static OwningOpRef<ModuleOp> buildGemmModule(MLIRContext &ctx, const AttentionSpec &spec,
                                             OwningOpRef<ModuleOp> module, Location loc,
                                             Type elt, attn::ConfigAttr configAttr) {
  // head_dim, causal and lse have no operand on attn.gemm to carry them.
  if (std::string err = spec.validate(); !err.empty()) {
    emitError(loc) << "invalid gemm spec: " << err;
    return nullptr;
  }
  OpBuilder builder(&ctx);
  int64_t dyn = ShapedType::kDynamic;
  auto matrix = MemRefType::get({dyn, dyn}, elt);
  auto vector = MemRefType::get({dyn}, elt);
  ValueRange args = addHostFunction(builder, *module, loc, spec, {matrix, matrix, vector, matrix});
  attn::GemmOp::create(builder, loc, args[0], args[1], args[2], args[3], configAttr);
  func::ReturnOp::create(builder, loc);
  if (failed(verify(*module)))
    return nullptr;
  return module;
}

OwningOpRef<ModuleOp> buildAttnModule(MLIRContext &ctx, const AttentionSpec &spec) {
  ctx.getOrLoadDialect<attn::AttnDialect>();
  ctx.getOrLoadDialect<func::FuncDialect>();
  ctx.getOrLoadDialect<memref::MemRefDialect>();
  Location loc = FileLineColLoc::get(&ctx, spec.kernelName(), 0, 0);

  // Everything else a kernel cannot run (head_dim, dtype, arch) is rejected by
  // the op verifiers and the attn.target check when the module is verified;
  // these fields have no operand to carry them on flash and sage.
  if (spec.variant != Variant::Sdpa && (spec.maskKind != MaskKind::None || spec.dropout)) {
    emitError(loc) << "invalid attention spec: mask and dropout need variant sdpa, got "
                   << StringRef(toString(spec.variant)) << " with mask="
                   << StringRef(toString(spec.maskKind))
                   << ", dropout=" << (spec.dropout ? 1 : 0);
    return nullptr;
  }
  if (spec.variant != Variant::Sage) {
    AttentionSpec defaults;
    if (spec.granularity != defaults.granularity || spec.smoothK != defaults.smoothK ||
        spec.pvAccum != defaults.pvAccum) {
      emitError(loc) << "invalid attention spec: granularity, smooth_k and pv_accum need "
                        "variant sage, got "
                     << StringRef(toString(spec.variant));
      return nullptr;
    }
  }
  const KernelConfig &config = spec.config;
  bool anyConfig = config.blockM || config.blockN || config.numWarps || config.stages;
  if (anyConfig && !config.isComplete()) {
    emitError(loc) << "invalid attention spec: config must have all of block_m, block_n, "
                      "warps, stages > 0 or all zero, got "
                   << config.str();
    return nullptr;
  }

  OpBuilder builder(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(builder, loc);
  (*module)->setAttr(attn::AttnDialect::getTargetAttrName(), builder.getStringAttr(spec.arch));

  Type elt = elementTypeOf(ctx, spec.dtype);
  int64_t dyn = ShapedType::kDynamic;
  auto qkvType = MemRefType::get({dyn, dyn, dyn, spec.headDim}, elt);
  auto lseType = MemRefType::get({dyn, dyn, dyn}, builder.getF32Type());
  // The mask's rank and broadcasting are run-time (its strides); [B, H, Sq, Sk].
  MemRefType maskType;
  if (spec.variant == Variant::Sdpa && spec.maskKind != MaskKind::None)
    maskType = MemRefType::get({dyn, dyn, spec.maskPerKey ? 1 : dyn, dyn},
                               spec.maskKind == MaskKind::Additive ? elt : builder.getI1Type());

  if (spec.variant == Variant::Merge)
    return buildMergeModule(ctx, spec, std::move(module), loc, elt, lseType, anyConfig);
  if (spec.variant == Variant::Gemm)
    return buildGemmModule(ctx, spec, std::move(module), loc, elt,
                           anyConfig ? attn::ConfigAttr::get(&ctx, config.blockM, config.blockN,
                                                             config.numWarps, config.stages)
                                     : attn::ConfigAttr());

  SmallVector<Type> argTypes = {qkvType, qkvType, qkvType};
  if (maskType)
    argTypes.push_back(maskType);
  argTypes.push_back(qkvType);
  if (spec.returnLse)
    argTypes.push_back(lseType);

  ValueRange args = addHostFunction(builder, *module, loc, spec, argTypes);
  Value q = args[0], k = args[1], v = args[2];
  unsigned next = 3;
  Value mask = maskType ? args[next++] : Value();
  Value out = args[next++];
  Value lse = spec.returnLse ? args[next++] : Value();

  // Head counts are run-time kernel arguments (and so is the GQA ratio): the
  // ops leave num_heads and num_kv_heads unset, which means dynamic.
  IntegerAttr dynamicHeads;
  attn::ConfigAttr configAttr;
  if (anyConfig)
    configAttr = attn::ConfigAttr::get(&ctx, config.blockM, config.blockN, config.numWarps,
                                       config.stages);
  FloatAttr noScale; // the kernel takes the softmax scale at run time

  switch (spec.variant) {
  case Variant::Flash:
    attn::FlashOp::create(builder, loc, q, k, v, out, lse, spec.causal, noScale, dynamicHeads,
                          dynamicHeads, attn::Layout::bshd, configAttr);
    break;
  case Variant::Sdpa:
    attn::SdpaOp::create(builder, loc, q, k, v, mask, out, lse, spec.causal, noScale,
                         dynamicHeads, dynamicHeads, attn::Layout::bshd, spec.dropout,
                         configAttr, spec.maskKind == MaskKind::BoolHides);
    break;
  case Variant::Sage: {
    attn::Granularity granularity = spec.granularity == Granularity::PerBlock
                                        ? attn::Granularity::per_block
                                    : spec.granularity == Granularity::PerWarp
                                        ? attn::Granularity::per_warp
                                        : attn::Granularity::per_thread;
    attn::SageOp::create(builder, loc, q, k, v, out, lse, spec.causal, noScale, dynamicHeads,
                         dynamicHeads, attn::Layout::bshd, granularity, spec.smoothK,
                         spec.pvAccum == PvAccum::Fp32 ? attn::PVAccum::fp32
                                                       : attn::PVAccum::fp32_fp32,
                         configAttr);
    break;
  }
  case Variant::Merge:
  case Variant::Gemm:
    break; // built by buildMergeModule / buildGemmModule above
  }
  func::ReturnOp::create(builder, loc);

  if (failed(verify(*module)))
    return nullptr;
  return module;
}

void registerAttnDialect(DialectRegistry &registry) {
  registry.insert<attn::AttnDialect, func::FuncDialect, memref::MemRefDialect>();
}

} // namespace attnjit

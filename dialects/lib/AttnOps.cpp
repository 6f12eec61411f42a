//===- AttnOps.cpp - attn op verifiers and helpers ------------------------===//
//
// Part of attnjit. The verifiers reject what no attnjit kernel can run; every
// message names the operand or attribute, the expected and the found value.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Dialect/Attn/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::attn;

#define GET_OP_CLASSES
#include "attnjit/Dialect/Attn/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared verification
//===----------------------------------------------------------------------===//

namespace {

enum class Variant { Flash, Sdpa, Sage };

/// What the three ops have in common, read off one of them.
struct AttentionOperands {
  Variant variant;
  MemRefType q, k, v, out;
  MemRefType lse;  // null when absent
  MemRefType mask; // null when absent (always for flash and sage)
  /// num_heads / num_kv_heads when set; absent means dynamic.
  std::optional<int64_t> numHeads, numKvHeads;
  Layout layout;
  std::optional<APFloat> softmaxScale;
  ConfigAttr config;
};

std::string dimToString(int64_t dim) {
  return ShapedType::isDynamic(dim) ? std::string("?") : std::to_string(dim);
}

std::string typeToString(Type type) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type;
  return s;
}

std::string layoutToString(MemRefType type) {
  if (type.getLayout().isIdentity())
    return "identity";
  std::string s;
  llvm::raw_string_ostream os(s);
  os << type.getLayout();
  return s;
}

/// Index of the heads and sequence dims of q/k/v/out for a layout; `strided`
/// uses the logical [B, S, H, D] order.
int64_t headsDim(Layout layout) { return layout == Layout::bhsd ? 1 : 2; }
int64_t seqDim(Layout layout) { return layout == Layout::bhsd ? 2 : 1; }

bool isStaticMismatch(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

LogicalResult verifyElementTypes(Operation *op, const AttentionOperands &ops) {
  Type elt = ops.q.getElementType();
  bool ok = elt.isF16() || elt.isBF16() || (ops.variant == Variant::Sdpa && elt.isF32());
  if (!ok)
    return op->emitOpError() << "element type of 'q' must be "
                             << (ops.variant == Variant::Sdpa ? "f16, bf16 or f32"
                                                              : "f16 or bf16")
                             << ", got " << typeToString(elt);
  std::pair<StringRef, MemRefType> others[] = {{"k", ops.k}, {"v", ops.v}, {"out", ops.out}};
  for (auto [name, type] : others)
    if (type.getElementType() != elt)
      return op->emitOpError() << "element type of '" << name << "' ("
                               << typeToString(type.getElementType())
                               << ") must equal element type of 'q' (" << typeToString(elt)
                               << ")";
  return success();
}

LogicalResult verifyHeadDim(Operation *op, const AttentionOperands &ops) {
  std::pair<StringRef, MemRefType> all[] = {
      {"q", ops.q}, {"k", ops.k}, {"v", ops.v}, {"out", ops.out}};
  for (auto [name, type] : all)
    if (type.isDynamicDim(3))
      return op->emitOpError() << "head_dim (last dim) of '" << name
                               << "' must be static, got ?";
  int64_t headDim = ops.q.getDimSize(3);
  for (auto [name, type] : ArrayRef(all).drop_front())
    if (type.getDimSize(3) != headDim)
      return op->emitOpError() << "head_dim of '" << name << "' (" << type.getDimSize(3)
                               << ") must equal head_dim of 'q' (" << headDim << ")";
  switch (ops.variant) {
  case Variant::Flash:
    if (headDim < 32 || headDim > 256 || headDim % 32 != 0)
      return op->emitOpError() << "head_dim must be one of 32, 64, 96, 128, 160, 192, "
                                  "224, 256 for attn.flash, got "
                               << headDim;
    break;
  case Variant::Sdpa:
    if (headDim < 1 || headDim > 256)
      return op->emitOpError() << "head_dim must be in 1..256 for attn.sdpa, got "
                               << headDim;
    break;
  case Variant::Sage:
    if (headDim < 32 || headDim > 256 || headDim % 32 != 0)
      return op->emitOpError() << "head_dim must be one of 32, 64, 96, 128, 160, 192, "
                                  "224, 256 for attn.sage, got "
                               << headDim;
    break;
  }
  return success();
}

/// The last dim must be contiguous: the kernels load head_dim vectors.
LogicalResult verifyUnitLastStride(Operation *op, StringRef name, MemRefType type) {
  SmallVector<int64_t> strides;
  int64_t offset;
  if (failed(type.getStridesAndOffset(strides, offset)))
    return op->emitOpError() << "'" << name << "' must have a strided layout, got "
                             << layoutToString(type);
  if (strides.back() != 1)
    return op->emitOpError() << "last dim of '" << name << "' must have stride 1, got "
                             << dimToString(strides.back());
  return success();
}

LogicalResult verifyLayouts(Operation *op, const AttentionOperands &ops) {
  std::pair<StringRef, MemRefType> all[] = {
      {"q", ops.q}, {"k", ops.k}, {"v", ops.v}, {"out", ops.out}};
  for (auto [name, type] : all) {
    bool identity = type.getLayout().isIdentity();
    if (ops.layout == Layout::strided) {
      if (!isa<StridedLayoutAttr>(type.getLayout()))
        return op->emitOpError()
               << "'" << name << "' must have a strided layout for #attn.layout<strided>, got "
               << layoutToString(type);
    } else if (!identity) {
      return op->emitOpError() << "'" << name << "' must have an identity layout for "
                               << "#attn.layout<" << stringifyLayout(ops.layout)
                               << ">, got " << layoutToString(type);
    }
    if (failed(verifyUnitLastStride(op, name, type)))
      return failure();
  }
  return success();
}

/// A head count and how messages name it: the attribute when it is set, else
/// the heads dim of the operand that defines it (dynamic when that dim is).
struct HeadCount {
  int64_t value;
  std::string name;
};

std::string headsDimName(const AttentionOperands &ops, StringRef operand) {
  return "dim " + std::to_string(headsDim(ops.layout)) + " (heads) of '" + operand.str() + "'";
}
HeadCount queryHeads(const AttentionOperands &ops) {
  if (ops.numHeads)
    return {*ops.numHeads, "num_heads"};
  return {ops.q.getDimSize(headsDim(ops.layout)), headsDimName(ops, "q")};
}
HeadCount kvHeads(const AttentionOperands &ops) {
  if (ops.numKvHeads)
    return {*ops.numKvHeads, "num_kv_heads"};
  return {ops.k.getDimSize(headsDim(ops.layout)), headsDimName(ops, "k")};
}

LogicalResult verifyHeadCounts(Operation *op, const AttentionOperands &ops) {
  if (ops.numHeads && *ops.numHeads <= 0)
    return op->emitOpError() << "num_heads must be > 0, got " << *ops.numHeads;
  if (ops.numKvHeads && *ops.numKvHeads <= 0)
    return op->emitOpError() << "num_kv_heads must be > 0, got " << *ops.numKvHeads;
  // Checked wherever both counts are known, from the attributes or static dims.
  HeadCount qHeads = queryHeads(ops), kHeads = kvHeads(ops);
  for (const HeadCount &count : {qHeads, kHeads})
    if (count.value == 0) // a static heads dim of size 0 (attributes: above)
      return op->emitOpError() << count.name << " must be > 0, got 0";
  if (!ShapedType::isDynamic(qHeads.value) && !ShapedType::isDynamic(kHeads.value) &&
      qHeads.value % kHeads.value != 0)
    return op->emitOpError() << qHeads.name << " (" << qHeads.value
                             << ") must be a multiple of " << kHeads.name << " ("
                             << kHeads.value << ")";
  return success();
}

/// Static dims must agree with each other and with the head counts; dynamic
/// dims are run-time values and checked by the launcher.
LogicalResult verifyStaticShapes(Operation *op, const AttentionOperands &ops) {
  int64_t h = headsDim(ops.layout), s = seqDim(ops.layout);
  HeadCount qHeads = queryHeads(ops), kHeads = kvHeads(ops);
  struct HeadsRule {
    StringRef name;
    MemRefType type;
    HeadCount expected;
  };
  // Without the attribute, q's and k's heads dims define the counts and are
  // not compared with themselves.
  SmallVector<HeadsRule> headsRules;
  if (ops.numHeads)
    headsRules.push_back({"q", ops.q, qHeads});
  if (ops.numKvHeads)
    headsRules.push_back({"k", ops.k, kHeads});
  headsRules.push_back({"v", ops.v, kHeads});
  headsRules.push_back({"out", ops.out, qHeads});
  for (const HeadsRule &rule : headsRules)
    if (isStaticMismatch(rule.type.getDimSize(h), rule.expected.value))
      return op->emitOpError() << "dim " << h << " (heads) of '" << rule.name << "' ("
                               << rule.type.getDimSize(h) << ") must equal "
                               << rule.expected.name << " (" << rule.expected.value << ")";
  auto sameDim = [&](StringRef name, MemRefType type, StringRef refName, MemRefType ref,
                     int64_t dim, StringRef what) -> LogicalResult {
    if (isStaticMismatch(type.getDimSize(dim), ref.getDimSize(dim)))
      return op->emitOpError() << "dim " << dim << " (" << what << ") of '" << name
                               << "' (" << type.getDimSize(dim) << ") must equal dim "
                               << dim << " of '" << refName << "' ("
                               << ref.getDimSize(dim) << ")";
    return success();
  };
  if (failed(sameDim("k", ops.k, "q", ops.q, 0, "batch")) ||
      failed(sameDim("v", ops.v, "q", ops.q, 0, "batch")) ||
      failed(sameDim("out", ops.out, "q", ops.q, 0, "batch")) ||
      failed(sameDim("v", ops.v, "k", ops.k, s, "seq")) ||
      failed(sameDim("out", ops.out, "q", ops.q, s, "seq")))
    return failure();
  return success();
}

LogicalResult verifyLse(Operation *op, const AttentionOperands &ops) {
  MemRefType lse = ops.lse;
  if (!lse)
    return success();
  if (lse.getRank() != 3 || !lse.getElementType().isF32())
    return op->emitOpError() << "'lse' must be a rank-3 memref of f32 ([B, H, Sq]), got "
                             << lse;
  if (!lse.getLayout().isIdentity())
    return op->emitOpError() << "'lse' must have an identity (contiguous) layout, got "
                             << layoutToString(lse);
  int64_t qBatch = ops.q.getDimSize(0), qSeq = ops.q.getDimSize(seqDim(ops.layout));
  if (isStaticMismatch(lse.getDimSize(0), qBatch))
    return op->emitOpError() << "dim 0 (B) of 'lse' (" << lse.getDimSize(0)
                             << ") must equal the batch of 'q' (" << qBatch << ")";
  HeadCount heads = queryHeads(ops);
  if (isStaticMismatch(lse.getDimSize(1), heads.value))
    return op->emitOpError() << "dim 1 (H) of 'lse' (" << lse.getDimSize(1) << ") must equal "
                             << heads.name << " (" << heads.value << ")";
  if (isStaticMismatch(lse.getDimSize(2), qSeq))
    return op->emitOpError() << "dim 2 (Sq) of 'lse' (" << lse.getDimSize(2)
                             << ") must equal the sequence length of 'q' (" << qSeq << ")";
  return success();
}

LogicalResult verifyMask(Operation *op, const AttentionOperands &ops) {
  MemRefType mask = ops.mask;
  if (!mask)
    return success();
  Type elt = mask.getElementType(), qElt = ops.q.getElementType();
  bool boolMask = elt.isInteger(1);
  // Additive masks have q's element type, as torch's scaled_dot_product_attention wants.
  bool additive = elt == qElt;
  if (!boolMask && !additive)
    return op->emitOpError() << "element type of 'mask' must be i1 (boolean mask) or "
                             << typeToString(qElt) << " (additive mask, q's element type), got "
                             << typeToString(elt);
  int64_t rank = mask.getRank();
  if (rank < 2 || rank > 4)
    return op->emitOpError() << "'mask' must have rank 2 ([B, Sk]), 3 ([B, Sq, Sk]) or "
                                "4 ([B, H, Sq, Sk]), got rank "
                             << rank;
  if (failed(verifyUnitLastStride(op, "mask", mask)))
    return failure();
  // Each mask dim broadcasts (size 1) or matches the dim it indexes.
  struct Ref {
    StringRef maskDimName;
    int64_t expected;
    std::string what;
  };
  int64_t s = seqDim(ops.layout);
  Ref batch{"B", ops.q.getDimSize(0), "the batch of 'q'"};
  HeadCount qHeads = queryHeads(ops);
  Ref heads{"H", qHeads.value, qHeads.name};
  Ref seqQ{"Sq", ops.q.getDimSize(s), "the sequence length of 'q'"};
  Ref seqK{"Sk", ops.k.getDimSize(s), "the sequence length of 'k'"};
  SmallVector<Ref> refs;
  if (rank == 2)
    refs = {batch, seqK};
  else if (rank == 3)
    refs = {batch, seqQ, seqK};
  else
    refs = {batch, heads, seqQ, seqK};
  for (auto [i, ref] : llvm::enumerate(refs)) {
    int64_t size = mask.getDimSize(i);
    if (size != 1 && isStaticMismatch(size, ref.expected))
      return op->emitOpError() << "dim " << i << " (" << ref.maskDimName << ") of 'mask' ("
                               << size << ") must be 1 or equal " << ref.what << " ("
                               << ref.expected << ")";
  }
  return success();
}

LogicalResult verifyAttentionOp(Operation *op, const AttentionOperands &ops) {
  std::pair<StringRef, MemRefType> all[] = {
      {"q", ops.q}, {"k", ops.k}, {"v", ops.v}, {"out", ops.out}};
  for (auto [name, type] : all)
    if (type.getRank() != 4)
      return op->emitOpError() << "'" << name
                               << "' must be a rank-4 memref ([B, S, H, D] or "
                                  "[B, H, S, D]), got "
                               << type;
  if (failed(verifyElementTypes(op, ops)) || failed(verifyHeadDim(op, ops)) ||
      failed(verifyLayouts(op, ops)) || failed(verifyHeadCounts(op, ops)) ||
      failed(verifyStaticShapes(op, ops)) || failed(verifyLse(op, ops)) ||
      failed(verifyMask(op, ops)))
    return failure();
  if (ops.softmaxScale) {
    double scale = ops.softmaxScale->convertToDouble();
    if (!(scale > 0) || !std::isfinite(scale))
      return op->emitOpError() << "softmax_scale must be positive and finite, got "
                               << scale;
  }
  if (ConfigAttr config = ops.config)
    return ConfigAttr::verify([&] { return op->emitOpError(); }, config.getBlockM(),
                              config.getBlockN(), config.getWarps(), config.getStages());
  return success();
}

template <typename OpTy>
AttentionOperands readCommon(OpTy op, Variant variant) {
  AttentionOperands ops;
  ops.variant = variant;
  ops.q = op.getQ().getType();
  ops.k = op.getK().getType();
  ops.v = op.getV().getType();
  ops.out = op.getOut().getType();
  ops.lse = op.getLse() ? op.getLse().getType() : MemRefType();
  ops.mask = MemRefType();
  // Signed: the unwrapped getters are unsigned and would hide negative counts.
  if (IntegerAttr heads = op.getNumHeadsAttr())
    ops.numHeads = heads.getInt();
  if (IntegerAttr heads = op.getNumKvHeadsAttr())
    ops.numKvHeads = heads.getInt();
  ops.layout = op.getLayout();
  ops.softmaxScale = op.getSoftmaxScale();
  ops.config = op.getConfigAttr();
  return ops;
}

template <typename OpTy>
float effectiveScale(OpTy op) {
  if (std::optional<APFloat> scale = op.getSoftmaxScale())
    return scale->convertToFloat();
  return 1.0f / std::sqrt(static_cast<float>(op.getHeadDim()));
}

/// q, k, v and mask are read; out and lse are written.
void addEffects(Operation *op, ArrayRef<unsigned> writtenOperands,
                SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  for (OpOperand &operand : op->getOpOperands()) {
    if (llvm::is_contained(writtenOperands, operand.getOperandNumber()))
      effects.emplace_back(MemoryEffects::Write::get(), &operand,
                           SideEffects::DefaultResource::get());
    else
      effects.emplace_back(MemoryEffects::Read::get(), &operand,
                           SideEffects::DefaultResource::get());
  }
}

/// Dim i of `type` (operand `name`) must equal dim j of `ref` where both are
/// static; `what` names the dim in the message.
LogicalResult verifySameDim(Operation *op, StringRef name, MemRefType type, int64_t i,
                            StringRef refName, MemRefType ref, int64_t j, StringRef what) {
  if (isStaticMismatch(type.getDimSize(i), ref.getDimSize(j)))
    return op->emitOpError() << "dim " << i << " (" << what << ") of '" << name << "' ("
                             << dimToString(type.getDimSize(i)) << ") must equal dim " << j
                             << " of '" << refName << "' (" << dimToString(ref.getDimSize(j))
                             << ")";
  return success();
}

template <typename OpTy>
SmallVector<unsigned> writtenOperands(OpTy op) {
  SmallVector<unsigned> written = {op.getOutMutable().getOperandNumber()};
  if (op.getLse())
    written.push_back(op.getLseMutable()[0].getOperandNumber());
  return written;
}

} // namespace

//===----------------------------------------------------------------------===//
// FlashOp
//===----------------------------------------------------------------------===//

LogicalResult FlashOp::verify() {
  return verifyAttentionOp(getOperation(), readCommon(*this, Variant::Flash));
}
float FlashOp::getEffectiveScale() { return effectiveScale(*this); }
int64_t FlashOp::getHeadDim() { return getQ().getType().getShape().back(); }
void FlashOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  addEffects(getOperation(), writtenOperands(*this), effects);
}

//===----------------------------------------------------------------------===//
// SdpaOp
//===----------------------------------------------------------------------===//

LogicalResult SdpaOp::verify() {
  AttentionOperands ops = readCommon(*this, Variant::Sdpa);
  ops.mask = getMask() ? getMask().getType() : MemRefType();
  // The attribute of earlier versions: a probability on the op claimed a
  // compile-time value the kernel does not have (it takes one at run time).
  if (Attribute p = (*this)->getAttr("dropout_p"))
    return emitOpError() << "'dropout_p' is not an attribute of attn.sdpa, got " << p
                         << ": the drop probability is a run-time argument of the kernel; "
                            "mark dropout with the unit attribute 'dropout'";
  if (getMaskTrueHides() && (!ops.mask || !ops.mask.getElementType().isInteger(1)))
    return emitOpError() << "'mask_true_hides' needs an i1 mask, got "
                         << (ops.mask ? typeToString(ops.mask) : std::string("no mask"));
  return verifyAttentionOp(getOperation(), ops);
}
float SdpaOp::getEffectiveScale() { return effectiveScale(*this); }
int64_t SdpaOp::getHeadDim() { return getQ().getType().getShape().back(); }
void SdpaOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  addEffects(getOperation(), writtenOperands(*this), effects);
}

//===----------------------------------------------------------------------===//
// SageOp
//===----------------------------------------------------------------------===//

LogicalResult SageOp::verify() {
  return verifyAttentionOp(getOperation(), readCommon(*this, Variant::Sage));
}
float SageOp::getEffectiveScale() { return effectiveScale(*this); }
int64_t SageOp::getHeadDim() { return getQ().getType().getShape().back(); }
void SageOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  addEffects(getOperation(), writtenOperands(*this), effects);
}

//===----------------------------------------------------------------------===//
// LseMergeOp
//===----------------------------------------------------------------------===//

LogicalResult LseMergeOp::verify() {
  MemRefType partialOut = getPartialOut().getType(), partialLse = getPartialLse().getType();
  MemRefType out = getOut().getType();
  MemRefType lse = getLse() ? getLse().getType() : MemRefType();
  Layout layout = getLayout();
  if (layout == Layout::strided)
    return emitOpError() << "layout must be #attn.layout<bshd> or #attn.layout<bhsd>, got "
                            "#attn.layout<strided>";
  if (out.getRank() != 4)
    return emitOpError() << "'out' must be a rank-4 memref ([B, S, H, D] or [B, H, S, D]), got "
                         << out;
  if (partialOut.getRank() != 5)
    return emitOpError() << "'partial_out' must be a rank-5 memref ([N, B, S, H, D] or "
                            "[N, B, H, S, D]), got "
                         << partialOut;
  if (partialLse.getRank() != 4 || !partialLse.getElementType().isF32())
    return emitOpError() << "'partial_lse' must be a rank-4 memref of f32 ([N, B, H, S]), got "
                         << partialLse;
  if (lse && (lse.getRank() != 3 || !lse.getElementType().isF32()))
    return emitOpError() << "'lse' must be a rank-3 memref of f32 ([B, H, Sq]), got " << lse;

  Type elt = out.getElementType();
  if (!elt.isF16() && !elt.isBF16() && !elt.isF32())
    return emitOpError() << "element type of 'out' must be f16, bf16 or f32, got "
                         << typeToString(elt);
  Type partialElt = partialOut.getElementType();
  if (!partialElt.isF32() && partialElt != elt)
    return emitOpError() << "element type of 'partial_out' must be f32 or the element type of "
                            "'out' ("
                         << typeToString(elt) << "), got " << typeToString(partialElt);

  std::pair<StringRef, MemRefType> all[] = {
      {"partial_out", partialOut}, {"partial_lse", partialLse}, {"out", out}, {"lse", lse}};
  for (auto [name, type] : all)
    if (type && !type.getLayout().isIdentity())
      return emitOpError() << "'" << name << "' must have an identity (contiguous) layout, got "
                           << layoutToString(type);
  if (out.isDynamicDim(3))
    return emitOpError() << "head_dim (last dim) of 'out' must be static, got ?";

  auto sameDim = [&](StringRef name, MemRefType type, int64_t i, StringRef refName,
                     MemRefType ref, int64_t j, StringRef what) {
    return verifySameDim(getOperation(), name, type, i, refName, ref, j, what);
  };
  int64_t h = headsDim(layout), s = seqDim(layout);
  StringRef dimNames[4] = {"B", layout == Layout::bhsd ? "H" : "S",
                           layout == Layout::bhsd ? "S" : "H", "D"};
  for (int64_t i = 0; i < 4; ++i)
    if (failed(sameDim("partial_out", partialOut, i + 1, "out", out, i, dimNames[i])))
      return failure();
  if (failed(sameDim("partial_lse", partialLse, 0, "partial_out", partialOut, 0, "N")) ||
      failed(sameDim("partial_lse", partialLse, 1, "out", out, 0, "B")) ||
      failed(sameDim("partial_lse", partialLse, 2, "out", out, h, "H")) ||
      failed(sameDim("partial_lse", partialLse, 3, "out", out, s, "S")))
    return failure();
  if (lse && (failed(sameDim("lse", lse, 0, "out", out, 0, "B")) ||
              failed(sameDim("lse", lse, 1, "out", out, h, "H")) ||
              failed(sameDim("lse", lse, 2, "out", out, s, "S"))))
    return failure();
  return success();
}
void LseMergeOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  addEffects(getOperation(), writtenOperands(*this), effects);
}

//===----------------------------------------------------------------------===//
// GemmOp
//===----------------------------------------------------------------------===//

LogicalResult GemmOp::verify() {
  MemRefType x = getX().getType(), w = getW().getType(), y = getY().getType();
  MemRefType bias = getBias() ? cast<MemRefType>(getBias().getType()) : MemRefType();
  std::pair<StringRef, MemRefType> all[] = {{"x", x}, {"w", w}, {"y", y}, {"bias", bias}};
  for (auto [name, type] : all) {
    if (!type)
      continue;
    int64_t want = name == "bias" ? 1 : 2;
    if (type.getRank() != want)
      return emitOpError() << "'" << name << "' must be a rank-" << want << " memref ("
                           << (name == "bias" ? "[N]" : name == "x" ? "[M, K]"
                                                      : name == "w" ? "[N, K]"
                                                                    : "[M, N]")
                           << "), got " << type;
    Type elt = type.getElementType();
    if (!elt.isF16() && !elt.isBF16() && !elt.isF32())
      return emitOpError() << "element type of '" << name << "' must be f16, bf16 or f32, got "
                           << typeToString(elt);
    if (elt != x.getElementType())
      return emitOpError() << "element type of '" << name << "' must equal that of 'x' ("
                           << typeToString(x.getElementType()) << "), got "
                           << typeToString(elt);
    // Columns must be contiguous: identity, or a strided layout with stride 1 last.
    SmallVector<int64_t> strides;
    int64_t offset;
    if (failed(type.getStridesAndOffset(strides, offset)) || strides.back() != 1)
      return emitOpError() << "'" << name
                           << "' must have a contiguous last dim (stride 1), got layout "
                           << layoutToString(type);
  }
  auto sameDim = [&](StringRef name, MemRefType type, int64_t i, StringRef refName,
                     MemRefType ref, int64_t j, StringRef what) {
    return verifySameDim(getOperation(), name, type, i, refName, ref, j, what);
  };
  if (failed(sameDim("w", w, 1, "x", x, 1, "K")) || failed(sameDim("y", y, 0, "x", x, 0, "M")) ||
      failed(sameDim("y", y, 1, "w", w, 0, "N")) ||
      (bias && failed(sameDim("bias", bias, 0, "w", w, 0, "N"))))
    return failure();
  return success();
}
void GemmOp::getEffects(
    SmallVectorImpl<SideEffects::EffectInstance<MemoryEffects::Effect>> &effects) {
  addEffects(getOperation(), {getYMutable().getOperandNumber()}, effects);
}

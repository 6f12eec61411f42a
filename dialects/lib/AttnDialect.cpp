//===- AttnDialect.cpp - The attn dialect ---------------------------------===//
//
// Part of attnjit. Dialect registration, attribute definitions and the check
// of the `attn.target` module attribute.
//
//===----------------------------------------------------------------------===//
#include "attnjit/Dialect/Attn/AttnDialect.h"
#include "attnjit/Dialect/Attn/AttnOps.h"
#include "attnjit/Core/AttentionSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;

#include "attnjit/Dialect/Attn/AttnOpsDialect.cpp.inc"
#include "attnjit/Dialect/Attn/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attnjit/Dialect/Attn/AttnAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// AttnDialect
//===----------------------------------------------------------------------===//

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attnjit/Dialect/Attn/AttnOps.cpp.inc"
      >();
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attnjit/Dialect/Attn/AttnAttrs.cpp.inc"
      >();
}

StringRef AttnDialect::getTargetArch(Operation *op) {
  for (auto module = op->getParentOfType<ModuleOp>(); module;
       module = module->getParentOfType<ModuleOp>())
    if (auto target = module->getAttrOfType<StringAttr>(getTargetAttrName()))
      return target.getValue();
  return getDefaultTarget();
}

/// The only discardable attn attribute is the module's `attn.target`; an arch
/// the kernels cannot target is rejected here rather than deep in the pipeline.
LogicalResult AttnDialect::verifyOperationAttribute(Operation *op,
                                                    NamedAttribute attr) {
  if (attr.getName() != getTargetAttrName())
    return op->emitError() << "unknown attn dialect attribute '"
                           << attr.getName().getValue()
                           << "'; expected 'attn.target'";
  if (!isa<ModuleOp>(op))
    return op->emitError() << "'attn.target' must be set on a builtin.module, "
                              "found on '"
                           << op->getName() << "'";
  auto arch = dyn_cast<StringAttr>(attr.getValue());
  if (!arch)
    return op->emitError() << "'attn.target' must be a string such as \"sm_90a\", got "
                           << attr.getValue();
  // The spec's own check (AttentionSpec::validate), so that a target the
  // verifier accepts is one the lowering accepts.
  if (std::string why = attnjit::checkArch(arch.getValue()); !why.empty())
    return op->emitError() << "'attn.target': " << why;
  return success();
}

//===----------------------------------------------------------------------===//
// #attn.config
//===----------------------------------------------------------------------===//

LogicalResult ConfigAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 int64_t blockM, int64_t blockN, int64_t warps,
                                 int64_t stages) {
  std::pair<StringRef, int64_t> fields[] = {
      {"block_m", blockM}, {"block_n", blockN}, {"warps", warps}, {"stages", stages}};
  // The upper bound also keeps the values inside the spec's 32-bit fields.
  for (auto [name, value] : fields)
    if (value <= 0 || value > attnjit::kMaxConfigValue)
      return emitError() << "#attn.config " << name << " must be in 1.."
                         << attnjit::kMaxConfigValue << ", got " << value;
  return success();
}

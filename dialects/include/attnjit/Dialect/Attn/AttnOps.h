//===- AttnOps.h - attn ops, enums and attributes ---------------*- C++ -*-===//
//
// Part of attnjit. attn.flash, attn.sdpa, attn.sage and their attributes.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNOPS_H
#define ATTNJIT_DIALECT_ATTN_ATTNOPS_H

#include "attnjit/Dialect/Attn/AttnDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "attnjit/Dialect/Attn/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "attnjit/Dialect/Attn/AttnAttrs.h.inc"

#define GET_OP_CLASSES
#include "attnjit/Dialect/Attn/AttnOps.h.inc"

#endif // ATTNJIT_DIALECT_ATTN_ATTNOPS_H

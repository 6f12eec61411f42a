//===- AttnDialect.h - The attn dialect -------------------------*- C++ -*-===//
//
// Part of attnjit. Spec-level attention ops; see AttnDialect.td.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNDIALECT_H
#define ATTNJIT_DIALECT_ATTN_ATTNDIALECT_H

#include "mlir/IR/Dialect.h"

#include "attnjit/Dialect/Attn/AttnOpsDialect.h.inc"

#endif // ATTNJIT_DIALECT_ATTN_ATTNDIALECT_H

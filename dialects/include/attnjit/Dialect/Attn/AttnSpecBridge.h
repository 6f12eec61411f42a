//===- AttnSpecBridge.h - AttentionSpec <-> attn ops ------------*- C++ -*-===//
//
// Part of attnjit. The first stage of the data flow (DESIGN.md): an
// AttentionSpec becomes an attn-dialect module, and an attn op (built here or
// parsed from text) yields its AttentionSpec back.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNSPECBRIDGE_H
#define ATTNJIT_DIALECT_ATTN_ATTNSPECBRIDGE_H

#include "attnjit/Core/AttentionSpec.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Support/LLVM.h"

namespace attnjit {

/// Reads the compile-time spec off an attn.flash/sdpa/sage op: variant from the
/// op, head_dim and dtype from q, arch from the nearest enclosing module's
/// `attn.target` (default sm_90a), config from the op's `config` when present
/// (else all zero), returnLse = lse operand present, maskKind from the mask
/// operand's element type (i1: Bool, float: Additive), maskPerKey from its
/// shape (rank 2, or a static query dim of size 1), dropout from the unit
/// attribute `dropout`. Head counts are not part of the spec (run-time values).
/// Emits an error on `op` and fails when it is not an attn op or its q type
/// does not describe a spec (unverified input).
mlir::FailureOr<AttentionSpec> specFromOp(mlir::Operation *op);

/// Builds
///   module attributes {attn.target = "<arch>"} {
///     func.func @<spec.kernelName()>(%q, %k, %v[, %mask], %out[, %lse]) {
///       attn.<variant> ...
///       return
///     }
///   }
/// with memref<?x?x?x<head_dim>x<dtype>> BSHD operands (layout bshd),
/// lse memref<?x?x?xf32> when spec.returnLse, and for sdpa a rank-4
/// [B, H, Sq, Sk] mask memref (i1 for MaskKind::Bool, the dtype for Additive).
/// num_heads and num_kv_heads are left unset (dynamic): head counts and
/// their ratio are run-time arguments of the kernel (see FlashKernelABI.h).
/// Likewise softmax_scale is left unset (the kernel takes the scale at run
/// time), and `dropout` is the unit attribute (the probability is a run-time
/// value too). Sage ops get the default granularity, smooth_k and pv_accum.
/// `config` is set when spec.config is complete. Returns null, with the error emitted on the
/// context, when a flash/sage spec has a mask or dropout, the config is partly
/// set, or the built module does not verify (head_dim, dtype or arch that no
/// kernel supports).
mlir::OwningOpRef<mlir::ModuleOp> buildAttnModule(mlir::MLIRContext &ctx,
                                                  const AttentionSpec &spec);

/// Registers the attn dialect and the dialects buildAttnModule's output uses
/// (func, memref).
void registerAttnDialect(mlir::DialectRegistry &registry);

} // namespace attnjit

#endif // ATTNJIT_DIALECT_ATTN_ATTNSPECBRIDGE_H

//===- AttnDialect.td - The attn dialect -------------------*- tablegen -*-===//
//
// Part of attnjit. Spec-level attention ops (DESIGN.md, "The attn dialect").
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNDIALECT_TD
#define ATTNJIT_DIALECT_ATTN_ATTNDIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention ops: flash, sdpa and sage, and the tile-level lse_merge";
  let description = [{
    One op per attention variant (`attn.flash`, `attn.sdpa`, `attn.sage`) with
    the compile-time parameters of the kernel as attributes and q, k, v and the
    output as memrefs with dynamic batch, sequence and head counts and a static
    head_dim. The target arch is the module attribute `attn.target`
    (e.g. `"sm_90a"`, the default when absent):

    ```mlir
    module attributes {attn.target = "sm_80"} { ... }
    ```

    Tile-level ops describe one stage of a kernel with its own tests:
    `attn.lse_merge` combines partial outputs by their log-sum-exps.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Name of the module attribute holding the target arch.
    static constexpr ::llvm::StringLiteral getTargetAttrName() {
      return ::llvm::StringLiteral("attn.target");
    }
    /// Arch used when the module has no `attn.target`.
    static constexpr ::llvm::StringLiteral getDefaultTarget() {
      return ::llvm::StringLiteral("sm_90a");
    }
    /// The `attn.target` of the nearest enclosing module that has one, else
    /// the default (sm_90a).
    static ::llvm::StringRef getTargetArch(::mlir::Operation *op);
  }];
}

/// Base class of every attn op.
class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTNJIT_DIALECT_ATTN_ATTNDIALECT_TD

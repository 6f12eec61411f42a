//===- AttnAttrs.td - attn enums and attributes ------------*- tablegen -*-===//
//
// Part of attnjit. #attn.layout, #attn.granularity, #attn.pv_accum (enums) and
// #attn.config (the tiling hint).
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNATTRS_TD
#define ATTNJIT_DIALECT_ATTN_ATTNATTRS_TD

include "attnjit/Dialect/Attn/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def Attn_Layout : I32EnumAttr<"Layout", "memory layout of q, k, v and out", [
    I32EnumAttrCase<"bshd", 0>,   // [batch, seq, heads, head_dim], contiguous
    I32EnumAttrCase<"bhsd", 1>,   // [batch, heads, seq, head_dim], contiguous
    I32EnumAttrCase<"strided", 2> // logical [batch, seq, heads, head_dim], strides
                                  // carried by the memref's strided layout
  ]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}
def Attn_LayoutAttr : EnumAttr<Attn_Dialect, Attn_Layout, "layout"> {
  let assemblyFormat = "`<` $value `>`";
}

def Attn_Granularity : I32EnumAttr<"Granularity",
    "Sage quantization granularity of Q and K", [
    I32EnumAttrCase<"per_block", 0>,
    I32EnumAttrCase<"per_warp", 1>,
    I32EnumAttrCase<"per_thread", 2>
  ]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}
def Attn_GranularityAttr : EnumAttr<Attn_Dialect, Attn_Granularity, "granularity"> {
  let assemblyFormat = "`<` $value `>`";
}

def Attn_PVAccum : I32EnumAttr<"PVAccum", "Sage P*V accumulation mode", [
    I32EnumAttrCase<"fp32", 0>,      // one FP32 accumulator
    I32EnumAttrCase<"fp32_fp32", 1>  // per-KV-block FP32 sum added to an FP32 buffer
  ]> {
  let cppNamespace = "::mlir::attn";
  let genSpecializedAttr = 0;
}
def Attn_PVAccumAttr : EnumAttr<Attn_Dialect, Attn_PVAccum, "pv_accum"> {
  let assemblyFormat = "`<` $value `>`";
}

//===----------------------------------------------------------------------===//
// #attn.config
//===----------------------------------------------------------------------===//

def Attn_ConfigAttr : AttrDef<Attn_Dialect, "Config"> {
  let mnemonic = "config";
  let summary = "Tiling hint: block_m, block_n, warps, stages";
  let description = [{
    The kernel configuration to use instead of the config table's choice.
    Every field must be > 0.

    ```mlir
    #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>
    ```
  }];
  let parameters = (ins "int64_t":$block_m, "int64_t":$block_n,
                        "int64_t":$warps, "int64_t":$stages);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

#endif // ATTNJIT_DIALECT_ATTN_ATTNATTRS_TD

//===- AttnOps.td - attn ops -------------------------------*- tablegen -*-===//
//
// Part of attnjit. One op per attention variant (attn.flash, attn.sdpa,
// attn.sage), and tile-level ops that make a kernel stage visible and testable
// (attn.lse_merge). The operand types are checked by the C++ verifiers
// (AttnOps.cpp) so that every message names the operand, the expected and the
// found value.
//
//===----------------------------------------------------------------------===//
#ifndef ATTNJIT_DIALECT_ATTN_ATTNOPS_TD
#define ATTNJIT_DIALECT_ATTN_ATTNOPS_TD

include "attnjit/Dialect/Attn/AttnDialect.td"
include "attnjit/Dialect/Attn/AttnAttrs.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"

//===----------------------------------------------------------------------===//
// Shared pieces
//===----------------------------------------------------------------------===//

// q, k, v, out: [B, S, H, D] (bshd, strided) or [B, H, S, D] (bhsd), D static.
def Attn_QKVMemRef : Type<IsMemRefTypePred, "memref (q, k, v or out)",
                          "::mlir::MemRefType">;
// lse: fp32 [B, H, Sq].
def Attn_LseMemRef : Type<IsMemRefTypePred, "memref (lse)", "::mlir::MemRefType">;
// mask: i1 or additive float; [B, Sk], [B, Sq, Sk] or [B, H, Sq, Sk].
def Attn_MaskMemRef : Type<IsMemRefTypePred, "memref (mask)", "::mlir::MemRefType">;

defvar Attn_CommonClassDecl = [{
    /// softmax_scale when set, else 1/sqrt(head_dim).
    float getEffectiveScale();
    /// The static last dim of q.
    int64_t getHeadDim();
  }];

class Attn_AttentionOp<string mnemonic, list<Trait> traits = []>
    : Attn_Op<mnemonic, !listconcat(traits,
        [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>])> {
  let hasVerifier = 1;
  let extraClassDeclaration = Attn_CommonClassDecl;
}

//===----------------------------------------------------------------------===//
// attn.flash
//===----------------------------------------------------------------------===//

def Attn_FlashOp : Attn_AttentionOp<"flash"> {
  let summary = "FlashAttention forward: out = softmax(scale * q k^T) v";
  let description = [{
    Computes attention with an online softmax (FlashAttention-2/3 structure).
    Batch, sequence lengths and head counts are run-time values; head_dim (the
    last dim, stride 1) is static and one of 32, 64, 96, 128, 160, 192, 224,
    256. Element types: f16 or bf16, the same for q, k, v and out. Grouped-query
    attention: query head h reads key/value head h / (num_heads / num_kv_heads),
    a ratio the kernel takes at run time.
    The optional `lse` output receives the fp32 log-sum-exp, [B, H, Sq].

    Attributes: `causal` (unit), `softmax_scale` (f32, default
    1/sqrt(head_dim)), `layout` (#attn.layout<bshd|bhsd|strided>; `strided`
    means logical [B, S, H, D] dims with the strides of the memref's strided
    layout), an optional tiling hint `config`, and the optional head counts
    `num_heads` and `num_kv_heads`: absent means dynamic (what the kernels
    support; the heads dims of q and k then give the counts where static);
    when set, the heads dims must agree and num_heads must be a multiple of
    num_kv_heads.

    ```mlir
    attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>,
                                memref<?x?x?x128xbf16>)
               outs(%o : memref<?x?x?x128xbf16>)
               lse(%lse : memref<?x?x?xf32>)
               {causal, layout = #attn.layout<bshd>,
                config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>}
    attn.flash ins(%q, %k, %v : memref<?x?x32x64xf16>, memref<?x?x8x64xf16>,
                                memref<?x?x8x64xf16>)
               outs(%o : memref<?x?x32x64xf16>)
               {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 8 : i64}
    ```
  }];
  let arguments = (ins Attn_QKVMemRef:$q, Attn_QKVMemRef:$k, Attn_QKVMemRef:$v,
                       Attn_QKVMemRef:$out, Optional<Attn_LseMemRef>:$lse,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$softmax_scale,
                       OptionalAttr<I64Attr>:$num_heads,
                       OptionalAttr<I64Attr>:$num_kv_heads,
                       Attn_LayoutAttr:$layout,
                       OptionalAttr<Attn_ConfigAttr>:$config);
  let assemblyFormat = [{
    `ins` `(` $q `,` $k `,` $v `:` type($q) `,` type($k) `,` type($v) `)`
    `outs` `(` $out `:` type($out) `)`
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// attn.sdpa
//===----------------------------------------------------------------------===//

def Attn_SdpaOp : Attn_AttentionOp<"sdpa", [AttrSizedOperandSegments]> {
  let summary = "Scaled dot-product attention with optional mask and dropout";
  let description = [{
    The general attention of torch's scaled_dot_product_attention: like
    `attn.flash`, plus f32 inputs, any head_dim in 1..256, an optional `mask`
    and dropout. The mask is i1 (true = attend) or additive (q's element
    type), of rank 2 ([B, Sk]), 3 ([B, Sq, Sk]) or 4 ([B, H, Sq, Sk]); a dim of
    size 1 broadcasts. The unit attribute `mask_true_hides` reads an i1 mask
    the other way round: true hides the key (the convention of the
    MultiHeadFlashAttention module), so such masks need no conversion.
    The unit attribute `dropout` compiles the kernel with
    dropout; the drop probability, seed and offset are run-time arguments of
    the kernel (one kernel serves every probability), so the op does not
    carry them.

    ```mlir
    attn.sdpa ins(%q, %k, %v : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>,
                               memref<?x?x?x80xf16>)
              mask(%m : memref<?x?x?x?xi1>)
              outs(%o : memref<?x?x?x80xf16>)
              {dropout, layout = #attn.layout<bhsd>}
    ```
  }];
  let arguments = (ins Attn_QKVMemRef:$q, Attn_QKVMemRef:$k, Attn_QKVMemRef:$v,
                       Optional<Attn_MaskMemRef>:$mask,
                       Attn_QKVMemRef:$out, Optional<Attn_LseMemRef>:$lse,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$softmax_scale,
                       OptionalAttr<I64Attr>:$num_heads,
                       OptionalAttr<I64Attr>:$num_kv_heads,
                       Attn_LayoutAttr:$layout,
                       UnitAttr:$dropout,
                       OptionalAttr<Attn_ConfigAttr>:$config,
                       UnitAttr:$mask_true_hides);
  let assemblyFormat = [{
    `ins` `(` $q `,` $k `,` $v `:` type($q) `,` type($k) `,` type($v) `)`
    (`mask` `(` $mask^ `:` type($mask) `)`)?
    `outs` `(` $out `:` type($out) `)`
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// attn.sage
//===----------------------------------------------------------------------===//

def Attn_SageOp : Attn_AttentionOp<"sage"> {
  let summary = "SageAttention: INT8 q k^T, FP8 P*V";
  let description = [{
    Quantized attention (SageAttention2 structure): Q and K quantized to INT8
    with one scale per `granularity` group (default per_thread; softmax_scale
    and log2(e) folded into Q's scale), K smoothed by subtracting its mean over
    tokens when `smooth_k` (default true), V and P in FP8 e4m3, P*V accumulated
    per `pv_accum` (default fp32_fp32: per KV block, then into an FP32 buffer).
    head_dim 64 or 128; f16 or bf16 inputs. Other attributes as `attn.flash`.

    ```mlir
    attn.sage ins(%q, %k, %v : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>,
                               memref<?x?x?x128xf16>)
              outs(%o : memref<?x?x?x128xf16>)
              {granularity = #attn.granularity<per_warp>, layout = #attn.layout<bshd>,
               pv_accum = #attn.pv_accum<fp32>, smooth_k = false}
    ```
  }];
  let arguments = (ins Attn_QKVMemRef:$q, Attn_QKVMemRef:$k, Attn_QKVMemRef:$v,
                       Attn_QKVMemRef:$out, Optional<Attn_LseMemRef>:$lse,
                       UnitAttr:$causal,
                       OptionalAttr<F32Attr>:$softmax_scale,
                       OptionalAttr<I64Attr>:$num_heads,
                       OptionalAttr<I64Attr>:$num_kv_heads,
                       Attn_LayoutAttr:$layout,
                       DefaultValuedAttr<Attn_GranularityAttr,
                         "::mlir::attn::Granularity::per_thread">:$granularity,
                       DefaultValuedAttr<BoolAttr, "true">:$smooth_k,
                       DefaultValuedAttr<Attn_PVAccumAttr,
                         "::mlir::attn::PVAccum::fp32_fp32">:$pv_accum,
                       OptionalAttr<Attn_ConfigAttr>:$config);
  let assemblyFormat = [{
    `ins` `(` $q `,` $k `,` $v `:` type($q) `,` type($k) `,` type($v) `)`
    `outs` `(` $out `:` type($out) `)`
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    attr-dict
  }];
}

//===----------------------------------------------------------------------===//
// attn.lse_merge (tile level)
//===----------------------------------------------------------------------===//

// partial_out: [N, B, S, H, D] or [N, B, H, S, D]; partial_lse: fp32 [N, B, H, S].
def Attn_PartialMemRef : Type<IsMemRefTypePred, "memref (partial results)",
                              "::mlir::MemRefType">;

def Attn_LseMergeOp : Attn_Op<"lse_merge",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "Merges partial attention outputs by their log-sum-exps";
  let description = [{
    Combines N partial attention results computed over disjoint key ranges
    (split-KV decoding, ring attention) into one: with
    `lse = log(sum_i exp(partial_lse[i]))`,
    `out = sum_i exp(partial_lse[i] - lse) * partial_out[i]`, and the optional
    `lse` output receives `lse`. A partial whose lse is -inf (no key attended)
    contributes nothing; when every partial is -inf the row is 0 (not NaN).

    `partial_out` is [N, B, S, H, D] (`layout` bshd) or [N, B, H, S, D] (bhsd),
    f32 or the element type of `out`; `partial_lse` is f32 [N, B, H, S]; `out`
    is [B, S, H, D] or [B, H, S, D] (f16, bf16 or f32) and `lse` f32 [B, H, S].
    head_dim (the last dim, stride 1) is static; N, batch, lengths and head
    counts may be dynamic. All are contiguous (identity layouts). `config`
    (optional) is the merge recipe's: block_m = warps = rows per CTA, block_n
    = stages = 1.

    Lowered by attnjit-convert-attn-to-kernel to the LSE-merge recipe's kernel
    (kernels/lib/LseMergeRecipe.cpp), which reads the partials in the element
    type of `out`; f32 partials with a 16-bit `out` verify but do not lower yet.

    ```mlir
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xf32>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
                   {layout = #attn.layout<bshd>}
    ```
  }];
  let arguments = (ins Attn_PartialMemRef:$partial_out, Attn_PartialMemRef:$partial_lse,
                       Attn_QKVMemRef:$out, Optional<Attn_LseMemRef>:$lse,
                       Attn_LayoutAttr:$layout,
                       OptionalAttr<Attn_ConfigAttr>:$config);
  let assemblyFormat = [{
    `ins` `(` $partial_out `,` $partial_lse `:` type($partial_out) `,` type($partial_lse) `)`
    `outs` `(` $out `:` type($out) `)`
    (`lse` `(` $lse^ `:` type($lse) `)`)?
    attr-dict
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// attn.gemm (the attention layers' projection)
//===----------------------------------------------------------------------===//

// x [M, K], w [N, K], y [M, N]: row-major rows of any stride; bias [N].
def Attn_MatrixMemRef : Type<IsMemRefTypePred, "memref (x, w or y)", "::mlir::MemRefType">;

def Attn_GemmOp : Attn_Op<"gemm",
    [DeclareOpInterfaceMethods<MemoryEffectsOpInterface>]> {
  let summary = "Linear projection: y = x w^T + bias";
  let description = [{
    torch.nn.functional.linear, the projections of the multi-head attention
    layer: `x` is [M, K], `w` is [N, K] (as torch.nn.Linear stores its
    weight), the optional `bias` is [N] and `y` is [M, N]. Rows may have any
    stride (a strided layout whose last stride is 1); columns are contiguous.
    Element types: f16, bf16 (fp32 accumulation) or f32, the same for every
    operand. M, N and K are run-time values of the kernel (dims may be
    dynamic); where static they must agree. Whether the bias is added is a
    run-time argument too, so one kernel serves both forms. `config` is the
    GEMM recipe's tiling: block_m x block_n outputs per CTA, warps, stages of
    the cp.async pipeline.

    ```mlir
    attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>)
              bias(%b : memref<384xbf16>)
              outs(%y : memref<?x384xbf16>)
              {config = #attn.config<block_m = 128, block_n = 128, warps = 4, stages = 3>}
    ```
  }];
  let arguments = (ins Attn_MatrixMemRef:$x, Attn_MatrixMemRef:$w,
                       Optional<Attn_MatrixMemRef>:$bias,
                       Attn_MatrixMemRef:$y,
                       OptionalAttr<Attn_ConfigAttr>:$config);
  let assemblyFormat = [{
    `ins` `(` $x `,` $w `:` type($x) `,` type($w) `)`
    (`bias` `(` $bias^ `:` type($bias) `)`)?
    `outs` `(` $y `:` type($y) `)`
    attr-dict
  }];
  let hasVerifier = 1;
}

#endif // ATTNJIT_DIALECT_ATTN_ATTNOPS_TD

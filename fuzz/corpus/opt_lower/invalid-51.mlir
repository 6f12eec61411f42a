func.func @lse_heads_without_attrs(%q: memref<?x?x4x64xf16>, %o: memref<?x?x4x64xf16>, %lse: memref<?x8x?xf32>) {
  attn.flash ins(%q, %q, %q : memref<?x?x4x64xf16>, memref<?x?x4x64xf16>, memref<?x?x4x64xf16>) outs(%o : memref<?x?x4x64xf16>) lse(%lse : memref<?x8x?xf32>) {layout = #attn.layout<bshd>}
  return
}

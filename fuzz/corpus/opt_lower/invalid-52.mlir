func.func @mask_heads_without_attrs(%q: memref<?x?x8x64xf16>, %m: memref<?x4x?x?xi1>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x8x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) mask(%m : memref<?x4x?x?xi1>) outs(%q : memref<?x?x8x64xf16>) {layout = #attn.layout<bshd>}
  return
}

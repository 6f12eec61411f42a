func.func @lse_batch(%q: memref<2x?x?x128xbf16>, %k: memref<2x?x?x128xbf16>, %v: memref<2x?x?x128xbf16>, %o: memref<2x?x?x128xbf16>, %lse: memref<4x?x?xf32>) {
  attn.flash ins(%q, %k, %v : memref<2x?x?x128xbf16>, memref<2x?x?x128xbf16>, memref<2x?x?x128xbf16>) outs(%o : memref<2x?x?x128xbf16>) lse(%lse : memref<4x?x?xf32>) {layout = #attn.layout<bshd>}
  return
}

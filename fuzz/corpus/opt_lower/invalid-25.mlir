func.func @batch_mismatch(%q: memref<2x?x?x128xbf16>, %k: memref<3x?x?x128xbf16>, %v: memref<2x?x?x128xbf16>, %o: memref<2x?x?x128xbf16>) {
  attn.flash ins(%q, %k, %v : memref<2x?x?x128xbf16>, memref<3x?x?x128xbf16>, memref<2x?x?x128xbf16>) outs(%o : memref<2x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @seq_mismatch_v_k(%q: memref<?x?x?x128xbf16>, %k: memref<?x12x?x128xbf16>, %v: memref<?x10x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x12x?x128xbf16>, memref<?x10x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @q_heads_vs_num_heads(%q: memref<?x?x16x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x16x128xbf16>, %o: memref<?x?x16x128xbf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x16x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x16x128xbf16>) outs(%o : memref<?x?x16x128xbf16>) {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 8 : i64}
  return
}

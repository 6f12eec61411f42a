func.func @k_heads_vs_num_kv_heads_bhsd(%q: memref<?x?x?x128xbf16>, %k: memref<?x4x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x4x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bhsd>, num_heads = 32 : i64, num_kv_heads = 8 : i64}
  return
}

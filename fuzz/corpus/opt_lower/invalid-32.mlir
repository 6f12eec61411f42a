func.func @lse_heads(%q: memref<?x?x?x128xf16>, %k: memref<?x?x?x128xf16>, %v: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>, %lse: memref<?x8x?xf32>) {
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>) outs(%o : memref<?x?x?x128xf16>) lse(%lse : memref<?x8x?xf32>) {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 32 : i64}
  return
}

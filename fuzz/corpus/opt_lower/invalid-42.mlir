func.func @mask_heads(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x4x?x?xi1>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x4x?x?xi1>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

func.func @sdpa_head_dim_1000(%q: memref<?x?x?x1000xf16>, %k: memref<?x?x?x1000xf16>, %v: memref<?x?x?x1000xf16>, %o: memref<?x?x?x1000xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x1000xf16>, memref<?x?x?x1000xf16>, memref<?x?x?x1000xf16>) outs(%o : memref<?x?x?x1000xf16>) {layout = #attn.layout<bshd>}
  return
}

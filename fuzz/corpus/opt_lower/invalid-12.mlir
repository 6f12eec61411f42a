func.func @sdpa_head_dim_0(%q: memref<?x?x?x0xf16>, %k: memref<?x?x?x0xf16>, %v: memref<?x?x?x0xf16>, %o: memref<?x?x?x0xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x0xf16>, memref<?x?x?x0xf16>, memref<?x?x?x0xf16>) outs(%o : memref<?x?x?x0xf16>) {layout = #attn.layout<bshd>}
  return
}

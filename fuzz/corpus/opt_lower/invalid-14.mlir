func.func @sage_head_dim_96(%q: memref<?x?x?x96xf16>, %k: memref<?x?x?x96xf16>, %v: memref<?x?x?x96xf16>, %o: memref<?x?x?x96xf16>) {
  attn.sage ins(%q, %k, %v : memref<?x?x?x96xf16>, memref<?x?x?x96xf16>, memref<?x?x?x96xf16>) outs(%o : memref<?x?x?x96xf16>) {layout = #attn.layout<bshd>}
  return
}

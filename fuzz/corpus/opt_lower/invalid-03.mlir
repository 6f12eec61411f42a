func.func @sage_f32(%q: memref<?x?x?x128xf32>, %k: memref<?x?x?x128xf32>, %v: memref<?x?x?x128xf32>, %o: memref<?x?x?x128xf32>) {
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xf32>, memref<?x?x?x128xf32>, memref<?x?x?x128xf32>) outs(%o : memref<?x?x?x128xf32>) {layout = #attn.layout<bshd>}
  return
}

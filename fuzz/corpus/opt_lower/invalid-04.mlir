func.func @sdpa_f64(%q: memref<?x?x?x128xf64>, %k: memref<?x?x?x128xf64>, %v: memref<?x?x?x128xf64>, %o: memref<?x?x?x128xf64>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x128xf64>, memref<?x?x?x128xf64>, memref<?x?x?x128xf64>) outs(%o : memref<?x?x?x128xf64>) {layout = #attn.layout<bshd>}
  return
}

func.func @lse_seq(%q: memref<?x6x?x64xf16>, %k: memref<?x6x?x64xf16>, %v: memref<?x6x?x64xf16>, %o: memref<?x6x?x64xf16>, %lse: memref<?x?x5xf32>) {
  attn.sdpa ins(%q, %k, %v : memref<?x6x?x64xf16>, memref<?x6x?x64xf16>, memref<?x6x?x64xf16>) outs(%o : memref<?x6x?x64xf16>) lse(%lse : memref<?x?x5xf32>) {layout = #attn.layout<bshd>}
  return
}

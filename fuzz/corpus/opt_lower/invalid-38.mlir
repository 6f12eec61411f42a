func.func @mask_rank_1(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?xi1>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?xi1>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

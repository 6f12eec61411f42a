func.func @mask_seq_q(%q: memref<?x8x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x8x?x64xf16>, %o: memref<?x8x?x64xf16>, %m: memref<?x9x?xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x?x?x64xf16>, memref<?x8x?x64xf16>) mask(%m : memref<?x9x?xf16>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @mask_seq_k(%q: memref<?x?x?x64xf16>, %k: memref<?x?x16x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?x?x9xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x16x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?x?x9xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

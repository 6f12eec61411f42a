func.func @mask_float_other_than_input(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?xbf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?xbf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

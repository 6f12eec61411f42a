func.func @mask_batch(%q: memref<2x?x?x64xf16>, %k: memref<2x?x?x64xf16>, %v: memref<2x?x?x64xf16>, %o: memref<2x?x?x64xf16>, %m: memref<3x?xi1>) {
  attn.sdpa ins(%q, %k, %v : memref<2x?x?x64xf16>, memref<2x?x?x64xf16>, memref<2x?x?x64xf16>) mask(%m : memref<3x?xi1>) outs(%o : memref<2x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

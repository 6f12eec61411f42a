func.func @strided_unit_stride(%q: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %k: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %v: memref<?x?x?x128xbf16, strided<[?, ?, ?, 2]>>, %o: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 2]>>) outs(%o : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>) {layout = #attn.layout<strided>}
  return
}

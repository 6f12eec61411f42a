func.func @flash_head_dim_512(%q: memref<?x?x?x512xbf16>, %k: memref<?x?x?x512xbf16>, %v: memref<?x?x?x512xbf16>, %o: memref<?x?x?x512xbf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x512xbf16>, memref<?x?x?x512xbf16>, memref<?x?x?x512xbf16>) outs(%o : memref<?x?x?x512xbf16>) {layout = #attn.layout<bshd>}
  return
}

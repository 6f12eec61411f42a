func.func @gqa_dims_not_divisible(%q: memref<?x?x12x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x12x64xf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x12x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x12x64xf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @heads_out_vs_q_without_attrs(%q: memref<?x?x8x64xf16>, %k: memref<?x?x2x64xf16>, %v: memref<?x?x2x64xf16>, %o: memref<?x?x4x64xf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x8x64xf16>, memref<?x?x2x64xf16>, memref<?x?x2x64xf16>) outs(%o : memref<?x?x4x64xf16>) {layout = #attn.layout<bshd>}
  return
}

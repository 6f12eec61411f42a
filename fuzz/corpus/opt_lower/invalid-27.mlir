func.func @seq_mismatch_out_q_bhsd(%q: memref<?x?x8x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x7x64xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x?x8x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x7x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

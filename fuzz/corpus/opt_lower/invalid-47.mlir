func.func @heads_v_vs_k_without_attrs_bhsd(%q: memref<?x8x?x64xf16>, %k: memref<?x4x?x64xf16>, %v: memref<?x2x?x64xf16>, %o: memref<?x8x?x64xf16>) {
  attn.sdpa ins(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x4x?x64xf16>, memref<?x2x?x64xf16>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

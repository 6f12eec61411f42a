func.func @gqa_num_heads_vs_k_dim(%q: memref<?x?x?x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x?x64xf16>) {
  attn.sage ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>, num_heads = 12 : i64}
  return
}

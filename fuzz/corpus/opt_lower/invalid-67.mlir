func.func @lse_merge_bhsd_heads(%po: memref<?x?x4x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x8x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x4x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

func.func @lse_merge_partials_count(%po: memref<2x?x?x?x64xf32>, %plse: memref<3x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<2x?x?x?x64xf32>, memref<3x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @lse_merge_out_rank(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

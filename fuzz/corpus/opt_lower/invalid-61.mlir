func.func @lse_merge_lse_rank(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>, %lse: memref<?x?xf32>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) lse(%lse : memref<?x?xf32>) {layout = #attn.layout<bshd>}
  return
}

func.func @lse_merge_dynamic_head_dim(%po: memref<?x?x?x?x?xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x?xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x?xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x?xf16>) {layout = #attn.layout<bshd>}
  return
}

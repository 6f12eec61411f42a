func.func @lse_merge_out_type(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xi8>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xi8>) {layout = #attn.layout<bshd>}
  return
}

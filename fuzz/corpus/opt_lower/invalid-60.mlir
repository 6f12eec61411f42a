func.func @lse_merge_partial_lse_type(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf16>, %o: memref<?x?x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

func.func @lse_merge_partial_type(%po: memref<?x?x?x?x64xbf16>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xbf16>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

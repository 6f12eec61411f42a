func.func @lse_merge_bshd_lse(%po: memref<?x?x?x?x128xf32>, %plse: memref<?x?x?x?xf32>,
                              %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xf32>, memref<?x?x?x?xf32>)
                 outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
                 {layout = #attn.layout<bshd>}
  return
}

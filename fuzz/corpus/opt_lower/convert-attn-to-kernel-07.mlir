module attributes {attn.target = "sm_90a"} {
  func.func @lse_merge_d128(%po: memref<?x?x?x?x128xbf16>, %plse: memref<?x?x?x?xf32>,
                            %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xbf16>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
                   {layout = #attn.layout<bshd>}
    return
  }
}

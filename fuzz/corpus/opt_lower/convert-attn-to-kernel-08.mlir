module attributes {attn.target = "sm_90a"} {
  func.func @lse_merge_bad_config(%po: memref<?x?x?x?x64xf16>, %plse: memref<?x?x?x?xf32>,
                                  %o: memref<?x?x?x64xf16>) {
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf16>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x64xf16>)
                   {layout = #attn.layout<bshd>, config = #attn.config<block_m = 16, block_n = 1, warps = 4, stages = 1>}
    return
  }
}

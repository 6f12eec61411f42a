module attributes {attn.target = "sm_90a"} {
  func.func @flash_d128_config(%q: memref<?x?x?x128xf16>, %k: memref<?x?x?x128xf16>,
                               %v: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>,
                               %lse: memref<?x?x?xf32>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>)
               outs(%o : memref<?x?x?x128xf16>) lse(%lse : memref<?x?x?xf32>)
               {config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>,
                layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 4 : i64}
    return
  }
}

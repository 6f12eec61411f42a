func.func @flash_all_attributes(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>,
                                %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>,
                                %lse: memref<?x?x?xf32>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%o : memref<?x?x?x64xf16>) lse(%lse : memref<?x?x?xf32>)
             {causal, softmax_scale = 0.125 : f32, num_heads = 32 : i64, num_kv_heads = 8 : i64,
              layout = #attn.layout<bshd>,
              config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>}
  return
}

func.func @sage_per_block(%q: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
                          %lse: memref<?x?x?xf32>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
            outs(%o : memref<?x?x?x64xbf16>) lse(%lse : memref<?x?x?xf32>)
            {causal, softmax_scale = 0.25 : f32, granularity = #attn.granularity<per_block>,
             smooth_k = false, pv_accum = #attn.pv_accum<fp32>, layout = #attn.layout<bhsd>,
             num_heads = 8 : i64, num_kv_heads = 1 : i64,
             config = #attn.config<block_m = 128, block_n = 128, warps = 8, stages = 1>}
  return
}

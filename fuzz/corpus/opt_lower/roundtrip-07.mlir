func.func @sdpa_additive_mask_rank3_lse(%q: memref<?x?x?x128xbf16>, %m: memref<?x?x?xbf16>,
                                        %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
            mask(%m : memref<?x?x?xbf16>) outs(%o : memref<?x?x?x128xbf16>)
            lse(%lse : memref<?x?x?xf32>)
            {causal, softmax_scale = 0.5 : f32, layout = #attn.layout<bshd>, num_heads = 4 : i64,
             num_kv_heads = 2 : i64,
             config = #attn.config<block_m = 64, block_n = 64, warps = 4, stages = 3>}
  return
}

func.func @sdpa_f32_no_mask(%q: memref<?x?x?x1xf32>, %o: memref<?x?x?x1xf32>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x1xf32>, memref<?x?x?x1xf32>, memref<?x?x?x1xf32>)
            outs(%o : memref<?x?x?x1xf32>)
            {layout = #attn.layout<bshd>, num_heads = 2 : i64, num_kv_heads = 1 : i64}
  return
}

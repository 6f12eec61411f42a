func.func @sage_defaults(%q: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>)
            outs(%o : memref<?x?x?x128xf16>)
            {granularity = #attn.granularity<per_thread>, smooth_k = true,
             pv_accum = #attn.pv_accum<fp32_fp32>, layout = #attn.layout<bshd>,
             num_heads = 24 : i64, num_kv_heads = 24 : i64}
  return
}

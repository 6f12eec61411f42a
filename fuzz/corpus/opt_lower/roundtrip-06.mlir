func.func @sdpa_bool_mask_dropout(%q: memref<?x?x?x80xf16>, %m: memref<?x?xi1>,
                                  %o: memref<?x?x?x80xf16>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>)
            mask(%m : memref<?x?xi1>) outs(%o : memref<?x?x?x80xf16>)
            {dropout, layout = #attn.layout<bhsd>, num_heads = 16 : i64,
             num_kv_heads = 16 : i64}
  return
}

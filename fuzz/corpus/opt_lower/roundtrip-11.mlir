func.func @sage_per_warp(%q: memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>,
                             memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>,
                             memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>)
            outs(%q : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>)
            {granularity = #attn.granularity<per_warp>, layout = #attn.layout<strided>,
             num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}

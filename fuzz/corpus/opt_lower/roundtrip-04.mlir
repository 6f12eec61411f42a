func.func @flash_strided(%q: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                         %k: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                         %v: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                         %o: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                              memref<?x?x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                              memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>)
             outs(%o : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>)
             {layout = #attn.layout<strided>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

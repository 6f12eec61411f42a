module attributes {attn.target = "sm_90a"} {
  func.func @flash_d32(%q: memref<?x?x?x32xbf16>, %k: memref<?x?x?x32xbf16>,
                       %v: memref<?x?x?x32xbf16>, %o: memref<?x?x?x32xbf16>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x32xbf16>, memref<?x?x?x32xbf16>, memref<?x?x?x32xbf16>)
               outs(%o : memref<?x?x?x32xbf16>)
               {layout = #attn.layout<bshd>, num_heads = 1 : i64, num_kv_heads = 1 : i64}
    return
  }
}

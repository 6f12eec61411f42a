module attributes {attn.target = "sm_80"} {
  func.func @flash_d64(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
                       %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
               outs(%o : memref<?x?x?x64xbf16>)
               {causal, layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 2 : i64}
    return
  }
}

func.func @flash_num_heads_only(%q: memref<?x?x32x64xf16>, %kv: memref<?x?x?x64xf16>) {
  attn.flash ins(%q, %kv, %kv : memref<?x?x32x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%q : memref<?x?x32x64xf16>)
             {layout = #attn.layout<bshd>, num_heads = 32 : i64}
  return
}

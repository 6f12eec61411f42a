func.func @heads_dim_zero_without_attrs(%q: memref<?x?x?x64xf16>, %kv: memref<?x?x0x64xf16>) {
  attn.flash ins(%q, %kv, %kv : memref<?x?x?x64xf16>, memref<?x?x0x64xf16>, memref<?x?x0x64xf16>) outs(%q : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

module attributes {attn.target = "sm_80"} {
  func.func @with_target(%q: memref<?x?x?x32xf16>) {
    attn.flash ins(%q, %q, %q : memref<?x?x?x32xf16>, memref<?x?x?x32xf16>, memref<?x?x?x32xf16>)
               outs(%q : memref<?x?x?x32xf16>)
               {layout = #attn.layout<bshd>}
    return
  }
}

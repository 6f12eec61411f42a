func.func @tensor_operand(%q: tensor<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  "attn.flash"(%q, %o, %o, %o) <{layout = #attn.layout<bshd>}>
      : (tensor<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) -> ()
  return
}

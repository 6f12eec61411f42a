module attributes {attn.target = "sm_80"} {
  func.func @first(%q: memref<?x?x?x80xf16>, %m: memref<?x?x?x?xi1>) {
    attn.sdpa ins(%q, %q, %q : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x?x80xf16>)
              {dropout, layout = #attn.layout<bshd>}
    return
  }
  func.func @second_twice(%q: memref<?x?x8x80xf16>, %m: memref<?x?x?x?xi1>) {
    attn.sdpa ins(%q, %q, %q : memref<?x?x8x80xf16>, memref<?x?x8x80xf16>, memref<?x?x8x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x8x80xf16>)
              {dropout, layout = #attn.layout<bshd>, num_heads = 8 : i64}
    attn.sdpa ins(%q, %q, %q : memref<?x?x8x80xf16>, memref<?x?x8x80xf16>, memref<?x?x8x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x8x80xf16>)
              {dropout, layout = #attn.layout<bhsd>, softmax_scale = 0.5 : f32}
    return
  }
}

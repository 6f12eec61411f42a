func.func @kept_and_not_merged(%q: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>,
                               %lse: memref<?x?x?xf32>) {
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
             {layout = #attn.layout<bshd>}
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
             {layout = #attn.layout<bshd>}
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
            outs(%o : memref<?x?x?x128xbf16>)
            {layout = #attn.layout<bshd>}
  attn.sage ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
            outs(%o : memref<?x?x?x128xbf16>)
            {layout = #attn.layout<bshd>}
  return
}

func.func @no_recipe(%q: memref<?x?x?x64xf16>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
            outs(%q : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  attn.flash ins(%q, %q, %q : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%q : memref<?x?x?x64xf16>)
             {layout = #attn.layout<bshd>, config = #attn.config<block_m = 128, block_n = 64, warps = 3, stages = 2>}
  return
}

module attributes {attn.target = "sm_80"} {
  func.func @two_configs(%q: memref<?x?x?x64xbf16>) {
    attn.flash ins(%q, %q, %q : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
               outs(%q : memref<?x?x?x64xbf16>)
               {layout = #attn.layout<bshd>, config = #attn.config<block_m = 64, block_n = 64, warps = 4, stages = 2>}
    attn.flash ins(%q, %q, %q : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
               outs(%q : memref<?x?x?x64xbf16>)
               {layout = #attn.layout<bshd>, config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>}
    return
  }
}

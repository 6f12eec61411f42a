func.func @config_block_m_huge(%q: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%q : memref<?x?x?x128xbf16>)
             {layout = #attn.layout<bshd>,
              config = #attn.config<block_m = 4294967360, block_n = 64, warps = 8, stages = 2>}
  return
}

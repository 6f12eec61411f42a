func.func @lse_merge_bhsd_static(%po: memref<4x2x8x?x64xf16>, %plse: memref<4x2x8x?xf32>,
                                 %o: memref<2x8x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<4x2x8x?x64xf16>, memref<4x2x8x?xf32>)
                 outs(%o : memref<2x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

func.func @flash_bhsd_static_dims(%q: memref<2x16x?x256xbf16>, %k: memref<2x4x?x256xbf16>,
                                  %v: memref<2x4x?x256xbf16>, %o: memref<2x16x?x256xbf16>,
                                  %lse: memref<2x16x?xf32>) {
  attn.flash ins(%q, %k, %v : memref<2x16x?x256xbf16>, memref<2x4x?x256xbf16>, memref<2x4x?x256xbf16>)
             outs(%o : memref<2x16x?x256xbf16>) lse(%lse : memref<2x16x?xf32>)
             {layout = #attn.layout<bhsd>, num_heads = 16 : i64, num_kv_heads = 4 : i64}
  return
}

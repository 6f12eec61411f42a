func.func @sdpa_f16_mask_rank4_broadcast(%q: memref<2x?x8x64xf16>,
                                         %m: memref<1x1x?x?xf16, strided<[?, ?, ?, 1]>>) {
  attn.sdpa ins(%q, %q, %q : memref<2x?x8x64xf16>, memref<2x?x8x64xf16>, memref<2x?x8x64xf16>)
            mask(%m : memref<1x1x?x?xf16, strided<[?, ?, ?, 1]>>) outs(%q : memref<2x?x8x64xf16>)
            {layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

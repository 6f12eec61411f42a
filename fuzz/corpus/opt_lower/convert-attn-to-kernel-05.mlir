module {
  %m = memref.alloc() : memref<1x16x2x64xf16>
  attn.flash ins(%m, %m, %m : memref<1x16x2x64xf16>, memref<1x16x2x64xf16>, memref<1x16x2x64xf16>)
             outs(%m : memref<1x16x2x64xf16>) {layout = #attn.layout<bshd>}
}

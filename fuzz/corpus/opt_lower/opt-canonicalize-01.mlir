func.func @writes_local_alloc(%q: memref<2x?x4x64xf16>, %n: index) {
  %o = memref.alloc(%n) : memref<2x?x4x64xf16>
  attn.flash ins(%q, %q, %q : memref<2x?x4x64xf16>, memref<2x?x4x64xf16>, memref<2x?x4x64xf16>)
             outs(%o : memref<2x?x4x64xf16>)
             {causal, layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 4 : i64}
  return
}

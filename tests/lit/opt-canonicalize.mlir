// RUN: attnjit-opt %s -canonicalize -cse -split-input-file | FileCheck %s

// attn ops write `out` (and `lse`) and read the rest: canonicalize must keep
// them and CSE must not merge two identical ones.

// CHECK-LABEL: func.func @kept_and_not_merged
// CHECK-COUNT-2: attn.flash
// CHECK: attn.sdpa
// CHECK: attn.sage
// CHECK: return
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

// -----

// An op writing a local allocation nobody reads is still kept: attn ops are
// not pure, and removing dead stores is not canonicalize's job.
// CHECK-LABEL: func.func @writes_local_alloc
// CHECK: memref.alloc
// CHECK: attn.flash
func.func @writes_local_alloc(%q: memref<2x?x4x64xf16>, %n: index) {
  %o = memref.alloc(%n) : memref<2x?x4x64xf16>
  attn.flash ins(%q, %q, %q : memref<2x?x4x64xf16>, memref<2x?x4x64xf16>, memref<2x?x4x64xf16>)
             outs(%o : memref<2x?x4x64xf16>)
             {causal, layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 4 : i64}
  return
}

// -----

// attn.lse_merge writes `out` too: kept, and two are not merged.
// CHECK-LABEL: func.func @lse_merge_kept
// CHECK-COUNT-2: attn.lse_merge
func.func @lse_merge_kept(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>,
                          %o: memref<?x?x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>)
                 outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>)
                 outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// RUN: attnjit-opt %s -split-input-file | attnjit-opt -split-input-file | FileCheck %s
// RUN: attnjit-opt %s -split-input-file -mlir-print-op-generic | attnjit-opt -split-input-file | FileCheck %s

// Every attn op and every attribute form survives print -> parse -> print
// (custom and generic form).

// Head counts absent: dynamic, as the kernels take them.
// CHECK-LABEL: func.func @flash_minimal
// CHECK: attn.flash ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%{{.*}} : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
func.func @flash_minimal(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
                         %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%o : memref<?x?x?x128xbf16>)
             {layout = #attn.layout<bshd>}
  return
}

// -----

// Only num_heads known at compile time; num_kv_heads dynamic.
// CHECK-LABEL: func.func @flash_num_heads_only
// CHECK: attn.flash ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x32x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) outs(%{{.*}} : memref<?x?x32x64xf16>) {layout = #attn.layout<bshd>, num_heads = 32 : i64}
func.func @flash_num_heads_only(%q: memref<?x?x32x64xf16>, %kv: memref<?x?x?x64xf16>) {
  attn.flash ins(%q, %kv, %kv : memref<?x?x32x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%q : memref<?x?x32x64xf16>)
             {layout = #attn.layout<bshd>, num_heads = 32 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @flash_all_attributes
// CHECK: attn.flash ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) outs(%{{.*}} : memref<?x?x?x64xf16>) lse(%{{.*}} : memref<?x?x?xf32>) {causal, config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>, layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 8 : i64, softmax_scale = 1.250000e-01 : f32}
func.func @flash_all_attributes(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>,
                                %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>,
                                %lse: memref<?x?x?xf32>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%o : memref<?x?x?x64xf16>) lse(%lse : memref<?x?x?xf32>)
             {causal, softmax_scale = 0.125 : f32, num_heads = 32 : i64, num_kv_heads = 8 : i64,
              layout = #attn.layout<bshd>,
              config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>}
  return
}

// -----

// CHECK-LABEL: func.func @flash_bhsd_static_dims
// CHECK: attn.flash ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<2x16x?x256xbf16>, memref<2x4x?x256xbf16>, memref<2x4x?x256xbf16>) outs(%{{.*}} : memref<2x16x?x256xbf16>) lse(%{{.*}} : memref<2x16x?xf32>) {layout = #attn.layout<bhsd>, num_heads = 16 : i64, num_kv_heads = 4 : i64}
func.func @flash_bhsd_static_dims(%q: memref<2x16x?x256xbf16>, %k: memref<2x4x?x256xbf16>,
                                  %v: memref<2x4x?x256xbf16>, %o: memref<2x16x?x256xbf16>,
                                  %lse: memref<2x16x?xf32>) {
  attn.flash ins(%q, %k, %v : memref<2x16x?x256xbf16>, memref<2x4x?x256xbf16>, memref<2x4x?x256xbf16>)
             outs(%o : memref<2x16x?x256xbf16>) lse(%lse : memref<2x16x?xf32>)
             {layout = #attn.layout<bhsd>, num_heads = 16 : i64, num_kv_heads = 4 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @flash_strided
// CHECK: attn.flash ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>) outs(%{{.*}} : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>) {layout = #attn.layout<strided>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
func.func @flash_strided(%q: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                         %k: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                         %v: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                         %o: memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>) {
  attn.flash ins(%q, %k, %v : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>,
                              memref<?x?x?x96xbf16, strided<[?, ?, ?, 1], offset: ?>>,
                              memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>)
             outs(%o : memref<?x?x?x96xbf16, strided<[?, ?, ?, 1]>>)
             {layout = #attn.layout<strided>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @sdpa_f32_no_mask
// CHECK: attn.sdpa ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x1xf32>, memref<?x?x?x1xf32>, memref<?x?x?x1xf32>) outs(%{{.*}} : memref<?x?x?x1xf32>) {layout = #attn.layout<bshd>, num_heads = 2 : i64, num_kv_heads = 1 : i64}
func.func @sdpa_f32_no_mask(%q: memref<?x?x?x1xf32>, %o: memref<?x?x?x1xf32>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x1xf32>, memref<?x?x?x1xf32>, memref<?x?x?x1xf32>)
            outs(%o : memref<?x?x?x1xf32>)
            {layout = #attn.layout<bshd>, num_heads = 2 : i64, num_kv_heads = 1 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @sdpa_bool_mask_dropout
// CHECK: attn.sdpa ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>) mask(%{{.*}} : memref<?x?xi1>) outs(%{{.*}} : memref<?x?x?x80xf16>) {dropout, layout = #attn.layout<bhsd>, num_heads = 16 : i64, num_kv_heads = 16 : i64}
func.func @sdpa_bool_mask_dropout(%q: memref<?x?x?x80xf16>, %m: memref<?x?xi1>,
                                  %o: memref<?x?x?x80xf16>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>)
            mask(%m : memref<?x?xi1>) outs(%o : memref<?x?x?x80xf16>)
            {dropout, layout = #attn.layout<bhsd>, num_heads = 16 : i64,
             num_kv_heads = 16 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @sdpa_additive_mask_rank3_lse
// CHECK: attn.sdpa ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) mask(%{{.*}} : memref<?x?x?xbf16>) outs(%{{.*}} : memref<?x?x?x128xbf16>) lse(%{{.*}} : memref<?x?x?xf32>) {causal, config = #attn.config<block_m = 64, block_n = 64, warps = 4, stages = 3>, layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 2 : i64, softmax_scale = 5.000000e-01 : f32}
func.func @sdpa_additive_mask_rank3_lse(%q: memref<?x?x?x128xbf16>, %m: memref<?x?x?xbf16>,
                                        %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
            mask(%m : memref<?x?x?xbf16>) outs(%o : memref<?x?x?x128xbf16>)
            lse(%lse : memref<?x?x?xf32>)
            {causal, softmax_scale = 0.5 : f32, layout = #attn.layout<bshd>, num_heads = 4 : i64,
             num_kv_heads = 2 : i64,
             config = #attn.config<block_m = 64, block_n = 64, warps = 4, stages = 3>}
  return
}

// -----

// A rank-4 additive mask broadcast over batch and heads, with strides.
// CHECK-LABEL: func.func @sdpa_f16_mask_rank4_broadcast
// CHECK: attn.sdpa ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<2x?x8x64xf16>, memref<2x?x8x64xf16>, memref<2x?x8x64xf16>) mask(%{{.*}} : memref<1x1x?x?xf16, strided<[?, ?, ?, 1]>>) outs(%{{.*}} : memref<2x?x8x64xf16>) {layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
func.func @sdpa_f16_mask_rank4_broadcast(%q: memref<2x?x8x64xf16>,
                                         %m: memref<1x1x?x?xf16, strided<[?, ?, ?, 1]>>) {
  attn.sdpa ins(%q, %q, %q : memref<2x?x8x64xf16>, memref<2x?x8x64xf16>, memref<2x?x8x64xf16>)
            mask(%m : memref<1x1x?x?xf16, strided<[?, ?, ?, 1]>>) outs(%q : memref<2x?x8x64xf16>)
            {layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

// -----

// Default granularity (per_thread), smooth_k (true) and pv_accum (fp32_fp32)
// are elided when printed.
// CHECK-LABEL: func.func @sage_defaults
// CHECK: attn.sage ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>) outs(%{{.*}} : memref<?x?x?x128xf16>) {layout = #attn.layout<bshd>, num_heads = 24 : i64, num_kv_heads = 24 : i64}
func.func @sage_defaults(%q: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>)
            outs(%o : memref<?x?x?x128xf16>)
            {granularity = #attn.granularity<per_thread>, smooth_k = true,
             pv_accum = #attn.pv_accum<fp32_fp32>, layout = #attn.layout<bshd>,
             num_heads = 24 : i64, num_kv_heads = 24 : i64}
  return
}

// -----

// CHECK-LABEL: func.func @sage_per_block
// CHECK: attn.sage ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>) outs(%{{.*}} : memref<?x?x?x64xbf16>) lse(%{{.*}} : memref<?x?x?xf32>) {causal, config = #attn.config<block_m = 128, block_n = 128, warps = 8, stages = 1>, granularity = #attn.granularity<per_block>, layout = #attn.layout<bhsd>, num_heads = 8 : i64, num_kv_heads = 1 : i64, pv_accum = #attn.pv_accum<fp32>, smooth_k = false, softmax_scale = 2.500000e-01 : f32}
func.func @sage_per_block(%q: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>,
                          %lse: memref<?x?x?xf32>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
            outs(%o : memref<?x?x?x64xbf16>) lse(%lse : memref<?x?x?xf32>)
            {causal, softmax_scale = 0.25 : f32, granularity = #attn.granularity<per_block>,
             smooth_k = false, pv_accum = #attn.pv_accum<fp32>, layout = #attn.layout<bhsd>,
             num_heads = 8 : i64, num_kv_heads = 1 : i64,
             config = #attn.config<block_m = 128, block_n = 128, warps = 8, stages = 1>}
  return
}

// -----

// CHECK-LABEL: func.func @sage_per_warp
// CHECK: attn.sage ins(%{{.*}}, %{{.*}}, %{{.*}} : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>) outs(%{{.*}} : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>) {granularity = #attn.granularity<per_warp>, layout = #attn.layout<strided>, num_heads = 4 : i64, num_kv_heads = 2 : i64}
func.func @sage_per_warp(%q: memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>) {
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>,
                             memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>,
                             memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>)
            outs(%q : memref<?x?x?x64xf16, strided<[?, ?, ?, 1]>>)
            {granularity = #attn.granularity<per_warp>, layout = #attn.layout<strided>,
             num_heads = 4 : i64, num_kv_heads = 2 : i64}
  return
}

// -----

// The target arch is a module attribute.
// CHECK: module attributes {attn.target = "sm_80"}
// CHECK-LABEL: func.func @with_target
// CHECK: attn.flash
module attributes {attn.target = "sm_80"} {
  func.func @with_target(%q: memref<?x?x?x32xf16>) {
    attn.flash ins(%q, %q, %q : memref<?x?x?x32xf16>, memref<?x?x?x32xf16>, memref<?x?x?x32xf16>)
               outs(%q : memref<?x?x?x32xf16>)
               {layout = #attn.layout<bshd>}
    return
  }
}

// -----

// CHECK: module attributes {attn.target = "sm_100a"}
// CHECK-LABEL: func.func @with_blackwell_target
module attributes {attn.target = "sm_100a"} {
  func.func @with_blackwell_target() {
    return
  }
}

// -----

// attn.lse_merge: partial outputs merged by their log-sum-exps.
// CHECK-LABEL: func.func @lse_merge_bshd_lse
// CHECK: attn.lse_merge ins(%{{.*}}, %{{.*}} : memref<?x?x?x?x128xf32>, memref<?x?x?x?xf32>) outs(%{{.*}} : memref<?x?x?x128xbf16>) lse(%{{.*}} : memref<?x?x?xf32>) {layout = #attn.layout<bshd>}
func.func @lse_merge_bshd_lse(%po: memref<?x?x?x?x128xf32>, %plse: memref<?x?x?x?xf32>,
                              %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xf32>, memref<?x?x?x?xf32>)
                 outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
                 {layout = #attn.layout<bshd>}
  return
}

// -----

// Partials in the output's element type, static dims that agree (bhsd).
// CHECK-LABEL: func.func @lse_merge_bhsd_static
// CHECK: attn.lse_merge ins(%{{.*}}, %{{.*}} : memref<4x2x8x?x64xf16>, memref<4x2x8x?xf32>) outs(%{{.*}} : memref<2x8x?x64xf16>) {layout = #attn.layout<bhsd>}
func.func @lse_merge_bhsd_static(%po: memref<4x2x8x?x64xf16>, %plse: memref<4x2x8x?xf32>,
                                 %o: memref<2x8x?x64xf16>) {
  attn.lse_merge ins(%po, %plse : memref<4x2x8x?x64xf16>, memref<4x2x8x?xf32>)
                 outs(%o : memref<2x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

// -----

// attn.gemm with and without a bias, static and dynamic dims, strided rows.
// CHECK-LABEL: func.func @gemm_bias
// CHECK: attn.gemm ins(%{{.*}}, %{{.*}} : memref<?x128xbf16>, memref<384x128xbf16>) bias(%{{.*}} : memref<384xbf16>) outs(%{{.*}} : memref<?x384xbf16>) {config = #attn.config<block_m = 128, block_n = 128, warps = 4, stages = 3>}
func.func @gemm_bias(%x: memref<?x128xbf16>, %w: memref<384x128xbf16>, %b: memref<384xbf16>,
                     %y: memref<?x384xbf16>) {
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>)
            bias(%b : memref<384xbf16>)
            outs(%y : memref<?x384xbf16>)
            {config = #attn.config<block_m = 128, block_n = 128, warps = 4, stages = 3>}
  return
}

// -----

// CHECK-LABEL: func.func @gemm_no_bias_strided
// CHECK: attn.gemm ins(%{{.*}}, %{{.*}} : memref<?x?xf32>, memref<?x?xf32>) outs(%{{.*}} : memref<?x128xf32, strided<[384, 1]>>)
// CHECK-NOT: bias(
func.func @gemm_no_bias_strided(%x: memref<?x?xf32>, %w: memref<?x?xf32>,
                                %y: memref<?x128xf32, strided<[384, 1]>>) {
  attn.gemm ins(%x, %w : memref<?x?xf32>, memref<?x?xf32>)
            outs(%y : memref<?x128xf32, strided<[384, 1]>>)
  return
}

// -----

// A bool mask whose true hides the key (the MultiHeadFlashAttention convention).
// CHECK-LABEL: func.func @sdpa_mask_true_hides
// CHECK: attn.sdpa {{.*}} mask(%{{.*}} : memref<?x?x?x?xi1>) {{.*}}mask_true_hides
func.func @sdpa_mask_true_hides(%q: memref<?x?x?x16xbf16>, %m: memref<?x?x?x?xi1>) {
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x16xbf16>, memref<?x?x?x16xbf16>, memref<?x?x?x16xbf16>)
            mask(%m : memref<?x?x?x?xi1>)
            outs(%q : memref<?x?x?x16xbf16>)
            {layout = #attn.layout<bshd>, mask_true_hides}
  return
}

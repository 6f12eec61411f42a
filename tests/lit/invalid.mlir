// RUN: attnjit-opt %s -split-input-file -verify-diagnostics

// Every verifier message of the attn dialect, pinned.

func.func @rank_q(%q: memref<?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x128xbf16>, %o: memref<?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op 'q' must be a rank-4 memref ([B, S, H, D] or [B, H, S, D]), got 'memref<?x?x128xbf16>'}}
  attn.flash ins(%q, %k, %v : memref<?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x128xbf16>) outs(%o : memref<?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @rank_out(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op 'out' must be a rank-4 memref ([B, S, H, D] or [B, H, S, D]), got 'memref<?x?x?x?x128xbf16>'}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @flash_f32(%q: memref<?x?x?x128xf32>, %k: memref<?x?x?x128xf32>, %v: memref<?x?x?x128xf32>, %o: memref<?x?x?x128xf32>) {
  // expected-error @+1 {{'attn.flash' op element type of 'q' must be f16 or bf16, got f32}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xf32>, memref<?x?x?x128xf32>, memref<?x?x?x128xf32>) outs(%o : memref<?x?x?x128xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @sage_f32(%q: memref<?x?x?x128xf32>, %k: memref<?x?x?x128xf32>, %v: memref<?x?x?x128xf32>, %o: memref<?x?x?x128xf32>) {
  // expected-error @+1 {{'attn.sage' op element type of 'q' must be f16 or bf16, got f32}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xf32>, memref<?x?x?x128xf32>, memref<?x?x?x128xf32>) outs(%o : memref<?x?x?x128xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @sdpa_f64(%q: memref<?x?x?x128xf64>, %k: memref<?x?x?x128xf64>, %v: memref<?x?x?x128xf64>, %o: memref<?x?x?x128xf64>) {
  // expected-error @+1 {{'attn.sdpa' op element type of 'q' must be f16, bf16 or f32, got f64}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x128xf64>, memref<?x?x?x128xf64>, memref<?x?x?x128xf64>) outs(%o : memref<?x?x?x128xf64>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @dtype_mismatch_k(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op element type of 'k' (f16) must equal element type of 'q' (bf16)}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @dtype_mismatch_out(%q: memref<?x?x?x64xf32>, %k: memref<?x?x?x64xf32>, %v: memref<?x?x?x64xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.sdpa' op element type of 'out' (f16) must equal element type of 'q' (f32)}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf32>, memref<?x?x?x64xf32>, memref<?x?x?x64xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @dynamic_head_dim(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x?xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op head_dim (last dim) of 'v' must be static, got ?}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x?xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @head_dim_mismatch_k(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x64xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op head_dim of 'k' (64) must equal head_dim of 'q' (128)}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @head_dim_mismatch_out(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x128xf16>) {
  // expected-error @+1 {{'attn.sage' op head_dim of 'out' (128) must equal head_dim of 'q' (64)}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) outs(%o : memref<?x?x?x128xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @flash_head_dim_100(%q: memref<?x?x?x100xbf16>, %k: memref<?x?x?x100xbf16>, %v: memref<?x?x?x100xbf16>, %o: memref<?x?x?x100xbf16>) {
  // expected-error @+1 {{'attn.flash' op head_dim must be one of 32, 64, 96, 128, 160, 192, 224, 256 for attn.flash, got 100}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x100xbf16>, memref<?x?x?x100xbf16>, memref<?x?x?x100xbf16>) outs(%o : memref<?x?x?x100xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @flash_head_dim_512(%q: memref<?x?x?x512xbf16>, %k: memref<?x?x?x512xbf16>, %v: memref<?x?x?x512xbf16>, %o: memref<?x?x?x512xbf16>) {
  // expected-error @+1 {{'attn.flash' op head_dim must be one of 32, 64, 96, 128, 160, 192, 224, 256 for attn.flash, got 512}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x512xbf16>, memref<?x?x?x512xbf16>, memref<?x?x?x512xbf16>) outs(%o : memref<?x?x?x512xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @sdpa_head_dim_0(%q: memref<?x?x?x0xf16>, %k: memref<?x?x?x0xf16>, %v: memref<?x?x?x0xf16>, %o: memref<?x?x?x0xf16>) {
  // expected-error @+1 {{'attn.sdpa' op head_dim must be in 1..256 for attn.sdpa, got 0}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x0xf16>, memref<?x?x?x0xf16>, memref<?x?x?x0xf16>) outs(%o : memref<?x?x?x0xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @sdpa_head_dim_1000(%q: memref<?x?x?x1000xf16>, %k: memref<?x?x?x1000xf16>, %v: memref<?x?x?x1000xf16>, %o: memref<?x?x?x1000xf16>) {
  // expected-error @+1 {{'attn.sdpa' op head_dim must be in 1..256 for attn.sdpa, got 1000}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x1000xf16>, memref<?x?x?x1000xf16>, memref<?x?x?x1000xf16>) outs(%o : memref<?x?x?x1000xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @sage_head_dim_80(%q: memref<?x?x?x80xf16>, %k: memref<?x?x?x80xf16>, %v: memref<?x?x?x80xf16>, %o: memref<?x?x?x80xf16>) {
  // expected-error @+1 {{'attn.sage' op head_dim must be one of 32, 64, 96, 128, 160, 192, 224, 256 for attn.sage, got 80}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>) outs(%o : memref<?x?x?x80xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @bshd_needs_identity(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op 'k' must have an identity layout for #attn.layout<bshd>, got strided<[?, ?, ?, 1]>}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @bhsd_needs_identity(%q: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, %o: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {
  // expected-error @+1 {{'attn.flash' op 'q' must have an identity layout for #attn.layout<bhsd>, got strided<[?, ?, ?, 1], offset: ?>}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) outs(%o : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1], offset: ?>>) {layout = #attn.layout<bhsd>}
  return
}

// -----

func.func @strided_needs_strided(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op 'q' must have a strided layout for #attn.layout<strided>, got identity}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<strided>}
  return
}

// -----

func.func @strided_unit_stride(%q: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %k: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %v: memref<?x?x?x128xbf16, strided<[?, ?, ?, 2]>>, %o: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>) {
  // expected-error @+1 {{'attn.flash' op last dim of 'v' must have stride 1, got 2}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 2]>>) outs(%o : memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>) {layout = #attn.layout<strided>}
  return
}

// -----

func.func @strided_dynamic_stride(%q: memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>, %k: memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, %v: memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>, %o: memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>) {
  // expected-error @+1 {{'attn.flash' op last dim of 'q' must have stride 1, got ?}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, 1]>>, memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>) outs(%o : memref<?x?x?x128xbf16, strided<[?, ?, ?, ?]>>) {layout = #attn.layout<strided>}
  return
}

// -----

func.func @num_heads_zero(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op num_heads must be > 0, got 0}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>, num_heads = 0 : i64, num_kv_heads = 1 : i64}
  return
}

// -----

func.func @num_kv_heads_negative(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op num_kv_heads must be > 0, got -2}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = -2 : i64}
  return
}

// -----

func.func @gqa_not_divisible(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op num_heads (32) must be a multiple of num_kv_heads (5)}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 5 : i64}
  return
}

// -----

func.func @q_heads_vs_num_heads(%q: memref<?x?x16x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x16x128xbf16>, %o: memref<?x?x16x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op dim 2 (heads) of 'q' (16) must equal num_heads (32)}}
  attn.flash ins(%q, %k, %v : memref<?x?x16x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x16x128xbf16>) outs(%o : memref<?x?x16x128xbf16>) {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 8 : i64}
  return
}

// -----

func.func @k_heads_vs_num_kv_heads_bhsd(%q: memref<?x?x?x128xbf16>, %k: memref<?x4x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.sage' op dim 1 (heads) of 'k' (4) must equal num_kv_heads (8)}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x4x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bhsd>, num_heads = 32 : i64, num_kv_heads = 8 : i64}
  return
}

// -----

func.func @batch_mismatch(%q: memref<2x?x?x128xbf16>, %k: memref<3x?x?x128xbf16>, %v: memref<2x?x?x128xbf16>, %o: memref<2x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op dim 0 (batch) of 'k' (3) must equal dim 0 of 'q' (2)}}
  attn.flash ins(%q, %k, %v : memref<2x?x?x128xbf16>, memref<3x?x?x128xbf16>, memref<2x?x?x128xbf16>) outs(%o : memref<2x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @seq_mismatch_v_k(%q: memref<?x?x?x128xbf16>, %k: memref<?x12x?x128xbf16>, %v: memref<?x10x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op dim 1 (seq) of 'v' (10) must equal dim 1 of 'k' (12)}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x12x?x128xbf16>, memref<?x10x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @seq_mismatch_out_q_bhsd(%q: memref<?x?x8x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x7x64xf16>) {
  // expected-error @+1 {{'attn.sdpa' op dim 2 (seq) of 'out' (7) must equal dim 2 of 'q' (8)}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x8x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x7x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

// -----

func.func @lse_rank(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>, %lse: memref<?x?xf32>) {
  // expected-error @+1 {{'attn.flash' op 'lse' must be a rank-3 memref of f32 ([B, H, Sq]), got 'memref<?x?xf32>'}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_type(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xbf16>) {
  // expected-error @+1 {{'attn.flash' op 'lse' must be a rank-3 memref of f32 ([B, H, Sq]), got 'memref<?x?x?xbf16>'}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xbf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_layout(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32, strided<[?, ?, 1]>>) {
  // expected-error @+1 {{'attn.flash' op 'lse' must have an identity (contiguous) layout, got strided<[?, ?, 1]>}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32, strided<[?, ?, 1]>>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_batch(%q: memref<2x?x?x128xbf16>, %k: memref<2x?x?x128xbf16>, %v: memref<2x?x?x128xbf16>, %o: memref<2x?x?x128xbf16>, %lse: memref<4x?x?xf32>) {
  // expected-error @+1 {{'attn.flash' op dim 0 (B) of 'lse' (4) must equal the batch of 'q' (2)}}
  attn.flash ins(%q, %k, %v : memref<2x?x?x128xbf16>, memref<2x?x?x128xbf16>, memref<2x?x?x128xbf16>) outs(%o : memref<2x?x?x128xbf16>) lse(%lse : memref<4x?x?xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_heads(%q: memref<?x?x?x128xf16>, %k: memref<?x?x?x128xf16>, %v: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>, %lse: memref<?x8x?xf32>) {
  // expected-error @+1 {{'attn.sage' op dim 1 (H) of 'lse' (8) must equal num_heads (32)}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>) outs(%o : memref<?x?x?x128xf16>) lse(%lse : memref<?x8x?xf32>) {layout = #attn.layout<bshd>, num_heads = 32 : i64, num_kv_heads = 32 : i64}
  return
}

// -----

func.func @lse_seq(%q: memref<?x6x?x64xf16>, %k: memref<?x6x?x64xf16>, %v: memref<?x6x?x64xf16>, %o: memref<?x6x?x64xf16>, %lse: memref<?x?x5xf32>) {
  // expected-error @+1 {{'attn.sdpa' op dim 2 (Sq) of 'lse' (5) must equal the sequence length of 'q' (6)}}
  attn.sdpa ins(%q, %k, %v : memref<?x6x?x64xf16>, memref<?x6x?x64xf16>, memref<?x6x?x64xf16>) outs(%o : memref<?x6x?x64xf16>) lse(%lse : memref<?x?x5xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @softmax_scale_negative(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op softmax_scale must be positive and finite, got -1.250000e-01}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>, softmax_scale = -0.125 : f32}
  return
}

// -----

func.func @softmax_scale_inf(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>, %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op softmax_scale must be positive and finite, got INF}}
  attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) outs(%o : memref<?x?x?x128xbf16>) {layout = #attn.layout<bshd>, softmax_scale = 0x7F800000 : f32}
  return
}

// -----

func.func @mask_element_type(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?xi8>) {
  // expected-error @+1 {{'attn.sdpa' op element type of 'mask' must be i1 (boolean mask) or f16 (additive mask, q's element type), got i8}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?xi8>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_float_other_than_input(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?xbf16>) {
  // expected-error @+1 {{'attn.sdpa' op element type of 'mask' must be i1 (boolean mask) or f16 (additive mask, q's element type), got bf16}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?xbf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_rank_1(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?xi1>) {
  // expected-error @+1 {{'attn.sdpa' op 'mask' must have rank 2 ([B, Sk]), 3 ([B, Sq, Sk]) or 4 ([B, H, Sq, Sk]), got rank 1}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?xi1>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_rank_5(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?x?x?x?xi1>) {
  // expected-error @+1 {{'attn.sdpa' op 'mask' must have rank 2 ([B, Sk]), 3 ([B, Sq, Sk]) or 4 ([B, H, Sq, Sk]), got rank 5}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?x?x?x?xi1>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_unit_stride(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?xi1, strided<[?, 4]>>) {
  // expected-error @+1 {{'attn.sdpa' op last dim of 'mask' must have stride 1, got 4}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?xi1, strided<[?, 4]>>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_batch(%q: memref<2x?x?x64xf16>, %k: memref<2x?x?x64xf16>, %v: memref<2x?x?x64xf16>, %o: memref<2x?x?x64xf16>, %m: memref<3x?xi1>) {
  // expected-error @+1 {{'attn.sdpa' op dim 0 (B) of 'mask' (3) must be 1 or equal the batch of 'q' (2)}}
  attn.sdpa ins(%q, %k, %v : memref<2x?x?x64xf16>, memref<2x?x?x64xf16>, memref<2x?x?x64xf16>) mask(%m : memref<3x?xi1>) outs(%o : memref<2x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_heads(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x4x?x?xi1>) {
  // expected-error @+1 {{'attn.sdpa' op dim 1 (H) of 'mask' (4) must be 1 or equal num_heads (8)}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x4x?x?xi1>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 8 : i64}
  return
}

// -----

func.func @mask_seq_q(%q: memref<?x8x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x8x?x64xf16>, %o: memref<?x8x?x64xf16>, %m: memref<?x9x?xf16>) {
  // expected-error @+1 {{'attn.sdpa' op dim 1 (Sq) of 'mask' (9) must be 1 or equal the sequence length of 'q' (8)}}
  attn.sdpa ins(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x?x?x64xf16>, memref<?x8x?x64xf16>) mask(%m : memref<?x9x?xf16>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_seq_k(%q: memref<?x?x?x64xf16>, %k: memref<?x?x16x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>, %m: memref<?x?x?x9xf16>) {
  // expected-error @+1 {{'attn.sdpa' op dim 3 (Sk) of 'mask' (9) must be 1 or equal the sequence length of 'k' (16)}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x16x64xf16>, memref<?x?x?x64xf16>) mask(%m : memref<?x?x?x9xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

// -----

// The drop probability is a run-time kernel argument; the op only says whether
// the kernel has dropout (the unit attribute `dropout`).
func.func @dropout_probability(%q: memref<?x?x?x64xf16>, %k: memref<?x?x?x64xf16>, %v: memref<?x?x?x64xf16>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.sdpa' op 'dropout_p' is not an attribute of attn.sdpa, got 1.000000e-01 : f32: the drop probability is a run-time argument of the kernel; mark dropout with the unit attribute 'dropout'}}
  attn.sdpa ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>, dropout_p = 0.1 : f32}
  return
}

// -----

// Without num_heads / num_kv_heads (dynamic head counts) the static heads dims
// of q and k define the counts the others must agree with.
func.func @heads_out_vs_q_without_attrs(%q: memref<?x?x8x64xf16>, %k: memref<?x?x2x64xf16>, %v: memref<?x?x2x64xf16>, %o: memref<?x?x4x64xf16>) {
  // expected-error @+1 {{'attn.flash' op dim 2 (heads) of 'out' (4) must equal dim 2 (heads) of 'q' (8)}}
  attn.flash ins(%q, %k, %v : memref<?x?x8x64xf16>, memref<?x?x2x64xf16>, memref<?x?x2x64xf16>) outs(%o : memref<?x?x4x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @heads_v_vs_k_without_attrs_bhsd(%q: memref<?x8x?x64xf16>, %k: memref<?x4x?x64xf16>, %v: memref<?x2x?x64xf16>, %o: memref<?x8x?x64xf16>) {
  // expected-error @+1 {{'attn.sdpa' op dim 1 (heads) of 'v' (2) must equal dim 1 (heads) of 'k' (4)}}
  attn.sdpa ins(%q, %k, %v : memref<?x8x?x64xf16>, memref<?x4x?x64xf16>, memref<?x2x?x64xf16>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

// -----

func.func @gqa_dims_not_divisible(%q: memref<?x?x12x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x12x64xf16>) {
  // expected-error @+1 {{'attn.flash' op dim 2 (heads) of 'q' (12) must be a multiple of dim 2 (heads) of 'k' (8)}}
  attn.flash ins(%q, %k, %v : memref<?x?x12x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x12x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @gqa_num_heads_vs_k_dim(%q: memref<?x?x?x64xf16>, %k: memref<?x?x8x64xf16>, %v: memref<?x?x8x64xf16>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.sage' op num_heads (12) must be a multiple of dim 2 (heads) of 'k' (8)}}
  attn.sage ins(%q, %k, %v : memref<?x?x?x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>, num_heads = 12 : i64}
  return
}

// -----

func.func @heads_dim_zero_without_attrs(%q: memref<?x?x?x64xf16>, %kv: memref<?x?x0x64xf16>) {
  // expected-error @+1 {{'attn.flash' op dim 2 (heads) of 'k' must be > 0, got 0}}
  attn.flash ins(%q, %kv, %kv : memref<?x?x?x64xf16>, memref<?x?x0x64xf16>, memref<?x?x0x64xf16>) outs(%q : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_heads_without_attrs(%q: memref<?x?x4x64xf16>, %o: memref<?x?x4x64xf16>, %lse: memref<?x8x?xf32>) {
  // expected-error @+1 {{'attn.flash' op dim 1 (H) of 'lse' (8) must equal dim 2 (heads) of 'q' (4)}}
  attn.flash ins(%q, %q, %q : memref<?x?x4x64xf16>, memref<?x?x4x64xf16>, memref<?x?x4x64xf16>) outs(%o : memref<?x?x4x64xf16>) lse(%lse : memref<?x8x?xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @mask_heads_without_attrs(%q: memref<?x?x8x64xf16>, %m: memref<?x4x?x?xi1>) {
  // expected-error @+1 {{'attn.sdpa' op dim 1 (H) of 'mask' (4) must be 1 or equal dim 2 (heads) of 'q' (8)}}
  attn.sdpa ins(%q, %q, %q : memref<?x?x8x64xf16>, memref<?x?x8x64xf16>, memref<?x?x8x64xf16>) mask(%m : memref<?x4x?x?xi1>) outs(%q : memref<?x?x8x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----
// Attribute verifiers run while parsing.
func.func @config_block_m_zero(%q: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%q : memref<?x?x?x128xbf16>)
             {layout = #attn.layout<bshd>,
              // expected-error @+1 {{#attn.config block_m must be in 1..1024, got 0}}
              config = #attn.config<block_m = 0, block_n = 64, warps = 8, stages = 2>}
  return
}

// -----

func.func @config_stages_negative(%q: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%q : memref<?x?x?x128xbf16>)
             {layout = #attn.layout<bshd>,
              // expected-error @+1 {{#attn.config stages must be in 1..1024, got -1}}
              config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = -1>}
  return
}

// -----

// 2^32 + 64 would truncate to 64 in the spec's 32-bit fields: refused.
func.func @config_block_m_huge(%q: memref<?x?x?x128xbf16>) {
  attn.flash ins(%q, %q, %q : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
             outs(%q : memref<?x?x?x128xbf16>)
             {layout = #attn.layout<bshd>,
              // expected-error @+1 {{#attn.config block_m must be in 1..1024, got 4294967360}}
              config = #attn.config<block_m = 4294967360, block_n = 64, warps = 8, stages = 2>}
  return
}

// -----

func.func @tensor_operand(%q: tensor<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
  // expected-error @+1 {{'attn.flash' op operand #0 must be memref (q, k, v or out), but got 'tensor<?x?x?x128xbf16>'}}
  "attn.flash"(%q, %o, %o, %o) <{layout = #attn.layout<bshd>}>
      : (tensor<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>) -> ()
  return
}

// -----

// attn.lse_merge: every verifier message.
func.func @lse_merge_strided(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op layout must be #attn.layout<bshd> or #attn.layout<bhsd>, got #attn.layout<strided>}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<strided>}
  return
}

// -----

func.func @lse_merge_out_rank(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op 'out' must be a rank-4 memref ([B, S, H, D] or [B, H, S, D]), got 'memref<?x?x64xf16>'}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_partial_out_rank(%po: memref<?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op 'partial_out' must be a rank-5 memref ([N, B, S, H, D] or [N, B, H, S, D]), got 'memref<?x?x?x64xf32>'}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_partial_lse_type(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf16>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op 'partial_lse' must be a rank-4 memref of f32 ([N, B, H, S]), got 'memref<?x?x?x?xf16>'}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf16>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_lse_rank(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>, %lse: memref<?x?xf32>) {
  // expected-error @+1 {{'attn.lse_merge' op 'lse' must be a rank-3 memref of f32 ([B, H, Sq]), got 'memref<?x?xf32>'}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) lse(%lse : memref<?x?xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_out_type(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xi8>) {
  // expected-error @+1 {{'attn.lse_merge' op element type of 'out' must be f16, bf16 or f32, got i8}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xi8>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_partial_type(%po: memref<?x?x?x?x64xbf16>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op element type of 'partial_out' must be f32 or the element type of 'out' (f16), got bf16}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xbf16>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_layout(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32, strided<[?, ?, ?, 1]>>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op 'partial_lse' must have an identity (contiguous) layout, got strided<[?, ?, ?, 1]>}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32, strided<[?, ?, ?, 1]>>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_dynamic_head_dim(%po: memref<?x?x?x?x?xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x?xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op head_dim (last dim) of 'out' must be static, got ?}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x?xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x?xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_head_dim(%po: memref<?x?x?x?x128xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op dim 4 (D) of 'partial_out' (128) must equal dim 3 of 'out' (64)}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_bhsd_heads(%po: memref<?x?x4x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x8x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op dim 2 (H) of 'partial_out' (4) must equal dim 1 of 'out' (8)}}
  attn.lse_merge ins(%po, %plse : memref<?x?x4x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x8x?x64xf16>) {layout = #attn.layout<bhsd>}
  return
}

// -----

func.func @lse_merge_partials_count(%po: memref<2x?x?x?x64xf32>, %plse: memref<3x?x?x?xf32>, %o: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op dim 0 (N) of 'partial_lse' (3) must equal dim 0 of 'partial_out' (2)}}
  attn.lse_merge ins(%po, %plse : memref<2x?x?x?x64xf32>, memref<3x?x?x?xf32>) outs(%o : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_partial_lse_seq(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x5xf32>, %o: memref<?x6x?x64xf16>) {
  // expected-error @+1 {{'attn.lse_merge' op dim 3 (S) of 'partial_lse' (5) must equal dim 1 of 'out' (6)}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x5xf32>) outs(%o : memref<?x6x?x64xf16>) {layout = #attn.layout<bshd>}
  return
}

// -----

func.func @lse_merge_lse_heads(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>, %o: memref<?x?x8x64xf16>, %lse: memref<?x4x?xf32>) {
  // expected-error @+1 {{'attn.lse_merge' op dim 1 (H) of 'lse' (4) must equal dim 2 of 'out' (8)}}
  attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>) outs(%o : memref<?x?x8x64xf16>) lse(%lse : memref<?x4x?xf32>) {layout = #attn.layout<bshd>}
  return
}

// -----

// attn.target: the module attribute naming the arch.

// expected-error @+1 {{'attn.target': attnjit kernels need sm_80 or newer, got 'sm_75'}}
module attributes {attn.target = "sm_75"} {
}

// -----

// expected-error @+1 {{'attn.target': expected sm_<NN>[a] (e.g. sm_80, sm_90a), got 'gfx942'}}
module attributes {attn.target = "gfx942"} {
}

// -----

// The verifier uses the spec's own arch check: what it accepts, the lowering
// accepts (a family-specific "f" arch is no target of attnjit's kernels).
// expected-error @+1 {{'attn.target': expected sm_<NN>[a] (e.g. sm_80, sm_90a), got 'sm_100f'}}
module attributes {attn.target = "sm_100f"} {
}

// -----

// expected-error @+1 {{'attn.target' must be a string such as "sm_90a", got 90 : i64}}
module attributes {attn.target = 90} {
}

// -----

// expected-error @+1 {{'attn.target' must be set on a builtin.module, found on 'func.func'}}
func.func @target_on_func() attributes {attn.target = "sm_90a"} {
  return
}

// -----

// expected-error @+1 {{unknown attn dialect attribute 'attn.arch'; expected 'attn.target'}}
module attributes {attn.arch = "sm_90a"} {
}

// -----

func.func @gemm_k_mismatch(%x: memref<?x128xbf16>, %w: memref<384x64xbf16>, %y: memref<?x384xbf16>) {
  // expected-error @+1 {{'attn.gemm' op dim 1 (K) of 'w' (64) must equal dim 1 of 'x' (128)}}
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x64xbf16>) outs(%y : memref<?x384xbf16>)
  return
}

// -----

func.func @gemm_n_mismatch(%x: memref<?x128xbf16>, %w: memref<384x128xbf16>, %y: memref<?x256xbf16>) {
  // expected-error @+1 {{'attn.gemm' op dim 1 (N) of 'y' (256) must equal dim 0 of 'w' (384)}}
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>) outs(%y : memref<?x256xbf16>)
  return
}

// -----

func.func @gemm_bias_n(%x: memref<?x128xbf16>, %w: memref<384x128xbf16>, %b: memref<128xbf16>,
                       %y: memref<?x384xbf16>) {
  // expected-error @+1 {{'attn.gemm' op dim 0 (N) of 'bias' (128) must equal dim 0 of 'w' (384)}}
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>) bias(%b : memref<128xbf16>)
            outs(%y : memref<?x384xbf16>)
  return
}

// -----

func.func @gemm_rank(%x: memref<?x?x128xbf16>, %w: memref<384x128xbf16>, %y: memref<?x384xbf16>) {
  // expected-error @+1 {{'attn.gemm' op 'x' must be a rank-2 memref ([M, K]), got 'memref<?x?x128xbf16>'}}
  attn.gemm ins(%x, %w : memref<?x?x128xbf16>, memref<384x128xbf16>) outs(%y : memref<?x384xbf16>)
  return
}

// -----

func.func @gemm_dtype(%x: memref<?x128xbf16>, %w: memref<384x128xf16>, %y: memref<?x384xbf16>) {
  // expected-error @+1 {{'attn.gemm' op element type of 'w' must equal that of 'x' (bf16), got f16}}
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xf16>) outs(%y : memref<?x384xbf16>)
  return
}

// -----

func.func @gemm_i8(%x: memref<?x128xi8>, %w: memref<384x128xi8>, %y: memref<?x384xi8>) {
  // expected-error @+1 {{'attn.gemm' op element type of 'x' must be f16, bf16 or f32, got i8}}
  attn.gemm ins(%x, %w : memref<?x128xi8>, memref<384x128xi8>) outs(%y : memref<?x384xi8>)
  return
}

// -----

func.func @gemm_column_stride(%x: memref<?x128xbf16>, %w: memref<384x128xbf16>,
                              %y: memref<?x384xbf16, strided<[768, 2]>>) {
  // expected-error @+1 {{'attn.gemm' op 'y' must have a contiguous last dim (stride 1), got layout strided<[768, 2]>}}
  attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>)
            outs(%y : memref<?x384xbf16, strided<[768, 2]>>)
  return
}

// -----

func.func @sdpa_hides_without_bool_mask(%q: memref<?x?x?x16xbf16>, %m: memref<?x?x?x?xbf16>) {
  // expected-error @+1 {{'attn.sdpa' op 'mask_true_hides' needs an i1 mask, got memref<?x?x?x?xbf16>}}
  attn.sdpa ins(%q, %q, %q : memref<?x?x?x16xbf16>, memref<?x?x?x16xbf16>, memref<?x?x?x16xbf16>)
            mask(%m : memref<?x?x?x?xbf16>)
            outs(%q : memref<?x?x?x16xbf16>)
            {layout = #attn.layout<bshd>, mask_true_hides}
  return
}

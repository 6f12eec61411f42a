// The splits that lower print their IR (checked by FileCheck); the ones that
// cannot fail the pass with the errors pinned by -verify-diagnostics.
// RUN: not attnjit-opt %s --attnjit-convert-attn-to-kernel --split-input-file 2>/dev/null | FileCheck %s
// RUN: attnjit-opt %s --attnjit-convert-attn-to-kernel --split-input-file --verify-diagnostics >/dev/null

// The flash op becomes a gpu.module holding its kernel; the host function keeps
// a reference to it.
// CHECK: module attributes {attn.target = "sm_80", gpu.container_module}
// CHECK-LABEL: func.func @flash_d64
// CHECK-SAME: attnjit.kernels = [@attnjit_flash_d64_causal_bf16_sm80_gpu::@attnjit_flash_d64_causal_bf16_sm80]
// CHECK-NOT: attn.flash
// CHECK: gpu.module @attnjit_flash_d64_causal_bf16_sm80_gpu
// CHECK: llvm.mlir.global external @attnjit_flash_d64_causal_bf16_sm80_smem() {addr_space = 3 : i32
// CHECK: gpu.func @attnjit_flash_d64_causal_bf16_sm80(%{{.*}}: !llvm.ptr<1>
// CHECK-SAME: kernel
// CHECK-SAME: nvvm.maxntid = array<i32: 128, 1, 1>
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.for
// CHECK: nvvm.ldmatrix
// CHECK: nvvm.mma.sync
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: nvvm.shfl.sync bfly
module attributes {attn.target = "sm_80"} {
  func.func @flash_d64(%q: memref<?x?x?x64xbf16>, %k: memref<?x?x?x64xbf16>,
                       %v: memref<?x?x?x64xbf16>, %o: memref<?x?x?x64xbf16>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>, memref<?x?x?x64xbf16>)
               outs(%o : memref<?x?x?x64xbf16>)
               {causal, layout = #attn.layout<bshd>, num_heads = 8 : i64, num_kv_heads = 2 : i64}
    return
  }
}

// -----

// A config attribute is honoured: 8 warps -> 256 threads, and lse is written
// (sm_80: the sm_80 recipe; sm_90a takes the sm_90a recipe, below).
// CHECK-LABEL: func.func @flash_d128_config
// CHECK-SAME: attnjit.kernels = [@attnjit_flash_d128_f16_lse_sm80_gpu::@attnjit_flash_d128_f16_lse_sm80]
// CHECK: gpu.func @attnjit_flash_d128_f16_lse_sm80
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// CHECK: nvvm.mma.sync
// CHECK-SAME: f16
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
module attributes {attn.target = "sm_80"} {
  func.func @flash_d128_config(%q: memref<?x?x?x128xf16>, %k: memref<?x?x?x128xf16>,
                               %v: memref<?x?x?x128xf16>, %o: memref<?x?x?x128xf16>,
                               %lse: memref<?x?x?xf32>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x128xf16>, memref<?x?x?x128xf16>, memref<?x?x?x128xf16>)
               outs(%o : memref<?x?x?x128xf16>) lse(%lse : memref<?x?x?xf32>)
               {config = #attn.config<block_m = 128, block_n = 64, warps = 8, stages = 2>,
                layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 4 : i64}
    return
  }
}

// -----

// On sm_90a flash takes the sm_90a recipe: 3 warpgroups, q/k/v tensor maps
// after the flash parameters, TMA loads completing on mbarriers, setmaxnreg
// and wgmma (S from shared memory; P V with P in registers, inline PTX).
// CHECK-LABEL: func.func @flash_d128_sm90a
// CHECK: gpu.func @attnjit_flash_d128_causal_bf16_sm90a
// CHECK-SAME: %arg22: !llvm.ptr, %arg23: !llvm.ptr, %arg24: !llvm.ptr, %arg25: i32) kernel
// CHECK-SAME: attnjit.tensor_map_args = array<i32: 22, 23, 24>
// CHECK-SAME: nvvm.maxntid = array<i32: 384, 1, 1>
// CHECK: nvvm.mbarrier.init
// CHECK: nvvm.setmaxregister decrease 40
// CHECK: nvvm.cp.async.bulk.tensor.shared.cluster.global
// CHECK: nvvm.setmaxregister increase 232
// CHECK: nvvm.wgmma.mma_async
// CHECK: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16
module attributes {attn.target = "sm_90a"} {
  func.func @flash_d128_sm90a(%q: memref<?x?x?x128xbf16>, %k: memref<?x?x?x128xbf16>,
                              %v: memref<?x?x?x128xbf16>, %o: memref<?x?x?x128xbf16>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>, memref<?x?x?x128xbf16>)
               outs(%o : memref<?x?x?x128xbf16>)
               {causal, layout = #attn.layout<bshd>, num_heads = 4 : i64, num_kv_heads = 4 : i64}
    return
  }
}

// -----

// Ops with equal specs share one kernel module (no "redefinition of symbol"):
// two functions and two ops in one function all reference it, in op order.
// CHECK-LABEL: func.func @first
// CHECK-SAME: attnjit.kernels = [@attnjit_sdpa_d80_f16_maskbool_dropout_sm80_gpu::@attnjit_sdpa_d80_f16_maskbool_dropout_sm80]
// CHECK-LABEL: func.func @second_twice
// CHECK-SAME: attnjit.kernels = [@attnjit_sdpa_d80_f16_maskbool_dropout_sm80_gpu::@attnjit_sdpa_d80_f16_maskbool_dropout_sm80, @attnjit_sdpa_d80_f16_maskbool_dropout_sm80_gpu::@attnjit_sdpa_d80_f16_maskbool_dropout_sm80]
// CHECK-NOT: attn.sdpa
// CHECK: gpu.module @attnjit_sdpa_d80_f16_maskbool_dropout_sm80_gpu
// CHECK-NOT: gpu.module
// CHECK: // -----
module attributes {attn.target = "sm_80"} {
  func.func @first(%q: memref<?x?x?x80xf16>, %m: memref<?x?x?x?xi1>) {
    attn.sdpa ins(%q, %q, %q : memref<?x?x?x80xf16>, memref<?x?x?x80xf16>, memref<?x?x?x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x?x80xf16>)
              {dropout, layout = #attn.layout<bshd>}
    return
  }
  func.func @second_twice(%q: memref<?x?x8x80xf16>, %m: memref<?x?x?x?xi1>) {
    attn.sdpa ins(%q, %q, %q : memref<?x?x8x80xf16>, memref<?x?x8x80xf16>, memref<?x?x8x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x8x80xf16>)
              {dropout, layout = #attn.layout<bshd>, num_heads = 8 : i64}
    attn.sdpa ins(%q, %q, %q : memref<?x?x8x80xf16>, memref<?x?x8x80xf16>, memref<?x?x8x80xf16>)
              mask(%m : memref<?x?x?x?xi1>) outs(%q : memref<?x?x8x80xf16>)
              {dropout, layout = #attn.layout<bhsd>, softmax_scale = 0.5 : f32}
    return
  }
}

// -----

// Specs that differ only in their tiling have the same kernel name; their
// modules get distinct symbols.
// CHECK-LABEL: func.func @two_configs
// CHECK-SAME: attnjit.kernels = [@attnjit_flash_d64_bf16_sm80_gpu::@attnjit_flash_d64_bf16_sm80, @attnjit_flash_d64_bf16_sm80_gpu_1::@attnjit_flash_d64_bf16_sm80]
// CHECK: gpu.module @attnjit_flash_d64_bf16_sm80_gpu
// CHECK-SAME: {
// CHECK: gpu.func @attnjit_flash_d64_bf16_sm80(
// CHECK-SAME: nvvm.maxntid = array<i32: 128, 1, 1>
// CHECK: gpu.module @attnjit_flash_d64_bf16_sm80_gpu_1
// CHECK: gpu.func @attnjit_flash_d64_bf16_sm80(
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
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

// -----

// Any function-like parent carries the reference, a gpu.func too.
// CHECK-LABEL: gpu.func @in_gpu_func
// CHECK-SAME: attnjit.kernels = [@attnjit_flash_d32_f16_sm90a_gpu::@attnjit_flash_d32_f16_sm90a]
// CHECK-NOT: attn.flash
// CHECK: gpu.module @attnjit_flash_d32_f16_sm90a_gpu
module attributes {gpu.container_module} {
  gpu.module @device {
    gpu.func @in_gpu_func(%q: memref<?x?x?x32xf16>) {
      attn.flash ins(%q, %q, %q : memref<?x?x?x32xf16>, memref<?x?x?x32xf16>, memref<?x?x?x32xf16>)
                 outs(%q : memref<?x?x?x32xf16>) {layout = #attn.layout<bshd>}
      gpu.return
    }
  }
}

// -----

// Without a function there is nothing to carry the reference: an error, and
// the pass fails (no crash).
module {
  %m = memref.alloc() : memref<1x16x2x64xf16>
  // expected-error @+1 {{'attn.flash' op cannot be lowered to a kernel: it is not inside a function (an op with FunctionOpInterface) to carry the reference to its kernel}}
  attn.flash ins(%m, %m, %m : memref<1x16x2x64xf16>, memref<1x16x2x64xf16>, memref<1x16x2x64xf16>)
             outs(%m : memref<1x16x2x64xf16>) {layout = #attn.layout<bshd>}
}

// -----

// A spec no recipe builds: every such op gets its reason, not just the first.
// (Sage needs FP8 MMAs, which sm_80 lacks.)
module attributes {attn.target = "sm_80"} {
func.func @no_recipe(%q: memref<?x?x?x64xf16>) {
  // expected-error @+1 {{'attn.sage' op cannot be lowered to a kernel: arch: no sage recipe targets sm_80 with f16 (recipes: sage-sm80)}}
  attn.sage ins(%q, %q, %q : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
            outs(%q : memref<?x?x?x64xf16>) {layout = #attn.layout<bshd>}
  // expected-error @+1 {{'attn.flash' op cannot be lowered to a kernel: config: block_m (128) must be a multiple of 16 * warps (48)}}
  attn.flash ins(%q, %q, %q : memref<?x?x?x64xf16>, memref<?x?x?x64xf16>, memref<?x?x?x64xf16>)
             outs(%q : memref<?x?x?x64xf16>)
             {layout = #attn.layout<bshd>, config = #attn.config<block_m = 128, block_n = 64, warps = 3, stages = 2>}
  return
}
}

// -----

// attn.lse_merge lowers to the LSE-merge recipe's kernel: one warp per row,
// run-time loops over the parts (max, then the weighted sum), exp2/lg2 on the
// SFU, the merged lse stored by lane 0.
// CHECK-LABEL: func.func @lse_merge_d128
// CHECK-SAME: attnjit.kernels = [@attnjit_merge_d128_bf16_lse_sm90a_gpu::@attnjit_merge_d128_bf16_lse_sm90a]
// CHECK-NOT: attn.lse_merge
// CHECK: gpu.module @attnjit_merge_d128_bf16_lse_sm90a_gpu
// CHECK: gpu.func @attnjit_merge_d128_bf16_lse_sm90a(
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// CHECK: scf.for
// CHECK: llvm.intr.maxnum
// CHECK: scf.for
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
module attributes {attn.target = "sm_90a"} {
  func.func @lse_merge_d128(%po: memref<?x?x?x?x128xbf16>, %plse: memref<?x?x?x?xf32>,
                            %o: memref<?x?x?x128xbf16>, %lse: memref<?x?x?xf32>) {
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x128xbf16>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x128xbf16>) lse(%lse : memref<?x?x?xf32>)
                   {layout = #attn.layout<bshd>}
    return
  }
}

// -----

// A config the recipe cannot use is the op's error, naming the limit.
module attributes {attn.target = "sm_90a"} {
  func.func @lse_merge_bad_config(%po: memref<?x?x?x?x64xf16>, %plse: memref<?x?x?x?xf32>,
                                  %o: memref<?x?x?x64xf16>) {
    // expected-error @+1 {{'attn.lse_merge' op cannot be lowered to a kernel: config: merge kernels take one row per warp: block_m (16) must equal warps (4)}}
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf16>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x64xf16>)
                   {layout = #attn.layout<bshd>, config = #attn.config<block_m = 16, block_n = 1, warps = 4, stages = 1>}
    return
  }
}

// -----

// f32 partials with a bf16 output verify but the recipe reads partials in the
// output's type: an error, not a wrong kernel.
module attributes {attn.target = "sm_90a"} {
  func.func @lse_merge_mixed(%po: memref<?x?x?x?x64xf32>, %plse: memref<?x?x?x?xf32>,
                             %o: memref<?x?x?x64xbf16>) {
    // expected-error @+1 {{'attn.lse_merge' op cannot read a spec: the merge recipe reads 'partial_out' in the element type of 'out' ('bf16'), got 'f32'}}
    attn.lse_merge ins(%po, %plse : memref<?x?x?x?x64xf32>, memref<?x?x?x?xf32>)
                   outs(%o : memref<?x?x?x64xbf16>)
                   {layout = #attn.layout<bshd>}
    return
  }
}

// -----

// attn.gemm lowers to the GEMM recipe's kernel: a cp.async ring of 32-wide K
// slices, ldmatrix + mma.sync m16n8k16, the bias in the epilogue.
// CHECK-LABEL: func.func @gemm_bf16
// CHECK-SAME: attnjit.kernels = [@attnjit_gemm_d0_bf16_sm80_gpu::@attnjit_gemm_d0_bf16_sm80]
// CHECK-NOT: attn.gemm
// CHECK: gpu.module @attnjit_gemm_d0_bf16_sm80_gpu
// CHECK: gpu.func @attnjit_gemm_d0_bf16_sm80(
// CHECK-SAME: nvvm.maxntid = array<i32: 128, 1, 1>
// CHECK: nvvm.cp.async.shared.global
// CHECK: scf.for
// CHECK: nvvm.ldmatrix
// CHECK: nvvm.mma.sync
module attributes {attn.target = "sm_80"} {
  func.func @gemm_bf16(%x: memref<?x128xbf16>, %w: memref<384x128xbf16>, %b: memref<384xbf16>,
                       %y: memref<?x384xbf16>) {
    attn.gemm ins(%x, %w : memref<?x128xbf16>, memref<384x128xbf16>) bias(%b : memref<384xbf16>)
              outs(%y : memref<?x384xbf16>)
    return
  }
}

// -----

// f32: fp32 FMA tiles, no tensor-core instructions.
// CHECK-LABEL: func.func @gemm_f32
// CHECK: gpu.func @attnjit_gemm_d0_f32_sm80(
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// CHECK-NOT: nvvm.mma.sync
// CHECK: llvm.intr.fma
module attributes {attn.target = "sm_80"} {
  func.func @gemm_f32(%x: memref<?x?xf32>, %w: memref<?x?xf32>, %y: memref<?x?xf32>) {
    attn.gemm ins(%x, %w : memref<?x?xf32>, memref<?x?xf32>) outs(%y : memref<?x?xf32>)
    return
  }
}

// -----

module attributes {attn.target = "sm_80"} {
  func.func @gemm_bad_config(%x: memref<?x?xbf16>, %w: memref<?x?xbf16>, %y: memref<?x?xbf16>) {
    // expected-error @+1 {{'attn.gemm' op cannot be lowered to a kernel: config: gemm takes 2, 4 or 8 warps, got 3}}
    attn.gemm ins(%x, %w : memref<?x?xbf16>, memref<?x?xbf16>) outs(%y : memref<?x?xbf16>)
              {config = #attn.config<block_m = 96, block_n = 64, warps = 3, stages = 3>}
    return
  }
}

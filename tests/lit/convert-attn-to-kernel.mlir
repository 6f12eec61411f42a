// RUN: attnjit-opt %s --attnjit-convert-attn-to-kernel --split-input-file | FileCheck %s

// The flash op becomes a gpu.module holding its kernel; the host function keeps
// a reference to it.
// CHECK-LABEL: func.func @flash_d64
// CHECK-SAME: attnjit.kernel = @attnjit_flash_d64_causal_bf16_sm80_gpu::@attnjit_flash_d64_causal_bf16_sm80
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

// A config attribute is honoured: 8 warps -> 256 threads, and lse is written.
// CHECK-LABEL: func.func @flash_d128_config
// CHECK: gpu.func @attnjit_flash_d128_f16_lse_sm90a
// CHECK-SAME: nvvm.maxntid = array<i32: 256, 1, 1>
// CHECK: nvvm.mma.sync
// CHECK-SAME: f16
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.ftz.f"
module attributes {attn.target = "sm_90a"} {
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

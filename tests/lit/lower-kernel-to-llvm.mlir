// RUN: attnjit-opt %s --attnjit-convert-attn-to-kernel --attnjit-lower-kernel-to-llvm | FileCheck %s

// After lowering, the kernel is an llvm.func marked as a kernel with only
// llvm/nvvm ops left: no scf, arith or gpu ops.
// CHECK: gpu.module @attnjit_flash_d32_bf16_sm80_gpu
// CHECK: llvm.func @attnjit_flash_d32_bf16_sm80(
// CHECK-SAME: nvvm.kernel
// CHECK-SAME: nvvm.maxntid = array<i32: 128, 1, 1>
// CHECK-NOT: scf.
// CHECK-NOT: arith.
// CHECK-NOT: gpu.thread_id
// CHECK: nvvm.read.ptx.sreg.tid.x
// CHECK: nvvm.mma.sync
// CHECK: llvm.return
module attributes {attn.target = "sm_80"} {
  func.func @flash_d32(%q: memref<?x?x?x32xbf16>, %k: memref<?x?x?x32xbf16>,
                       %v: memref<?x?x?x32xbf16>, %o: memref<?x?x?x32xbf16>) {
    attn.flash ins(%q, %k, %v : memref<?x?x?x32xbf16>, memref<?x?x?x32xbf16>, memref<?x?x?x32xbf16>)
               outs(%o : memref<?x?x?x32xbf16>)
               {layout = #attn.layout<bshd>, num_heads = 1 : i64, num_kv_heads = 1 : i64}
    return
  }
}

// RUN: attnjit-opt %s --pass-pipeline='builtin.module(gpu.module(attnjit-mark-grid-constants))' --split-input-file --verify-diagnostics | FileCheck %s

// The listed arguments of an nvvm.kernel become by-value 128-byte tensor maps
// read in place; the list is removed.
// CHECK-LABEL: llvm.func @k
// CHECK-SAME: (%{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant}, %{{.*}}: i32, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// CHECK-NOT: attnjit.tensor_map_args
module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.func @k(%a: !llvm.ptr, %n: i32, %b: !llvm.ptr) attributes {attnjit.tensor_map_args = array<i32: 0, 2>, gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op lists tensor-map parameters ("attnjit.tensor_map_args") but is not an nvvm.kernel}}
    llvm.func @not_a_kernel(%a: !llvm.ptr) attributes {attnjit.tensor_map_args = array<i32: 0>} {
      llvm.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{'llvm.func' op "attnjit.tensor_map_args" names argument 1, which is not a pointer argument}}
    llvm.func @bad_index(%a: !llvm.ptr, %n: i32) attributes {attnjit.tensor_map_args = array<i32: 1>, nvvm.kernel} {
      llvm.return
    }
  }
}

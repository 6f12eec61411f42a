module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.func @k(%a: !llvm.ptr, %n: i32, %b: !llvm.ptr) attributes {attnjit.tensor_map_args = array<i32: 0, 2>, gpu.kernel, nvvm.kernel} {
      llvm.return
    }
  }
}

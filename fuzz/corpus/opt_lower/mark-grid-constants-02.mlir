module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.func @bad_index(%a: !llvm.ptr, %n: i32) attributes {attnjit.tensor_map_args = array<i32: 1>, nvvm.kernel} {
      llvm.return
    }
  }
}

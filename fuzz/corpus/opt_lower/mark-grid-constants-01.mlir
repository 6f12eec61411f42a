module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.func @not_a_kernel(%a: !llvm.ptr) attributes {attnjit.tensor_map_args = array<i32: 0>} {
      llvm.return
    }
  }
}

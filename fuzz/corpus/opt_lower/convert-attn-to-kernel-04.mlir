module attributes {gpu.container_module} {
  gpu.module @device {
    gpu.func @in_gpu_func(%q: memref<?x?x?x32xf16>) {
      attn.flash ins(%q, %q, %q : memref<?x?x?x32xf16>, memref<?x?x?x32xf16>, memref<?x?x?x32xf16>)
                 outs(%q : memref<?x?x?x32xf16>) {layout = #attn.layout<bshd>}
      gpu.return
    }
  }
}

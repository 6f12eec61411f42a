module attributes {attn.target = "sm_100a"} {
  func.func @with_blackwell_target() {
    return
  }
}

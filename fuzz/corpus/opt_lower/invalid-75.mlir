func.func @target_on_func() attributes {attn.target = "sm_90a"} {
  return
}

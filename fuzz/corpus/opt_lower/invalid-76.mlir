module attributes {attn.arch = "sm_90a"} {
}

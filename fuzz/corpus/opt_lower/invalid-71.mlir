module attributes {attn.target = "sm_75"} {
}

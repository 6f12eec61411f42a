module attributes {attn.target = "sm_100f"} {
}

module attributes {attn.target = "gfx942"} {
}

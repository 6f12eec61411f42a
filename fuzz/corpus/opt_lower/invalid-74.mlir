module attributes {attn.target = 90} {
}

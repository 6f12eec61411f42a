"""PyTorch's side of the MultiHeadFlashAttention comparison, for a same-run
comparison with `attnjit-layer-bench mha` and `attnjit-layer-bench gemm` on a
GPU host with PyTorch (torch only):
  python3 scripts/peer-mha.py [mha|gemm|all]
  python3 scripts/peer-mha.py export DIR
`export` writes DIR/mha_state.safetensors (the module's state_dict, float32) and
DIR/mha_io.safetensors (q, h, a key-padding mask with true = masked out, and the
module's output computed in float64) for `attnjit-layer-bench check DIR`, which
loads the state dict into attnjit's layer and compares its output.
The module below is written from the semantics of the RL4CO-style module
(issue 13): Linear projections, torch SDPA with the bool mask inverted (the
module's mask is true = masked out), W_out. bf16, eval mode, no grad; median of
CUDA-event timings. Shapes are those of attnjit-layer-bench's defaults."""
import json
import os
import struct
import sys
import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadFlashAttention(nn.Module):
    def __init__(self, n_heads, input_dim, embed_dim, val_dim=None, key_dim=None, bias=True,
                 attention_dropout=0.0, store_attn_weights=False, sdpa_fn=None):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = embed_dim // n_heads
        self.embed_dim = embed_dim
        self.attention_dropout = attention_dropout
        self.sdpa_fn = sdpa_fn or F.scaled_dot_product_attention
        self.W_query = nn.Linear(input_dim, embed_dim, bias=bias)
        self.W_key = nn.Linear(input_dim, embed_dim, bias=bias)
        self.W_val = nn.Linear(input_dim, embed_dim, bias=bias)
        self.W_out = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(self, q, h=None, mask=None):
        if h is None:
            h = q
        b, nq, _ = q.shape
        g = h.shape[1]
        split = lambda x, n: x.view(b, n, self.n_heads, self.head_dim).transpose(1, 2)
        Q, K, V = split(self.W_query(q), nq), split(self.W_key(h), g), split(self.W_val(h), g)
        attn_mask = None
        if mask is not None:  # true = masked out -> SDPA's true = attend
            m = mask
            if m.dim() == 2:
                m = m[:, None, None, :]
            elif m.dim() == 3:
                m = m[:, None, :, :]
            attn_mask = ~m
        out = self.sdpa_fn(Q, K, V, attn_mask=attn_mask,
                           dropout_p=self.attention_dropout if self.training else 0.0)
        return self.W_out(out.transpose(1, 2).reshape(b, nq, self.embed_dim))


def median_ms(fn, iters=50, warmup=10):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        a, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record(); fn(); e.record(); e.synchronize()
        times.append(a.elapsed_time(e))
    return sorted(times)[len(times) // 2]


def bench_mha():
    print(f"{'B,graph,n_query,embed,mask':32s} {'torch ms':>10s}")
    for e in (128, 256):
        for g in (100, 101):
            for nq in (g, 1):
                for maskname in ("none", "keypad", "dense"):
                    torch.manual_seed(0)
                    m = MultiHeadFlashAttention(8, 128, e).cuda().to(torch.bfloat16).eval()
                    b = 512
                    q = torch.randn(b, nq, 128, device="cuda", dtype=torch.bfloat16)
                    h = None if nq == g else torch.randn(b, g, 128, device="cuda",
                                                         dtype=torch.bfloat16)
                    mask = None
                    if maskname == "keypad":
                        bi = torch.arange(b, device="cuda")[:, None]
                        j = torch.arange(g, device="cuda")[None, :]
                        mask = (bi * 31 + j * 17) % 5 == 0
                    elif maskname == "dense":  # [B, n_query, graph]
                        bi = torch.arange(b, device="cuda")[:, None, None]
                        i = torch.arange(nq, device="cuda")[None, :, None]
                        j = torch.arange(g, device="cuda")[None, None, :]
                        mask = (bi + i * 13 + j * 7) % 5 == 0
                    with torch.no_grad():
                        ms = median_ms(lambda: m(q, h, mask))
                    print(f"{f'{b},{g},{nq},{e},{maskname}':32s} {ms:10.4f}")


def bench_gemm():
    print(f"{'M,N,K (bf16, bias)':22s} {'torch ms':>10s} {'TFLOP/s':>10s}")
    for mm, n, k in ((51200, 384, 128), (51200, 128, 128), (51200, 768, 128), (512, 128, 128),
                     (51200, 256, 256), (51200, 512, 128), (51200, 768, 256)):
        x = torch.randn(mm, k, device="cuda", dtype=torch.bfloat16)
        w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        bias = torch.randn(n, device="cuda", dtype=torch.bfloat16)
        ms = median_ms(lambda: F.linear(x, w, bias))
        print(f"{f'{mm},{n},{k}':22s} {ms:10.4f} {2 * mm * n * k / ms / 1e9:10.1f}")


def save_safetensors(path, tensors):
    """safetensors written by hand (torch only): 8-byte little-endian header
    length, JSON header, raw little-endian data."""
    names = {torch.float32: "F32", torch.bool: "BOOL"}
    header, blobs, at = {}, [], 0
    for key, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes() if t.dtype != torch.bool else t.to(torch.uint8).numpy().tobytes()
        header[key] = {"dtype": names[t.dtype], "shape": list(t.shape),
                       "data_offsets": [at, at + len(data)]}
        blobs.append(data)
        at += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def export(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(13)
    m = MultiHeadFlashAttention(8, 128, 128).eval()
    b, nq, g = 4, 20, 24
    q = torch.randn(b, nq, 128)
    h = torch.randn(b, g, 128)
    mask = torch.zeros(b, g, dtype=torch.bool)
    for bi in range(b):
        mask[bi, g - 3 * bi:] = True  # pad the last 3*b keys; no row fully masked
    with torch.no_grad():
        out = m.double()(q.double(), h.double(), mask).float()
    m.float()
    save_safetensors(os.path.join(out_dir, "mha_state.safetensors"), m.state_dict())
    save_safetensors(os.path.join(out_dir, "mha_io.safetensors"),
                     {"q": q, "h": h, "mask": mask, "out": out})
    print(f"exported a MultiHeadFlashAttention(8, 128, 128) state dict and its forward "
          f"on q {list(q.shape)}, h {list(h.shape)} to {out_dir}")


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what == "export":
        export(sys.argv[2])
        return
    print(torch.cuda.get_device_name(), "torch", torch.__version__)
    if what in ("mha", "all"):
        bench_mha()
    if what in ("gemm", "all"):
        bench_gemm()


if __name__ == "__main__":
    main()

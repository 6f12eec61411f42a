"""GPU tests of the attnjit package against a float64 reference (H200 host:
scripts/gpu-host-run.sh pytest). Skipped without torch or a CUDA device."""

import math

import pytest

torch = pytest.importorskip("torch")
if not torch.cuda.is_available():
    pytest.skip("no CUDA device (torch.cuda.is_available() is False)", allow_module_level=True)

import attnjit  # noqa: E402
from attnjit import fastvideo as fv  # noqa: E402
from reference import TOLERANCE, attention, bshd, rel_l2  # noqa: E402

pytestmark = pytest.mark.gpu
DEV = "cuda"
HEADS = [16, 64, 80, 128, 256]
FLASH_HEADS = set(attnjit.backend_info("FLASH_ATTN").head_sizes)
# (seqlen_q, seqlen_k) samples of 1..4097.
LENGTHS = [(1, 1), (1, 257), (63, 200), (200, 63), (256, 256), (1000, 1000), (4097, 4097)]


def rand(*shape, dtype=torch.bfloat16):
    return torch.randn(*shape, device=DEV, dtype=dtype)


def check_close(got, ref, dtype, what=""):
    err = rel_l2(got, ref)
    assert err <= TOLERANCE[dtype], f"{what}: relative L2 {err:.3e} > {TOLERANCE[dtype]:.0e}"


#===----------------------------------------------------------------------===#
# flash_attn_func
#===----------------------------------------------------------------------===#

@pytest.mark.parametrize("d", HEADS)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("sq,sk", LENGTHS)
def test_flash_attn_func(d, causal, sq, sk):
    torch.manual_seed(sq * 7 + sk + d)
    dtype = torch.bfloat16 if (sq + d) % 2 else torch.float16
    b, h = (2, 4) if sq * sk < 10**6 else (1, 2)
    q, k, v = rand(b, sq, h, d, dtype=dtype), rand(b, sk, h, d, dtype=dtype), rand(b, sk, h, d, dtype=dtype)
    if causal and d not in FLASH_HEADS and sq != sk:
        # Served by the SDPA kernels, whose causal alignment differs: refused.
        with pytest.raises(attnjit.InvalidArgumentError, match="seqlen_q == seqlen_k"):
            attnjit.flash_attn_func(q, k, v, causal=True)
        return
    out = attnjit.flash_attn_func(q, k, v, causal=causal)
    ref, _ = attention(bshd(q), bshd(k), bshd(v), causal="bottom_right" if causal else None)
    assert out.shape == q.shape and out.dtype == dtype
    check_close(out, bshd(ref), dtype, f"d={d} causal={causal} {sq}x{sk}")


@pytest.mark.parametrize("d", sorted(FLASH_HEADS & {64, 128, 256}))
@pytest.mark.parametrize("causal", [False, True])
def test_flash_attn_func_lse_gqa_scale(d, causal):
    torch.manual_seed(d)
    q, k, v = rand(2, 300, 8, d), rand(2, 513, 2, d), rand(2, 513, 2, d)
    out, lse, probs = attnjit.flash_attn_func(q, k, v, softmax_scale=0.3, causal=causal,
                                              return_attn_probs=True)
    assert probs is None and lse.shape == (2, 8, 300) and lse.dtype == torch.float32
    ref, ref_lse = attention(bshd(q), bshd(k), bshd(v), scale=0.3,
                             causal="bottom_right" if causal else None)
    check_close(out, bshd(ref), torch.bfloat16, "out")
    assert torch.allclose(lse.double(), ref_lse, atol=2e-3, rtol=1e-3)


def test_flash_attn_func_strided_inputs():
    # q, k, v as views of a packed qkv tensor: no copies, head dim contiguous.
    qkv = rand(2, 128, 3, 4, 64)
    q, k, v = qkv.unbind(dim=2)
    out = attnjit.flash_attn_func(q, k, v)
    ref, _ = attention(bshd(q), bshd(k), bshd(v))
    check_close(out, bshd(ref), torch.bfloat16)


#===----------------------------------------------------------------------===#
# scaled_dot_product_attention
#===----------------------------------------------------------------------===#

@pytest.mark.parametrize("d", HEADS)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
@pytest.mark.parametrize("sq,sk", [(1, 1), (63, 200), (1000, 1000), (4097, 4097)])
def test_sdpa_plain_and_causal(d, dtype, sq, sk):
    torch.manual_seed(d + sq)
    b, h = (2, 4) if sq * sk < 10**6 else (1, 2)
    q, k, v = rand(b, h, sq, d, dtype=dtype), rand(b, h, sk, d, dtype=dtype), rand(b, h, sk, d, dtype=dtype)
    for causal in (False, True):
        out = attnjit.scaled_dot_product_attention(q, k, v, is_causal=causal)
        ref, _ = attention(q, k, v, causal="top_left" if causal else None)
        check_close(out, ref, dtype, f"causal={causal}")


@pytest.mark.parametrize("d", HEADS)
def test_sdpa_masks_gqa_scale(d):
    torch.manual_seed(d)
    b, h, hkv, sq, sk = 2, 8, 2, 77, 301
    q, k, v = rand(b, h, sq, d), rand(b, hkv, sk, d), rand(b, hkv, sk, d)
    key_pad = torch.ones(b, 1, 1, sk, dtype=torch.bool, device=DEV)
    key_pad[0, ..., 250:] = False
    masks = {
        "bool [Sq, Sk]": torch.rand(sq, sk, device=DEV) > 0.3,
        "bool key padding [B, 1, 1, Sk]": key_pad,
        "additive [B, H, Sq, Sk]": rand(b, h, sq, sk),
        "additive [1, 1, Sq, Sk] with -inf": torch.where(
            torch.rand(sq, sk, device=DEV) > 0.5, 0.0, float("-inf")).to(torch.bfloat16)[None, None],
    }
    for name, mask in masks.items():
        out = attnjit.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2,
                                                   enable_gqa=True)
        ref, _ = attention(q, k, v, scale=0.2, mask=mask)
        check_close(out, ref, torch.bfloat16, name)
    with pytest.raises(attnjit.InvalidArgumentError, match="enable_gqa"):
        attnjit.scaled_dot_product_attention(q, k, v)


def test_sdpa_matches_torch_sdpa():
    # The reference's semantics are PyTorch's (checked once in float64).
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 4, 50, 64, device=DEV, dtype=torch.float64) for _ in range(3))
    mask = torch.rand(50, 50, device=DEV) > 0.2
    mask[:, 0] = True
    ours, _ = attention(q, k, v, mask=mask)
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(ours, theirs, atol=1e-10)
    ours, _ = attention(q, k, v, causal="top_left")
    theirs = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert torch.allclose(ours, theirs, atol=1e-10)


def test_sdpa_fully_masked_rows_are_zero():
    q, k, v = rand(1, 2, 16, 64), rand(1, 2, 32, 64), rand(1, 2, 32, 64)
    mask = torch.ones(16, 32, dtype=torch.bool, device=DEV)
    mask[3] = False
    out = attnjit.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.all(out[:, :, 3] == 0) and torch.isfinite(out).all()


def test_sdpa_dropout():
    torch.manual_seed(1)
    q = torch.zeros(1, 4, 512, 64, device=DEV, dtype=torch.bfloat16)  # uniform attention
    k = rand(1, 4, 1024, 64)
    v = torch.ones(1, 4, 1024, 64, device=DEV, dtype=torch.bfloat16)
    torch.manual_seed(5)
    a = attnjit.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    torch.manual_seed(5)
    b = attnjit.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    c = attnjit.scaled_dot_product_attention(q, k, v, dropout_p=0.25)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Kept probabilities are rescaled by 1/(1-p): the expectation stays 1.
    assert abs(a.double().mean().item() - 1.0) < 0.01
    assert a.double().std().item() > 0.01


#===----------------------------------------------------------------------===#
# sageattn, bad input
#===----------------------------------------------------------------------===#

def sage_cosine(got, ref):
    g, r = got.double().flatten(), ref.double().flatten()
    return float(torch.dot(g, r) / (g.norm() * r.norm()))


def test_sageattn():
    # Quantized (INT8 Q K^T, FP8 P V): held to the Sage bar, not flash's.
    q, k, v = rand(1, 2, 300, 128), rand(1, 2, 300, 128), rand(1, 2, 300, 128)
    out = attnjit.sageattn(q, k, v, tensor_layout="HND", is_causal=True, sm_scale=0.1)
    ref, _ = attention(q, k, v, causal="top_left", scale=0.1)
    assert sage_cosine(out, ref) >= 0.9995


def test_bad_input_raises_with_attnjit_message():
    q = rand(1, 64, 2, 64)
    cases = [
        ("q.device: expected a CUDA tensor", lambda: attnjit.flash_attn_func(q.cpu(), q, q)),
        ("k.dtype: expected bf16", lambda: attnjit.flash_attn_func(q, q.half(), q)),
        ("q: DLPack dtype: unsupported", lambda: attnjit.flash_attn_func(q.long(), q, q)),
        ("head_dim must be contiguous",
         lambda: attnjit.flash_attn_func(rand(1, 64, 2, 128)[..., ::2], q, q)),
        ("k.shape[3] (head_dim): expected 64",
         lambda: attnjit.flash_attn_func(q, rand(1, 64, 2, 32), q)),
        ("v.shape: expected",
         lambda: attnjit.scaled_dot_product_attention(bshd(q), bshd(q), rand(1, 2, 65, 64))),
        ("mask.dtype", lambda: attnjit.scaled_dot_product_attention(
            bshd(q), bshd(q), bshd(q), attn_mask=torch.zeros(64, 64, device=DEV))),
        ("expected a torch.Tensor", lambda: attnjit.flash_attn_func([1, 2], q, q)),
        ("dropout_p", lambda: attnjit.flash_attn_func(q, q, q, dropout_p=0.1)),
        # What the one-pack fast calls leave to the general path: the same messages.
        ("k.device: expected a CUDA tensor", lambda: attnjit.flash_attn_func(q, q.cpu(), q)),
        ("v.rank: expected 4", lambda: attnjit.flash_attn_func(q, q, q[0])),
        ("k: expected a torch.Tensor", lambda: attnjit.scaled_dot_product_attention(
            bshd(q), None, bshd(q))),
        ("expected Python numbers", lambda: attnjit.flash_attn_func(q, q, q, softmax_scale="x")),
        ("expected Python numbers", lambda: attnjit.scaled_dot_product_attention(
            bshd(q), bshd(q), bshd(q), scale="x")),
        ("out.dtype: expected bf16", lambda: attnjit._torch.flash_into(
            q, q, q, torch.empty_like(q, dtype=torch.float16), None, False, 0)),
        ("out.strides[3] (head_dim stride): expected 1", lambda: attnjit._torch.sdpa_into(
            q, q, q, rand(1, 64, 2, 128)[..., ::2], 0, None, 0.0, False, None)),
    ]
    for fragment, call in cases:
        with pytest.raises(attnjit.AttnjitError) as info:
            call()
        assert fragment in str(info.value), (fragment, str(info.value))


def test_fast_and_general_paths_agree():
    # Strided outputs (the fast call's explicit strides), views as inputs, and
    # GQA: the fast calls must match the general path (rank-5 views of the
    # same memory take it) bit for bit.
    from attnjit import _torch as at
    torch.manual_seed(3)
    q, k, v = rand(2, 100, 4, 64), rand(2, 77, 2, 64), rand(2, 77, 2, 64)
    want = attnjit.flash_attn_func(q, k, v, causal=True)
    buf = torch.empty(2, 4, 100, 64, device=DEV, dtype=torch.bfloat16)
    at.flash_into(q, k, v, buf.transpose(1, 2), None, True, 0)
    assert torch.equal(buf.transpose(1, 2), want)
    general = torch.empty_like(q)
    s = at.slots
    stream = at._fill_qkvo(s, q, k, v, general)
    at.launch_flash(s, s.qkvo, stream, attnjit._capi.LAYOUT_BSHD, True, None, 0)
    assert torch.equal(general, want)
    mask = torch.rand(100, 77, device=DEV) > 0.3
    mask[:, 0] = True
    sd = attnjit.scaled_dot_product_attention(bshd(q), bshd(k), bshd(v), attn_mask=mask,
                                              scale=0.25, enable_gqa=True)
    general = torch.empty_like(bshd(q))
    stream = at._fill_qkvo(s, bshd(q), bshd(k), bshd(v), general)
    at._sdpa_launch(s, stream, attnjit._capi.LAYOUT_BHSD, mask, 0.0, False, 0.25)
    assert torch.equal(general, sd)


def test_threads_use_their_own_slots():
    # Each thread describes its calls in its own memory: concurrent calls on
    # different shapes return what the same calls return one by one.
    import concurrent.futures
    torch.manual_seed(4)
    inputs = [(rand(1, 64 + 16 * i, 2, 64), rand(1, 80, 2, 64), rand(1, 80, 2, 64))
              for i in range(4)]
    want = [attnjit.flash_attn_func(*x) for x in inputs]
    torch.cuda.synchronize()

    def work(i):
        got = [attnjit.flash_attn_func(*inputs[i]) for _ in range(50)]
        torch.cuda.current_stream().synchronize()
        return all(torch.equal(g, want[i]) for g in got)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(4)))


def test_forward_only():
    q = rand(1, 64, 2, 64).requires_grad_()
    with pytest.raises(attnjit.UnsupportedError, match="forward only"):
        attnjit.flash_attn_func(q, q, q)
    with pytest.raises(attnjit.UnsupportedError, match="forward only"):
        attnjit.scaled_dot_product_attention(bshd(q), bshd(q), bshd(q))
    with torch.no_grad():
        out = attnjit.flash_attn_func(q, q, q)
    ref, _ = attention(bshd(q.detach()), bshd(q.detach()), bshd(q.detach()))
    check_close(out, bshd(ref), torch.bfloat16)


#===----------------------------------------------------------------------===#
# torch.compile, CUDA graphs
#===----------------------------------------------------------------------===#

def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    q, k, v = rand(2, 128, 4, 64), rand(2, 128, 4, 64), rand(2, 128, 4, 64)
    mask = torch.rand(128, 128, device=DEV) > 0.2
    mask[:, 0] = True

    def f(q, k, v):
        a = attnjit.flash_attn_func(q, k, v, causal=True)
        out, lse, _ = attnjit.flash_attn_func(q, k, v, return_attn_probs=True)
        c = attnjit.scaled_dot_product_attention(bshd(q), bshd(k), bshd(v), attn_mask=mask)
        return a * 2, out + 1, lse, bshd(c)

    compiled = torch.compile(f, fullgraph=True)
    got, want = compiled(q, k, v), f(q, k, v)
    for g, w in zip(got, want):
        assert torch.equal(g, w)

    sage = torch.compile(lambda q: attnjit.sageattn(q, q, q), fullgraph=True)
    assert torch.equal(sage(bshd(q)), attnjit.sageattn(bshd(q), bshd(q), bshd(q)))


def test_cuda_graph_capture():
    q, k, v = rand(2, 256, 4, 128), rand(2, 256, 4, 128), rand(2, 256, 4, 128)
    mask = torch.rand(2, 1, 1, 256, device=DEV) > 0.1
    mask[..., 0] = True

    def step():
        a = attnjit.flash_attn_func(q, k, v, causal=True)
        b = attnjit.scaled_dot_product_attention(bshd(q), bshd(k), bshd(v), attn_mask=mask)
        return a, b

    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        step()  # loads the kernels before capture
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static = step()
    for seed in (1, 2):
        torch.manual_seed(seed)
        q.copy_(torch.randn_like(q))
        k.copy_(torch.randn_like(k))
        graph.replay()
        torch.cuda.synchronize()
        eager = step()
        assert torch.equal(static[0], eager[0]) and torch.equal(static[1], eager[1])


#===----------------------------------------------------------------------===#
# FastVideo-style backends ([B, S, H, D])
#===----------------------------------------------------------------------===#

@pytest.mark.parametrize("d", [64, 80, 128])
def test_fastvideo_backends(d):
    torch.manual_seed(d)
    b, s, h = 2, 333, 4
    q, k, v = rand(b, s, h, d), rand(b, s, h, d), rand(b, s, h, d)
    builder = fv.AttnjitMetadataBuilder()
    builder.prepare()
    for backend in (fv.FlashAttnBackend, fv.SdpaBackend):
        if d not in backend.get_supported_head_sizes():
            continue
        impl = backend.get_impl_cls()(num_heads=h, head_size=d, softmax_scale=None, causal=True)
        md = builder.build(current_timestep=0)
        out = impl.forward(q, k, v, md)
        ref, _ = attention(bshd(q), bshd(k), bshd(v), causal="top_left")
        check_close(out, bshd(ref), torch.bfloat16, backend.get_name())
        buf = torch.empty_like(q)
        assert impl.forward(q, k, v, md, output=buf) is buf
        check_close(buf, bshd(ref), torch.bfloat16, backend.get_name() + " output buffer")

    # Key padding (tokenizer style, int64 [B, Sk]) on FLASH_ATTN and TORCH_SDPA.
    pad = torch.ones(b, s, dtype=torch.int64, device=DEV)
    pad[1, 200:] = 0
    ref, _ = attention(bshd(q), bshd(k), bshd(v), mask=pad.bool()[:, None, None, :])
    for backend in (fv.FlashAttnBackend, fv.SdpaBackend):
        if d not in backend.get_supported_head_sizes():
            continue
        impl = backend.get_impl_cls()(h, d, None, causal=False)
        out = impl.forward(q, k, v, builder.build(current_timestep=1, attn_mask=pad))
        check_close(out, bshd(ref), torch.bfloat16, backend.get_name() + " key padding")

    # GQA and the metadata's is_causal override on TORCH_SDPA.
    kg, vg = rand(b, s, 2, d), rand(b, s, 2, d)
    impl = fv.SdpaImpl(h, d, None, causal=False, num_kv_heads=2)
    out = impl.forward(q, kg, vg, builder.build(is_causal=True))
    ref, _ = attention(bshd(q), bshd(kg), bshd(vg), causal="top_left")
    check_close(out, bshd(ref), torch.bfloat16, "gqa")

    out = fv.SageAttnImpl(h, d, None).forward(q, k, v, builder.build())
    ref, _ = attention(bshd(q), bshd(k), bshd(v))
    assert sage_cosine(out, bshd(ref)) >= 0.9995


def test_fastvideo_hooks_run():
    class Scaled(fv.SdpaImpl):
        def preprocess_qkv(self, qkv, md):
            return qkv * 2

        def postprocess_output(self, out, md):
            return out + 1

    q = rand(1, 64, 2, 64)
    out = Scaled(2, 64, 1.0).forward(q, q, q, None)
    ref, _ = attention(bshd(q * 2), bshd(q * 2), bshd(q * 2), scale=1.0)
    check_close(out - 1, bshd(ref), torch.bfloat16)

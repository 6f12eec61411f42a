"""attnjit.fastvideo without fastvideo or a GPU: backend classes, metadata,
builder, impl arguments, and install() into a stand-in FastVideo lookup."""

import sys
import types

import pytest

import attnjit
from attnjit import fastvideo as fv


def test_backend_classes():
    assert fv.FlashAttnBackend.get_name() == "FLASH_ATTN"
    assert fv.SdpaBackend.get_name() == "TORCH_SDPA"
    assert fv.SageAttnBackend.get_name() == "SAGE_ATTN"
    for b in fv.BACKENDS.values():
        assert b.accept_output_buffer is True
        assert b.get_metadata_cls() is fv.AttnjitAttentionMetadata
        assert b.get_builder_cls() is fv.AttnjitMetadataBuilder
    assert fv.FlashAttnBackend.get_supported_head_sizes() == \
        list(attnjit.backend_info("FLASH_ATTN").head_sizes)
    assert 80 in fv.SdpaBackend.get_supported_head_sizes()
    assert fv.SageAttnBackend.get_supported_head_sizes() == list(range(32, 257, 32))
    assert fv.SdpaBackend.get_impl_cls() is fv.SdpaImpl


def test_metadata_and_builder():
    builder = fv.AttnjitMetadataBuilder()
    builder.prepare()
    mask = object()
    md = builder.build(current_timestep=3, attn_mask=mask, is_causal=True)
    assert md.asdict_zerocopy()["attn_mask"] is mask  # referenced, not copied
    assert md.asdict_zerocopy({"attn_mask"}) == {"current_timestep": 3, "is_causal": True}
    with pytest.raises(attnjit.InvalidArgumentError, match="unknown VSA_sparsity"):
        builder.build(current_timestep=0, VSA_sparsity=0.5)


def test_impl_arguments():
    impl = fv.SdpaImpl(num_heads=8, head_size=80, softmax_scale=0.1, causal=True,
                       num_kv_heads=2, prefix="blocks.0", dropout_p=0.1)
    assert (impl.num_heads, impl.num_kv_heads, impl.dropout, impl.prefix) == (8, 2, 0.1, "blocks.0")
    assert impl.preprocess_qkv("x", None) == "x" and impl.postprocess_output("y", None) == "y"
    with pytest.raises(attnjit.InvalidArgumentError, match="unknown extra argument"):
        fv.FlashAttnImpl(8, 64, None, dropout_p=0.1)
    assert fv.qualname("torch_sdpa") == "attnjit.fastvideo.SdpaBackend"


def test_install_without_fastvideo(monkeypatch):
    monkeypatch.setitem(sys.modules, "fastvideo", None)
    assert fv.install() is False


def test_install_into_fastvideo_lookup(monkeypatch):
    calls = []

    class Platform:
        def get_attn_backend_cls(self, selected_backend, head_size, dtype):
            calls.append(selected_backend)
            return "fastvideo.attention.backends.other.OtherBackend"

    class Enum:
        def __init__(self, name):
            self.name = name

    fake = types.ModuleType("fastvideo")
    platforms = types.ModuleType("fastvideo.platforms")
    platforms.current_platform = Platform()
    fake.platforms = platforms
    monkeypatch.setitem(sys.modules, "fastvideo", fake)
    monkeypatch.setitem(sys.modules, "fastvideo.platforms", platforms)
    monkeypatch.delenv("ATTNJIT_ATTENTION_BACKEND", raising=False)
    assert fv.install() is True
    assert fv.install() is True  # idempotent
    lookup = platforms.current_platform.get_attn_backend_cls
    assert lookup(Enum("FLASH_ATTN"), 64, "torch.bfloat16") == "attnjit.fastvideo.FlashAttnBackend"
    assert lookup(Enum("TORCH_SDPA"), 64, "torch.bfloat16") == "attnjit.fastvideo.SdpaBackend"
    assert lookup(Enum("SAGE_ATTN"), 64, "torch.bfloat16") == "attnjit.fastvideo.SageAttnBackend"
    assert lookup(None, 64, "torch.bfloat16") == "attnjit.fastvideo.FlashAttnBackend"
    assert lookup(None, 80, "torch.bfloat16") == "attnjit.fastvideo.SdpaBackend"
    assert lookup(Enum("VIDEO_SPARSE_ATTN"), 64, "torch.bfloat16").endswith("OtherBackend")
    assert [c.name for c in calls] == ["VIDEO_SPARSE_ATTN"]

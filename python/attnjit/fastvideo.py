"""attnjit as FastVideo attention backends.

Classes shaped like fastvideo.attention.backends.abstract (AttentionBackend,
AttentionImpl, AttentionMetadata, AttentionMetadataBuilder) for the names
FLASH_ATTN, TORCH_SDPA and SAGE_ATTN. They need neither fastvideo nor, until
forward() runs, torch. q, k and v are [B, S, H, D] as FastVideo's layers pass
them; every call runs the preprocess_qkv / postprocess_output hooks.

  FLASH_ATTN  flash kernels (head sizes from the C API's FLASH_ATTN backend);
              with metadata.attn_mask (key padding, [B, Sk], True/nonzero =
              attend) the per-key-mask SDPA kernels serve the call.
  TORCH_SDPA  attnjit's SDPA kernels directly on [B, S, H, D] (no transposes):
              masks as FastVideo normalizes them, GQA, dropout_p from the impl
              args, is_causal from the metadata when set.
  SAGE_ATTN   attnjit's SAGE_ATTN backend: UnsupportedError until Sage lands.

install() puts them into FastVideo's backend lookup when fastvideo imports.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Optional

from . import _api, _capi
from ._errors import invalid

#===----------------------------------------------------------------------===#
# Metadata and its builder
#===----------------------------------------------------------------------===#


@dataclass
class AttnjitAttentionMetadata:
    """FastVideo's AttentionMetadata plus the fields attnjit's backends read."""

    current_timestep: int = 0
    attn_mask: Any = None  # torch.Tensor or None
    is_causal: Optional[bool] = None

    def asdict_zerocopy(self, skip_fields: Optional[set] = None) -> dict:
        skip = skip_fields or set()
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


class AttnjitMetadataBuilder:
    _FIELDS = frozenset(f.name for f in fields(AttnjitAttentionMetadata))

    def __init__(self) -> None:
        pass

    def prepare(self) -> None:
        pass

    def build(self, **kwargs) -> AttnjitAttentionMetadata:
        unknown = sorted(set(kwargs) - self._FIELDS)
        if unknown:
            invalid(f"metadata: attnjit's backends take {', '.join(sorted(self._FIELDS))}; "
                    f"got unknown {', '.join(unknown)}")
        return AttnjitAttentionMetadata(**kwargs)


#===----------------------------------------------------------------------===#
# Impls
#===----------------------------------------------------------------------===#


class _AttnjitImpl:
    """FastVideo's AttentionImpl constructor and hooks."""

    _EXTRAS: frozenset = frozenset()

    def __init__(self, num_heads: int, head_size: int, softmax_scale: Optional[float] = None,
                 causal: bool = False, num_kv_heads: Optional[int] = None, prefix: str = "",
                 **extra_impl_args) -> None:
        unknown = sorted(set(extra_impl_args) - self._EXTRAS)
        if unknown:
            invalid(f"{type(self).__name__}: unknown extra argument(s) {', '.join(unknown)}"
                    f" (known: {', '.join(sorted(self._EXTRAS)) or 'none'})")
        self.num_heads = num_heads
        self.head_size = head_size
        self.softmax_scale = softmax_scale
        self.causal = causal
        self.num_kv_heads = num_kv_heads or num_heads
        self.prefix = prefix
        self.extra_impl_args = extra_impl_args

    def preprocess_qkv(self, qkv, attn_metadata):
        return qkv

    def postprocess_output(self, output, attn_metadata):
        return output

    def _check_shapes(self, query, key):
        if query.dim() != 4 or key.dim() != 4:
            invalid(f"{type(self).__name__}: expected q, k, v as [batch, seqlen, heads, head_dim], "
                    f"got ranks {query.dim()} and {key.dim()}")
        if query.shape[2] != self.num_heads or query.shape[3] != self.head_size:
            invalid(f"query.shape: expected [*, *, {self.num_heads}, {self.head_size}] (the "
                    f"impl's num_heads, head_size), got {list(query.shape)}")
        if key.shape[2] != self.num_kv_heads:
            invalid(f"key.shape[2] (num_kv_heads): expected {self.num_kv_heads} (the impl's), "
                    f"got {key.shape[2]}")

    def forward(self, query, key, value, attn_metadata=None, output=None):
        """Attention of [B, S, H, D] tensors; into `output` when given
        (accept_output_buffer), else into a new tensor."""
        query = self.preprocess_qkv(query, attn_metadata)
        key = self.preprocess_qkv(key, attn_metadata)
        value = self.preprocess_qkv(value, attn_metadata)
        self._check_shapes(query, key)
        from . import _torch

        _torch.forward_only(query, key, value)
        out = _torch._empty_like(query, "query") if output is None else output
        self._attend(query, key, value, attn_metadata, out)
        return self.postprocess_output(out, attn_metadata)

    def _attend(self, query, key, value, attn_metadata, out):
        raise NotImplementedError


def _key_padding(mask, key):
    """FastVideo's padding mask ([B, Sk], or shorter: front-padded as attend)
    as a bool [B, 1, 1, Sk] view whose query stride is 0, which selects the
    per-key mask kernels."""
    import torch

    if mask.dtype != torch.bool and not mask.dtype.is_floating_point:
        mask = mask != 0  # tokenizer masks are int64 0/1
    key_len = key.shape[1]
    if mask.shape[-1] > key_len:
        invalid(f"attn_mask.shape[-1]: expected at most {key_len} (seqlen_k), got {mask.shape[-1]}")
    if mask.shape[-1] < key_len:
        pad = True if mask.dtype == torch.bool else 0.0
        mask = torch.nn.functional.pad(mask, (key_len - mask.shape[-1], 0), value=pad)
    if mask.dim() == 2:
        return mask[:, None, None, :]
    if mask.dim() == 3:
        return mask[:, None, :, :]
    if mask.dim() == 4:
        return mask
    invalid(f"attn_mask.rank: expected 2 ([batch, seqlen_k]), 3 or 4, got {mask.dim()}")


class FlashAttnImpl(_AttnjitImpl):
    def _attend(self, query, key, value, attn_metadata, out):
        from . import _torch

        mask = getattr(attn_metadata, "attn_mask", None)
        if mask is None:
            _torch.flash_into(query, key, value, out, self.softmax_scale, self.causal, 0)
            return
        if self.causal and query.shape[1] != key.shape[1]:
            invalid("FLASH_ATTN with attn_mask runs the SDPA kernels, whose causal mask is "
                    "top-left aligned; causal needs seqlen_q == seqlen_k here "
                    f"(got {query.shape[1]} and {key.shape[1]})")
        _torch.sdpa_into(query, key, value, out, _capi.LAYOUT_BSHD, _key_padding(mask, key), 0.0,
                         self.causal, self.softmax_scale)


class SdpaImpl(_AttnjitImpl):
    _EXTRAS = frozenset({"dropout_p"})

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dropout = float(self.extra_impl_args.get("dropout_p", 0.0))

    def _attend(self, query, key, value, attn_metadata, out):
        from . import _torch

        mask = getattr(attn_metadata, "attn_mask", None)
        override = getattr(attn_metadata, "is_causal", None)
        causal = self.causal if override is None else bool(override)
        if mask is not None:
            mask = _key_padding(mask, key)
        _torch.sdpa_into(query, key, value, out, _capi.LAYOUT_BSHD, mask, self.dropout, causal,
                         self.softmax_scale)


class SageAttnImpl(_AttnjitImpl):
    def _attend(self, query, key, value, attn_metadata, out):
        from . import _torch

        _torch.sage_into(query, key, value, out, "NHD", self.causal, self.softmax_scale)


#===----------------------------------------------------------------------===#
# Backends
#===----------------------------------------------------------------------===#


class _AttnjitBackend:
    accept_output_buffer: bool = True
    _ATTNJIT_NAME = ""
    _NAME = ""
    _IMPL: type = _AttnjitImpl

    @classmethod
    def get_name(cls) -> str:
        return cls._NAME

    @classmethod
    def get_supported_head_sizes(cls) -> list:
        return list(_api.backend_info(cls._ATTNJIT_NAME).head_sizes)

    @classmethod
    def get_supported_dtypes(cls) -> tuple:
        import torch
        return tuple(getattr(torch, n) for n in _api.backend_info(cls._ATTNJIT_NAME).dtypes
                     if n in ("float16", "bfloat16", "float32"))

    @classmethod
    def get_impl_cls(cls) -> type:
        return cls._IMPL

    @staticmethod
    def get_metadata_cls() -> type:
        return AttnjitAttentionMetadata

    @staticmethod
    def get_builder_cls() -> type:
        return AttnjitMetadataBuilder


class FlashAttnBackend(_AttnjitBackend):
    _ATTNJIT_NAME = _NAME = "FLASH_ATTN"
    _IMPL = FlashAttnImpl


class SdpaBackend(_AttnjitBackend):
    _ATTNJIT_NAME, _NAME = "SDPA", "TORCH_SDPA"
    _IMPL = SdpaImpl


class SageAttnBackend(_AttnjitBackend):
    _ATTNJIT_NAME = _NAME = "SAGE_ATTN"
    _IMPL = SageAttnImpl


BACKENDS = {b.get_name(): b for b in (FlashAttnBackend, SdpaBackend, SageAttnBackend)}


def qualname(name: str) -> str:
    """The import path FastVideo's selector resolves for backend `name`."""
    backend = BACKENDS.get(name.upper())
    if backend is None:
        invalid(f"backend: expected one of {', '.join(BACKENDS)}, got {name!r}")
    return f"{__name__}.{backend.__name__}"


def install(automatic: bool = True) -> bool:
    """Registers the backends in FastVideo's lookup: its platform's
    get_attn_backend_cls answers FLASH_ATTN, TORCH_SDPA and SAGE_ATTN with
    these classes and, when `automatic`, the automatic choice too (attnjit's
    selector: FLASH_ATTN where it serves, else TORCH_SDPA). Other names go to
    FastVideo's own lookup. Returns False when fastvideo is not importable."""
    try:
        from fastvideo.platforms import current_platform
    except ImportError:
        return False
    original = current_platform.get_attn_backend_cls
    if getattr(original, "_attnjit_installed", False):
        return True

    def get_attn_backend_cls(selected_backend, head_size, dtype, *args, **kwargs):
        name = getattr(selected_backend, "name", selected_backend)
        if isinstance(name, str) and name.upper() in BACKENDS:
            return qualname(name)
        if selected_backend is None and automatic:
            dtype_name = str(dtype).replace("torch.", "")
            chosen = _api.select_backend(head_size, dtype_name).backend
            return qualname("TORCH_SDPA" if chosen == "SDPA" else chosen)
        return original(selected_backend, head_size, dtype, *args, **kwargs)

    get_attn_backend_cls._attnjit_installed = True
    current_platform.get_attn_backend_cls = get_attn_backend_cls
    try:  # FastVideo caches resolutions; drop those made before install()
        from fastvideo.attention import selector
        selector._cached_get_attn_backend.cache_clear()
    except (ImportError, AttributeError):
        pass
    return True

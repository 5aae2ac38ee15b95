"""The attention of packed rows, registered with transformers: per-segment SDPA, or FlexAttention.

Kernels (``load_model(..., packed_attention=...)``):

- ``"sdpa"`` -- :func:`ponder.train.packing.segment_attention`: one SDPA call per segment and branch; the
  tested reference.
- ``"flex"`` -- :func:`flex_attention_packed`: one FlexAttention call for the whole row, with a block mask
  built from the layout (a query sees a key when both are in the same segment, the key is not later, and
  the key is in the shared prompt or in the query's own response), so fully masked blocks are skipped and
  no ``[L, L]`` mask is materialised. Compiled on CUDA (the block-sparse kernel). On CPU, torch has no
  FlexAttention backward and its forward is the unfused reference computation: usable without
  gradients only (scoring), and not faster there.
- ``"auto"`` (the default) -- ``flex`` on CUDA, ``sdpa`` elsewhere.

Without a layout (``generate``, padded batches) every kernel is plain SDPA. flash-attn's varlen kernel is
not used: it cannot express a response that attends to a shared prompt placed before a sibling response.
"""

from __future__ import annotations

import functools

import torch

from ponder.train.packing import SegmentLayout, segment_attention

KERNELS = ("auto", "flex", "sdpa")
_NAMES = {"auto": "ponder_packed", "flex": "ponder_packed_flex", "sdpa": "ponder_packed_sdpa"}


def _token_ids(layout: SegmentLayout, length: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per token of the row: its segment (``-1`` for none) and its branch (0: the shared prefix)."""
    segment = torch.full((length,), -1, dtype=torch.int32)
    branch = torch.zeros(length, dtype=torch.int32)
    for i, seg in enumerate(layout.segments):
        off = seg.start + seg.prefix
        segment[seg.start : off + sum(seg.branches)] = i
        for j, n in enumerate(seg.branches):
            branch[off : off + n] = j + 1
            off += n
    return segment.to(device), branch.to(device)


def block_mask(layout: SegmentLayout, length: int, device):
    """The FlexAttention block mask of a packed row (built once per forward pass, shared by the layers)."""
    key = ("block_mask", length, str(device))
    if key not in layout.cache:
        from torch.nn.attention.flex_attention import create_block_mask

        segment, branch = _token_ids(layout, length, device)

        def mask_mod(b, h, q, kv):
            same = (segment[q] == segment[kv]) & (segment[q] >= 0)
            return same & (kv <= q) & ((branch[kv] == 0) | (branch[kv] == branch[q]))

        layout.cache[key] = create_block_mask(mask_mod, None, None, length, length, device=device)
    return layout.cache[key]


@functools.cache
def _compiled_flex():
    from torch.nn.attention.flex_attention import flex_attention

    return torch.compile(flex_attention)


def flex_attention_packed(module, query, key, value, layout: SegmentLayout, scaling: float | None):
    """``query`` ``[1, Hq, L, D]``, ``key``/``value`` ``[1, Hkv, L, D]`` -> ``[1, L, Hq, D]``."""
    from torch.nn.attention.flex_attention import flex_attention

    length = query.shape[2]
    run = _compiled_flex() if query.is_cuda else flex_attention
    out = run(
        query,
        key,
        value,
        block_mask=block_mask(layout, length, query.device),
        scale=scaling,
        enable_gqa=query.shape[1] != key.shape[1],
    )
    return out.transpose(1, 2).contiguous()


def _attention(kernel: str):
    def attention(
        module, query, key, value, attention_mask, dropout=0.0, scaling=None, ponder_layout=None, **kw
    ):
        use_flex = kernel == "flex" or (kernel == "auto" and query.is_cuda)
        training_dropout = dropout > 0 and module.training  # FlexAttention has no dropout
        if ponder_layout is None or not use_flex or training_dropout:
            return segment_attention(
                module, query, key, value, attention_mask, dropout, scaling, ponder_layout, **kw
            )
        return flex_attention_packed(module, query, key, value, ponder_layout, scaling), None

    return attention


def register_attention(kernel: str = "auto") -> str:
    """Register the packed attention ``kernel`` with transformers (idempotent); returns its name."""
    if kernel not in KERNELS:
        raise ValueError(f"packed attention kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    name = _NAMES[kernel]
    AttentionInterface.register(name, _attention(kernel))
    # Masks for unpacked calls (generate, padded batches) are built exactly as for SDPA.
    AttentionMaskInterface.register(name, sdpa_mask)
    return name

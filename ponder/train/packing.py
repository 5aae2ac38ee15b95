"""Padding-free packing with prompt sharing, and the attention that keeps packed sequences apart.

The unit of data is a :class:`PromptGroup`: one prompt and the responses that continue it (a preference
pair has two, an SFT example one, an RL group ``k``). Groups are packed end to end into one row of tokens
per micro-batch, with no padding:

* With prompt sharing, a group is laid out as ``prompt, response_1, response_2, ...`` and each response
  attends to the prompt and to itself only (the tree attention of "Accelerating Direct Preference
  Optimization with Prefix Sharing", arXiv 2410.20305). Positions restart per group and every response
  continues at ``len(prompt)``, so each response sees exactly the positions it would see alone.
* Without it, every ``prompt + response`` is its own segment.

Attention never crosses segments. Restarting ``position_ids`` is not enough for that (the model would still
attend across sequences), so :func:`segment_attention` runs one causal ``scaled_dot_product_attention`` per
segment, plus one masked call per extra response (queries of the response, keys of prompt + response). Its
cost is the sum of the squares of the segment lengths, never the square of the row length. Without a
layout (``generate``, padded batches) it is plain SDPA, so a model loaded with it behaves like
``attn_implementation="sdpa"``. :mod:`ponder.train.attention` registers it with transformers, next to a
FlexAttention kernel that does the same in one call where it runs (CUDA).

:func:`pad` builds the slow path -- each ``prompt + response`` a row of a right-padded batch -- that the
equivalence tests compare against.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PromptGroup:
    """A prompt and the responses that continue it.

    ``masks[i][t]`` says whether token ``t`` of response ``i`` is scored (default: all are): 0 (or False)
    leaves it out, ``k >= 1`` scores it as part of the response's ``k``-th sequence (True is 1). Multi-turn
    SFT scores every assistant turn as one sequence and leaves the user turns between them out; an RL
    dialogue is one response whose stage answers are sequences 1, 2, ... (each its own sample), the
    prompts between them context. Scored labels run 1, 1, ..., 2, 2, ... in order. Token ids are stored as
    compact ``array("i")`` (4 bytes a token rather than a Python int each), since a data set stays in memory.
    """

    prompt: Sequence[int]
    responses: tuple[Sequence[int], ...]
    masks: tuple[Sequence[bool], ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompt", array("i", self.prompt))
        object.__setattr__(self, "responses", tuple(array("i", r) for r in self.responses))
        if self.masks is not None:
            object.__setattr__(self, "masks", tuple(array("b", [int(x) for x in m]) for m in self.masks))
        if not self.prompt:
            raise ValueError(
                "a prompt group needs at least one prompt token (the first response token is "
                "predicted from it)"
            )
        if not self.responses or any(len(r) == 0 for r in self.responses):
            raise ValueError("a prompt group needs non-empty responses")
        if self.masks is not None and [len(m) for m in self.masks] != [len(r) for r in self.responses]:
            raise ValueError("masks must match the responses token for token")
        for m in self.masks or ():
            labels = [0, *(k for k in m if k)]  # so the first scored label must be 1
            if min(m) < 0 or any(b - a not in (0, 1) for a, b in zip(labels, labels[1:], strict=False)):
                raise ValueError("scored labels of a response must run 1, 1, ..., 2, 2, ... in order")

    def num_tokens(self, share_prompt: bool = True) -> int:
        """Tokens this group puts in a packed row."""
        r = sum(len(x) for x in self.responses)
        return len(self.prompt) + r if share_prompt else len(self.prompt) * len(self.responses) + r

    def scored(self, i: int) -> int:
        """Number of scored tokens of response ``i``."""
        return len(self.responses[i]) if self.masks is None else sum(1 for k in self.masks[i] if k)

    def sequences(self, i: int) -> int:
        """Number of scored sequences of response ``i`` (1 without labels above 1)."""
        return 1 if self.masks is None else max(1, max(self.masks[i], default=0))

    def split(self) -> list[PromptGroup]:
        """One group per response (no prompt sharing)."""
        return [
            PromptGroup(self.prompt, (r,), None if self.masks is None else (self.masks[i],))
            for i, r in enumerate(self.responses)
        ]


@dataclass
class Segment:
    """Rows ``start .. start + prefix + sum(branches)`` of a packed row: a prefix and its branches.

    ``masks[j]`` (for branch ``j >= 1``) is the boolean attention mask ``[len_j, prefix + len_j]`` of that
    branch's queries over the prefix keys followed by its own keys.
    """

    start: int
    prefix: int
    branches: list[int]
    masks: list[torch.Tensor | None] = field(default_factory=list)


@dataclass
class SegmentLayout:
    """How :func:`segment_attention` splits a packed row. Passed to the model as ``ponder_layout``.

    ``cache`` holds what every layer of one forward pass shares (a FlexAttention block mask).
    """

    segments: list[Segment]
    cache: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass
class TokenBatch:
    """One micro-batch: model inputs plus where the scored tokens are.

    Shapes: ``input_ids``/``position_ids`` ``[B, T]`` (packed: ``B = 1``); ``attention_mask`` ``[B, T]`` for
    padded batches, ``None`` when packed; the scored-token tensors ``[N]``: ``rows``/``predictors`` index the
    position whose logits predict the token, ``targets`` the token id, ``sequence`` which scored sequence
    the token belongs to (in group order: group 0's responses, each response's sequences in turn, then group
    1's, ...; a response is one sequence unless its mask numbers several). ``num_sequences`` is ``S`` and
    ``lengths`` ``[S]`` counts scored tokens per sequence.
    """

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    attention_mask: torch.Tensor | None
    layout: SegmentLayout | None
    rows: torch.Tensor
    predictors: torch.Tensor
    targets: torch.Tensor
    sequence: torch.Tensor
    lengths: torch.Tensor
    num_sequences: int
    num_tokens: int  # real (non-padding) tokens fed to the model

    def to(self, device: torch.device | str) -> TokenBatch:
        move = {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in vars(self).items()}
        if self.layout is not None:
            move["layout"] = SegmentLayout(
                [
                    Segment(
                        s.start, s.prefix, s.branches, [m if m is None else m.to(device) for m in s.masks]
                    )
                    for s in self.layout.segments
                ]
            )
        return TokenBatch(**move)


def _scored(group: PromptGroup, j: int) -> Iterator[tuple[int, int]]:
    """``(t, k)`` for every scored token ``t`` of response ``j``: ``k`` its sequence within the response, from 0."""
    mask = group.masks[j] if group.masks is not None else None
    for t in range(len(group.responses[j])):
        k = 1 if mask is None else mask[t]
        if k:
            yield t, k - 1


def pack(groups: Sequence[PromptGroup], *, share_prompt: bool = True) -> TokenBatch:
    """Pack groups into one row without padding (see the module docstring)."""
    ids: list[int] = []
    pos: list[int] = []
    segments: list[Segment] = []
    predictors: list[int] = []
    targets: list[int] = []
    sequence: list[int] = []
    lengths: list[int] = []
    seq = 0
    for group in groups:
        units = [group] if share_prompt else group.split()
        for unit in units:
            start = len(ids)
            p = len(unit.prompt)
            ids.extend(unit.prompt)
            pos.extend(range(p))
            seg = Segment(start=start, prefix=p, branches=[], masks=[])
            for j, resp in enumerate(unit.responses):
                off = len(ids)
                n = len(resp)
                ids.extend(resp)
                pos.extend(range(p, p + n))
                seg.branches.append(n)
                if j == 0:
                    seg.masks.append(None)
                else:
                    causal = torch.ones(n, n, dtype=torch.bool).tril_()
                    seg.masks.append(torch.cat([torch.ones(n, p, dtype=torch.bool), causal], dim=1))
                counts = [0] * unit.sequences(j)
                for t, k in _scored(unit, j):
                    # token t of the response is predicted by the previous token of its own sequence:
                    # the last prompt token for t == 0 (for every branch), else the previous response token
                    predictors.append(start + p - 1 if t == 0 else off + t - 1)
                    targets.append(resp[t])
                    sequence.append(seq + k)
                    counts[k] += 1
                lengths.extend(counts)
                seq += len(counts)
            segments.append(seg)
    n = len(predictors)
    return TokenBatch(
        input_ids=torch.tensor([ids], dtype=torch.long),
        position_ids=torch.tensor([pos], dtype=torch.long),
        attention_mask=None,
        layout=SegmentLayout(segments),
        rows=torch.zeros(n, dtype=torch.long),
        predictors=torch.tensor(predictors, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        sequence=torch.tensor(sequence, dtype=torch.long),
        lengths=torch.tensor(lengths, dtype=torch.long),
        num_sequences=seq,
        num_tokens=len(ids),
    )


def pad(groups: Sequence[PromptGroup], *, pad_id: int = 0) -> TokenBatch:
    """Each ``prompt + response`` as its own row of a right-padded batch (the path TRL takes)."""
    rows_ids: list[list[int]] = []
    predictors: list[int] = []
    rows: list[int] = []
    targets: list[int] = []
    sequence: list[int] = []
    lengths: list[int] = []
    for group in groups:
        for j, resp in enumerate(group.responses):
            r = len(rows_ids)
            p = len(group.prompt)
            rows_ids.append(list(group.prompt) + list(resp))
            counts = [0] * group.sequences(j)
            for t, k in _scored(group, j):
                rows.append(r)
                predictors.append(p + t - 1)
                targets.append(resp[t])
                sequence.append(len(lengths) + k)
                counts[k] += 1
            lengths.extend(counts)
    width = max(len(x) for x in rows_ids)
    input_ids = torch.full((len(rows_ids), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows_ids), width), dtype=torch.long)
    for i, x in enumerate(rows_ids):
        input_ids[i, : len(x)] = torch.tensor(x)
        attention[i, : len(x)] = 1
    return TokenBatch(
        input_ids=input_ids,
        position_ids=torch.arange(width).expand(len(rows_ids), width).clone(),
        attention_mask=attention,
        layout=None,
        rows=torch.tensor(rows, dtype=torch.long),
        predictors=torch.tensor(predictors, dtype=torch.long),
        targets=torch.tensor(targets, dtype=torch.long),
        sequence=torch.tensor(sequence, dtype=torch.long),
        lengths=torch.tensor(lengths, dtype=torch.long),
        num_sequences=len(lengths),
        num_tokens=int(attention.sum()),
    )


def plan_microbatches(
    groups: Sequence[PromptGroup],
    tokens_per_microbatch: int,
    *,
    share_prompt: bool = True,
    padded: bool = False,
) -> list[list[int]]:
    """Split groups (by index) into micro-batches of at most ``tokens_per_microbatch`` tokens.

    First-fit decreasing on the packed size (for padded batches: rows x longest row). A group larger than
    the budget gets a micro-batch of its own. The result depends only on the sizes, so every process
    computes the same plan. Indices inside a micro-batch keep their original order.
    """
    if tokens_per_microbatch <= 0:
        raise ValueError("tokens_per_microbatch must be positive")
    order = sorted(range(len(groups)), key=lambda i: (-groups[i].num_tokens(share_prompt), i))
    bins: list[list[int]] = []
    loads: list[int] = []
    widths: list[int] = []
    rows: list[int] = []
    for i in order:
        g = groups[i]
        if padded:
            w = max(len(g.prompt) + len(r) for r in g.responses)
            placed = False
            for b in range(len(bins)):
                if max(widths[b], w) * (rows[b] + len(g.responses)) <= tokens_per_microbatch:
                    bins[b].append(i)
                    widths[b] = max(widths[b], w)
                    rows[b] += len(g.responses)
                    placed = True
                    break
            if not placed:
                bins.append([i])
                widths.append(w)
                rows.append(len(g.responses))
            continue
        size = g.num_tokens(share_prompt)
        for b in range(len(bins)):
            if loads[b] + size <= tokens_per_microbatch:
                bins[b].append(i)
                loads[b] += size
                break
        else:
            bins.append([i])
            loads.append(size)
    return [sorted(b) for b in bins]


def segment_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    ponder_layout: SegmentLayout | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    """Attention over a packed row, segment by segment.

    ``query`` ``[1, Hq, L, D]``, ``key``/``value`` ``[1, Hkv, L, D]``; returns ``[1, L, Hq, D]`` like the
    transformers attention functions. Without ``ponder_layout`` this is transformers' SDPA attention.
    """
    if ponder_layout is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups = getattr(module, "num_key_value_groups", 1)
    dropout = dropout if module.training else 0.0
    outs = []
    for seg in ponder_layout.segments:
        s, p = seg.start, seg.prefix
        e = s + p + (seg.branches[0] if seg.branches else 0)
        outs.append(
            F.scaled_dot_product_attention(
                query[:, :, s:e],
                key[:, :, s:e],
                value[:, :, s:e],
                is_causal=True,
                scale=scaling,
                dropout_p=dropout,
                enable_gqa=groups > 1,
            )
        )
        off = e
        for n, mask in zip(seg.branches[1:], seg.masks[1:], strict=True):
            k = torch.cat([key[:, :, s : s + p], key[:, :, off : off + n]], dim=2)
            v = torch.cat([value[:, :, s : s + p], value[:, :, off : off + n]], dim=2)
            if groups > 1:
                k = k.repeat_interleave(groups, dim=1)
                v = v.repeat_interleave(groups, dim=1)
            outs.append(
                F.scaled_dot_product_attention(
                    query[:, :, off : off + n],
                    k,
                    v,
                    attn_mask=mask,
                    scale=scaling,
                    dropout_p=dropout,
                )
            )
            off += n
    return torch.cat(outs, dim=2).transpose(1, 2).contiguous(), None

"""From finished dialogues to training tensors: RL samples, token groups, per-sample token tensors.

Each stage of each dialogue is one RL sample: prompt = the dialogue before it (chat messages), response =
the stage's answer, one reward. Samples are encoded with the training convention of
:class:`ponder.train.encode.Encoder` (an answer cut by its budget is a prefix: no end-of-turn token). The
stages of one dialogue are laid out as one sequence when each stage's prompt tokens continue the previous
stage's prompt and answer (as a multi-stage environment's dialogue does): each answer is still its own
sample (a scored sequence of the response, :class:`PromptGroup` masks), but the dialogue is computed once
rather than once per stage -- the same tokens in the same positions, so the same log-probs. Dialogues with
the same first prompt share one :class:`PromptGroup` (a GRPO group's answers, all continuing one question),
so packing computes the shared prompt once.

Per-token quantities (old log-probs, values, advantages, returns) are kept per sample as 1-D tensors of the
sample's response length; :func:`padded` lays a micro-batch's flat ``[N]`` tensor out as ``[S, T]`` for the
losses of :mod:`ponder.losses.rl`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ponder.errors import InputError
from ponder.records import Message
from ponder.train.encode import Encoder, Where
from ponder.train.packing import PromptGroup, TokenBatch, pack, plan_microbatches


@dataclass
class RLSample:
    """One stage answer to train on. ``group``: GRPO group key (same problem slot, same stage)."""

    prompt: list[Message]
    response: str
    truncated: bool
    reward: float
    stage: str
    group: tuple[int, str]
    episode: int


def samples_from_envs(
    envs: Sequence, slots: Sequence[int], episodes: Sequence[int] | None = None
) -> list[RLSample]:
    """Every turn of every finished environment as a sample; ``slots[i]``: the problem slot of ``envs[i]``,
    ``episodes[i]`` its dialogue number in the step (default ``i``)."""
    out = []
    numbers = range(len(envs)) if episodes is None else episodes
    for e, env, slot in zip(numbers, envs, slots, strict=True):
        for turn, prompt in zip(env.turns, env.stage_prompts, strict=True):
            out.append(
                RLSample(
                    prompt=prompt,
                    response=turn["response"],
                    truncated=bool(turn["truncated"]),
                    reward=float(turn["reward"]),
                    stage=turn["stage"],
                    group=(slot, turn["stage"]),
                    episode=e,
                )
            )
    return out


@dataclass
class Encoded:
    """Samples as prompt groups: the scored sequences of ``groups[g]`` (response by response, each
    response's sequences in turn) are the answers of samples ``members[g]``, in that order.

    ``kept`` lists the sample indices that encoded (a response that renders to no tokens is dropped).
    """

    groups: list[PromptGroup]
    members: list[list[int]]
    lengths: dict[int, int]
    kept: list[int]


def encode_samples(encoder: Encoder, samples: Sequence[RLSample]) -> Encoded:
    where = Where("<rollout>")
    encoded: dict[int, tuple[list[int], list[int]]] = {}
    for i, s in enumerate(samples):
        try:
            g = encoder.encode(s.prompt, [s.response], where, ["response"], prefix=s.truncated)
        except InputError:
            continue  # e.g. an empty answer cut at once: nothing to score
        if g is not None:
            encoded[i] = (list(g.prompt), list(g.responses[0]))
    by_prompt: dict[tuple[int, ...], int] = {}
    groups: list[tuple[list[int], list[list[int]], list[list[int]]]] = []
    members: list[list[int]] = []
    for chain in _dialogues(samples, encoded):
        head = encoded[chain[0]][0]
        tokens: list[int] = []
        labels: list[int] = []
        for k, i in enumerate(chain, 1):
            prompt, response = encoded[i]
            context = prompt[len(head) + len(tokens) :]  # the prompt text since the previous answer
            tokens += context + response
            labels += [0] * len(context) + [k] * len(response)
        g = by_prompt.setdefault(tuple(head), len(groups))
        if g == len(groups):
            groups.append((head, [], []))
            members.append([])
        groups[g][1].append(tokens)
        groups[g][2].append(labels)
        members[g].extend(chain)
    lengths = {i: len(r) for i, (_, r) in encoded.items()}
    packed = [PromptGroup(p, tuple(r), tuple(m)) for p, r, m in groups]
    return Encoded(packed, members, lengths, sorted(lengths))


def _dialogues(
    samples: Sequence[RLSample], encoded: dict[int, tuple[list[int], list[int]]]
) -> list[list[int]]:
    """The encoded samples as chains, in sample order: a sample joins the chain of the previous sample of its
    episode when its prompt tokens begin with that chain's tokens so far (first prompt, answers and the
    prompts between them); otherwise it starts a chain."""
    chains: list[list[int]] = []
    open_chain: dict[int, tuple[int, list[int]]] = {}  # episode -> (chain index, its tokens so far)
    for i, (prompt, response) in encoded.items():
        episode = samples[i].episode
        c, seen = open_chain.get(episode, (-1, []))
        if c >= 0 and len(prompt) >= len(seen) and prompt[: len(seen)] == seen:
            chains[c].append(i)
        else:
            c = len(chains)
            chains.append([i])
        open_chain[episode] = (c, prompt + response)
    return chains


def microbatches(
    enc: Encoded, group_ids: Sequence[int], tokens_per_microbatch: int
) -> list[tuple[list[int], TokenBatch]]:
    """Packed micro-batches over the given groups: ``(sample ids in the batch's sequence order, batch)``."""
    chosen = [enc.groups[g] for g in group_ids]
    out = []
    for idx in plan_microbatches(chosen, tokens_per_microbatch):
        batch = pack([chosen[i] for i in idx])
        sids = [s for i in idx for s in enc.members[group_ids[i]]]
        out.append((sids, batch))
    return out


def split(flat: torch.Tensor, lengths: torch.Tensor) -> list[torch.Tensor]:
    """A flat ``[N]`` tensor cut into per-sequence pieces of ``lengths`` ``[S]``."""
    return list(torch.split(flat, lengths.tolist()))


def gather(per_sample: dict[int, torch.Tensor], sids: Sequence[int]) -> torch.Tensor:
    """The per-sample tensors of ``sids`` concatenated in order: a flat ``[N]`` tensor."""
    return torch.cat([per_sample[s] for s in sids])


def padded(flat: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``flat`` ``[N]`` (sequences one after another) as right-padded ``[S, T]`` and its mask; keeps gradients."""
    S = int(lengths.numel())
    T = int(lengths.max()) if S else 0
    rows = torch.repeat_interleave(torch.arange(S), lengths)
    starts = torch.cumsum(lengths, 0) - lengths
    cols = torch.arange(flat.numel()) - torch.repeat_interleave(starts, lengths)
    out = torch.zeros(S, T, dtype=flat.dtype, device=flat.device).index_put((rows, cols), flat)
    mask = torch.zeros(S, T, dtype=torch.bool)
    mask[rows, cols] = True
    return out, mask


def per_sample_no_grad(
    fn: Callable[[TokenBatch], torch.Tensor],
    enc: Encoded,
    tokens_per_microbatch: int,
    group_ids: Sequence[int] | None = None,
) -> dict[int, torch.Tensor]:
    """Run ``fn(batch) -> [N]`` without gradient over the samples of ``group_ids`` (default: all); the
    result cut per sample id."""
    out: dict[int, torch.Tensor] = {}
    groups = list(range(len(enc.groups))) if group_ids is None else list(group_ids)
    with torch.no_grad():
        for sids, batch in microbatches(enc, groups, tokens_per_microbatch):
            for s, piece in zip(sids, split(fn(batch).float(), batch.lengths), strict=True):
                out[s] = piece.detach()
    return out

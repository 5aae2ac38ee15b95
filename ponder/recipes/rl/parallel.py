"""An RL step on several processes (``torchrun``, data parallel): who rolls out what, and what is shared.

Every process holds the whole problem list and computes the same step plan (the step's problems, its
dialogues ``0..D-1``, their sampling seeds). Then:

- **rollout** -- process ``r`` of ``N`` runs the dialogues of problem slots ``r, r + N, ...`` (a GRPO group,
  the dialogues of one problem, stays on one process). Each dialogue samples with its own seed, so its text
  does not depend on which process or batch ran it. The Thinker task's trailing accuracy ``p`` is read by
  the Verification stage after every Fast Thinking answer of the step has updated it: after the fast round
  the processes exchange their fast outcomes and rebuild ``p`` in dialogue order, as one process would;
- **gather** -- every process receives every dialogue's training samples and episode, in dialogue order:
  advantages (PPO whitening over the step's tokens, GRPO groups), metrics and episodes are computed from
  the whole step, identically everywhere;
- **values** -- old log-probs, critic values and reference log-probs: each process computes a balanced
  share of the prompt groups, and the per-sample results are exchanged;
- **update** -- :func:`ponder.recipes.rl.update.update` splits each optimizer step's micro-batches.

In a one-process run every function here returns what the plain loop computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ponder.env.rewards import TrailingAccuracy
from ponder.recipes.rl.batch import Encoded, RLSample, per_sample_no_grad, samples_from_envs
from ponder.records import Episode
from ponder.train import distributed
from ponder.train.packing import TokenBatch


def my_dialogues(slots: Sequence[int], accelerator) -> list[int]:
    """The dialogue numbers (indices into ``slots``, the problem slot of each dialogue) this process runs."""
    world, rank = accelerator.num_processes, accelerator.process_index
    return [e for e, slot in enumerate(slots) if slot % world == rank]


def tracker_sync(accelerator, tracker: TrailingAccuracy, envs: Sequence, numbers: Sequence[int]):
    """An ``on_round`` callback for :func:`ponder.env.runner.run_episodes` that, after the fast round, sets
    ``tracker`` to what one process would hold: its state before the step plus every dialogue's fast
    outcome in dialogue order. ``None`` in a one-process run (nothing to share).

    Every process's first round is the fast one (each runs at least one dialogue), so each takes part in
    the exchange exactly once per step."""
    if accelerator.num_processes == 1:
        return None
    before = tracker.state_dict()

    def on_round(stage: str, _live: int) -> None:
        if stage != "fast":
            return
        mine = [
            (e, bool(env.turns[0]["correct"]) and not env.turns[0]["truncated"])
            for e, env in zip(numbers, envs, strict=True)
        ]
        every = sorted(x for part in distributed.gather_objects(accelerator, mine) for x in part)
        tracker.load_state_dict(before)
        tracker.update([ok for _, ok in every])

    return on_round


def gather_rollout(
    accelerator, envs: Sequence, episodes: Sequence[Episode], numbers: Sequence[int], slots: Sequence[int]
) -> tuple[list[RLSample], list[Episode]]:
    """Every dialogue's training samples and episode, in dialogue order, on every process.

    ``envs`` / ``episodes``: this process's finished dialogues, numbered ``numbers``; ``slots``: the problem
    slot of every dialogue of the step."""
    local = samples_from_envs(envs, [slots[e] for e in numbers], numbers)
    parts = distributed.gather_objects(accelerator, (list(numbers), local, list(episodes)))
    by_number: dict[int, Episode] = {}
    samples: list[RLSample] = []
    for nums, part_samples, part_episodes in parts:
        by_number.update(zip(nums, part_episodes, strict=True))
        samples += part_samples
    samples.sort(key=lambda s: s.episode)  # stable: a dialogue's stages stay in order
    return samples, [by_number[e] for e in sorted(by_number)]


def shared_no_grad(
    accelerator, fn: Callable[[TokenBatch], torch.Tensor], enc: Encoded, tokens_per_microbatch: int
) -> dict[int, torch.Tensor]:
    """:func:`~ponder.recipes.rl.batch.per_sample_no_grad` over all samples, each process computing a
    balanced share of the prompt groups; the per-sample tensors of every process on every process."""
    sizes = [g.num_tokens() for g in enc.groups]
    mine = distributed.assign(sizes, accelerator.num_processes)[accelerator.process_index]
    out = per_sample_no_grad(fn, enc, tokens_per_microbatch, group_ids=mine)
    if accelerator.num_processes == 1:
        return out
    merged: dict[int, torch.Tensor] = {}
    for part in distributed.gather_objects(accelerator, out):
        merged.update(part)
    return merged


def sum_ints(accelerator, value: int) -> int:
    """``value`` summed over processes."""
    return int(round(distributed.sum_across(accelerator, [float(value)])[0]))

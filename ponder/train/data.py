"""Training data: record readers for the SFT formats, data mixtures, and the order of examples per epoch.

SFT files may hold any one of these record kinds (detected from the first record; every record is then
checked against that kind, errors naming file, line and field):

- prompt-completion ``{prompt, completion}`` (TRL's format; text or message lists) -- loss on the completion;
- conversational ``{messages: [...]}`` -- loss on every assistant turn;
- ponder samples ``{id, prompt, responses[], finish_reasons[], ...}`` -- one example per response; a
  response cut at its token budget (``finish_reason == "length"``) is trained as a prefix, without the
  end-of-turn token;
- preference pairs ``{prompt, chosen, rejected}`` -- the chosen response.

A data mixture is a list of ``PATH[:RATIO]`` sources. Each epoch takes ``round(RATIO * len(PATH))`` records
of each file: all of them for 1.0, a fresh random subset for a ratio below 1 (redrawn every epoch), every
record ``k`` times plus a random subset for a ratio above 1 -- PFPO's replay of earlier pairs is
``--data new.jsonl:1.0 --data old.jsonl:0.5``. The epoch is then shuffled (seeded by ``seed`` and the epoch
number) unless ``shuffle`` is off, which keeps the files' order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder import record_fields as rf
from ponder.errors import ConfigError, InputError
from ponder.records import (
    Message,
    Pair,
    PromptLike,
    Record,
    Sample,
    iter_json_objects,
)

# --------------------------------------------------------------------------- SFT record kinds


@dataclass
class PromptCompletion(Record):
    """TRL's prompt-completion format: train on ``completion`` given ``prompt``."""

    prompt: PromptLike
    completion: PromptLike
    id: str | None = None
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {
        "prompt": (rf.text_or_messages, True),
        "completion": (rf.text_or_messages, True),
        "id": (rf.record_id, False),
    }


@dataclass
class Conversation(Record):
    """TRL's conversational format: train on every assistant message of ``messages``."""

    messages: list[Message]
    id: str | None = None
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {"messages": (rf.messages, True), "id": (rf.record_id, False)}


SFT_KINDS: dict[str, type[Record]] = {
    "messages": Conversation,
    "completion": PromptCompletion,
    "responses": Sample,
    "chosen": Pair,
}


def sft_kind(first: Any, path: str | Path) -> type[Record]:
    """The record kind of an SFT file, from its first record."""
    if isinstance(first, dict):
        for key, kind in SFT_KINDS.items():
            if key in first:
                return kind
    raise InputError(
        path,
        "cannot tell the SFT format: expected records with 'messages', 'prompt' + "
        "'completion', 'responses' (ponder samples) or 'chosen' (preference pairs)",
        line=1,
    )


def read_sft_records(path: str | Path) -> Iterator[tuple[int, Record]]:
    """Yield ``(line, record)`` for every record of an SFT file (see the module docstring)."""
    kind: type[Record] | None = None
    for line, obj in iter_json_objects(path):
        if kind is None:
            kind = sft_kind(obj, path)
        yield line, kind.from_dict(obj, path=path, line=line)


def read_pair_records(path: str | Path) -> Iterator[tuple[int, Pair]]:
    """Yield ``(line, pair)`` for every record of a preference-pair file."""
    for line, obj in iter_json_objects(path):
        yield line, Pair.from_dict(obj, path=path, line=line)


# --------------------------------------------------------------------------- mixtures


@dataclass(frozen=True)
class DataSource:
    """One file of a mixture and how much of it an epoch takes (1.0 = every record once)."""

    path: str
    ratio: float = 1.0


def parse_sources(specs: list[str] | tuple[str, ...]) -> list[DataSource]:
    """Parse ``PATH[:RATIO]`` items (each may also be a comma-separated list of them)."""
    out: list[DataSource] = []
    for spec in specs:
        for item in (s.strip() for s in str(spec).split(",")):
            if not item:
                continue
            path, sep, tail = item.rpartition(":")
            ratio = 1.0
            if sep:
                try:
                    ratio = float(tail)
                except ValueError:
                    path = item  # a colon that is part of the path
                else:
                    if not math.isfinite(ratio) or ratio <= 0:
                        raise ConfigError(f"data '{item}': the ratio after ':' must be a positive number")
            else:
                path = item
            out.append(DataSource(path, ratio))
    if not out:
        raise ConfigError("data: give at least one file (PATH or PATH:RATIO)")
    return out


def epoch_counts(sizes: list[int], ratios: list[float]) -> list[int]:
    """Records each file contributes to one epoch."""
    return [round(r * n) for n, r in zip(sizes, ratios, strict=True)]


def epoch_order(
    sizes: list[int], ratios: list[float], *, seed: int, epoch: int, shuffle: bool = True
) -> list[tuple[int, int]]:
    """The ``(file, record)`` indices of one epoch (see the module docstring). Deterministic."""
    order: list[tuple[int, int]] = []
    for f, (n, count) in enumerate(zip(sizes, epoch_counts(sizes, ratios), strict=True)):
        rng = random.Random(seed * 1_000_003 + epoch * 1_009 + f)
        full, rest = divmod(count, n) if n else (0, 0)
        chosen = list(range(n)) * full + sorted(rng.sample(range(n), rest))
        order.extend((f, i) for i in sorted(chosen))
    if shuffle:
        random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


class StepSchedule:
    """Which records each optimizer step trains on: epochs of a mixture, cut into steps of ``per_step``.

    The last step of an epoch may be smaller. ``total_steps`` is ``max_steps`` when set (running into further
    epochs as needed), else ``epochs`` whole epochs. Deterministic in ``seed``: a resumed run at step ``k``
    sees exactly the records the uninterrupted run saw.
    """

    def __init__(
        self,
        sizes: list[int],
        ratios: list[float],
        *,
        per_step: int,
        seed: int,
        shuffle: bool = True,
        epochs: int = 1,
        max_steps: int | None = None,
    ):
        if per_step <= 0:
            raise ValueError("per_step must be positive")
        self.sizes, self.ratios, self.per_step, self.seed, self.shuffle = (
            sizes,
            ratios,
            per_step,
            seed,
            shuffle,
        )
        self.epoch_size = sum(epoch_counts(sizes, ratios))
        if self.epoch_size == 0:
            raise ValueError("the data mixture is empty")
        self.steps_per_epoch = math.ceil(self.epoch_size / per_step)
        self.total_steps = max_steps if max_steps is not None else epochs * self.steps_per_epoch
        self._cache: tuple[int, list[tuple[int, int]]] | None = None

    def epoch_of(self, step: int) -> int:
        return step // self.steps_per_epoch

    def items(self, step: int) -> list[tuple[int, int]]:
        """The ``(file, record)`` indices of optimizer step ``step`` (0-based)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        if self._cache is None or self._cache[0] != epoch:
            self._cache = (
                epoch,
                epoch_order(self.sizes, self.ratios, seed=self.seed, epoch=epoch, shuffle=self.shuffle),
            )
        return self._cache[1][k * self.per_step : (k + 1) * self.per_step]

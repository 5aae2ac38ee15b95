"""Solution prefixes for process DPO (pDPO): where to cut sampled solutions, by the authors' rules.

A *step* is a non-empty line. From one response with ``L`` steps:

- responses with fewer than ``min_steps`` (5) steps give no prefix;
- cut points are drawn only among the first ``upper = int(L * upper_step_ratio)`` steps (0.7), so no prefix
  already holds the final answer;
- ``int(upper * sample_ratio)`` of them (0.3) are drawn without replacement;
- the prefix at a cut point is the response text up to and including the newline that ends that line (the
  original text, blank lines included) -- the model continues it with the next line. The newline belongs to
  the prefix because tokenizers merge it with what ends the line (".\n" is one token in many BPE
  vocabularies): a prefix cut before it leaves the model at a token boundary it never saw in training, and
  its completions -- so the prefix's value -- then measure that boundary rather than the steps so far.

Per problem the prefixes of all its responses are pooled, identical prefixes kept once, and at most
``max_prefixes_per_problem`` (10) are drawn from the pool. A problem whose responses all give the same
answer (``filter_all_same``; a missing answer counts as one answer) gets no prefix: every completion would
agree, so the values could not separate prefixes.

Deviation from the released scripts: identical prefixes are merged before the cap (the scripts merge them
after the completions), so no completion budget is spent twice on the same text.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ponder.generation.base import SamplingParams
from ponder.verify import math as vmath

VALUES = ("sum", "max", "mean")


@dataclass(frozen=True)
class Prefix:
    """A cut response, math or code: ``text`` (the start of the assistant turn), the response it came from,
    and its number of steps (math: non-empty lines; code: lines up to the cut)."""

    text: str
    response_index: int
    steps: int


def completion_sampling(settings) -> SamplingParams:
    """How a prefix builder samples completions: ``completions_per_prefix`` of them per prefix, with the
    builder's temperature, top-p, token budget and seed (math and code builders alike)."""
    return SamplingParams.of(settings, settings.completions_per_prefix)


def prefix_value(scores: Sequence[float], how: str = "sum") -> float:
    """The value of a prefix from the scores of its completions (PFPO, Sec. 3.3): ``sum`` for math, where a
    score is 1 when the completion reaches the label (so the value counts them), ``max`` or ``mean`` for code,
    where a score is the number of tests the completed program passes. No completion: 0."""
    if how not in VALUES:
        raise ValueError(f"value must be one of {', '.join(VALUES)}, got {how!r}")
    if not scores:
        return 0.0 if how != "sum" else 0
    if how == "sum":
        return sum(scores)
    return float(max(scores)) if how == "max" else sum(scores) / len(scores)


def response_prefixes(
    response: str,
    *,
    upper_step_ratio: float = 0.7,
    sample_ratio: float = 0.3,
    min_steps: int = 5,
    rng: random.Random,
    response_index: int = 0,
) -> list[Prefix]:
    """The prefixes cut from one response (in reading order)."""
    lines = response.split("\n")
    steps = [i for i, line in enumerate(lines) if line.strip()]  # line index of each step
    if len(steps) < min_steps:
        return []
    upper = int(len(steps) * upper_step_ratio)
    k = int(upper * sample_ratio)
    if upper == 0 or k == 0:
        return []
    cuts = sorted(rng.sample(range(upper), k))  # positions among the steps, 0-based
    # the newline ending the cut line, when the response goes on (it always does below upper_step_ratio 1)
    return [
        Prefix(
            "\n".join(lines[: steps[c] + 1]) + ("\n" if steps[c] + 1 < len(lines) else ""),
            response_index,
            c + 1,
        )
        for c in cuts
    ]


def all_same_answer(preds: Sequence[str | None]) -> bool:
    """Whether every response gives the same answer (equal answer keys; no answer counts as one answer)."""
    keys = {vmath.answer_key(p) if isinstance(p, str) and p.strip() else None for p in preds}
    return len(keys) <= 1


def problem_prefixes(
    responses: Sequence[str],
    preds: Sequence[str | None],
    *,
    upper_step_ratio: float = 0.7,
    sample_ratio: float = 0.3,
    max_prefixes_per_problem: int = 10,
    min_steps: int = 5,
    filter_all_same: bool = True,
    rng: random.Random,
) -> list[Prefix]:
    """The prefixes of one problem: pooled over its responses, deduplicated, capped (see the module doc)."""
    if filter_all_same and all_same_answer(preds):
        return []
    pool: list[Prefix] = []
    seen: set[str] = set()
    for i, response in enumerate(responses):
        for p in response_prefixes(
            response,
            upper_step_ratio=upper_step_ratio,
            sample_ratio=sample_ratio,
            min_steps=min_steps,
            rng=rng,
            response_index=i,
        ):
            if p.text not in seen:
                seen.add(p.text)
                pool.append(p)
    if max_prefixes_per_problem and len(pool) > max_prefixes_per_problem:
        keep = sorted(rng.sample(range(len(pool)), max_prefixes_per_problem))
        pool = [pool[i] for i in keep]
    return pool

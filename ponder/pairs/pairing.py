"""How positives and negatives of one problem become preference pairs (PFPO's pairing rules).

Four rules, shared by outcome pairs (full responses) and process pairs (solution prefixes):

- ``each_positive``: every positive with one negative drawn at random;
- ``one_per_problem``: one random positive with one random negative;
- ``closest_steps``: one random positive with a negative drawn among the ``closest_k`` (5) negatives whose
  step count (non-empty lines) is closest to the positive's -- so the pair differs in where it goes, not in
  how far it got;
- ``shared_prefix``: every negative with the positive whose text shares the longest beginning with it (drawn
  at random among equally long ones) -- so the two part where the negative went wrong, not where two right
  solutions chose different paths (with a DPO ``cut`` the pair then trains that very step).

A problem with no positive or no negative gives no pair. All randomness comes from the ``rng`` passed in,
so a builder that seeds it per problem (and per draw) gives the same pairs on every run.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence

PAIRINGS = ("each_positive", "one_per_problem", "closest_steps", "shared_prefix")


def count_steps(text: str) -> int:
    """Steps of a solution: its non-empty lines."""
    return sum(1 for line in text.split("\n") if line.strip())


def pair_indices(
    positives: Sequence[int],
    negatives: Sequence[int],
    pairing: str,
    rng: random.Random,
    *,
    steps: Sequence[int] | None = None,
    closest_k: int = 5,
    texts: Sequence[str] | None = None,
) -> list[tuple[int, int]]:
    """``(chosen, rejected)`` index pairs under ``pairing``; ``steps[i]`` is item i's step count
    (needed by ``closest_steps`` only), ``texts[i]`` its text (``shared_prefix`` only)."""
    if pairing not in PAIRINGS:
        raise ValueError(f"unknown pairing {pairing!r}; choose one of {', '.join(PAIRINGS)}")
    if not positives or not negatives:
        return []
    if pairing == "each_positive":
        return [(p, rng.choice(negatives)) for p in positives]
    if pairing == "shared_prefix":
        if texts is None:
            raise ValueError("shared_prefix pairing needs the text of every item")
        out = []
        for n in negatives:
            shared = [common_prefix(texts[p], texts[n]) for p in positives]
            best = max(shared)
            out.append((rng.choice([p for p, k in zip(positives, shared, strict=True) if k == best]), n))
        return out
    p = rng.choice(positives)
    if pairing == "one_per_problem":
        return [(p, rng.choice(negatives))]
    if steps is None:
        raise ValueError("closest_steps pairing needs the step count of every item")
    if closest_k < 1:
        raise ValueError(f"closest_k must be >= 1, got {closest_k}")
    # sorted() is stable: among equally close negatives the earlier one ranks first.
    nearest = sorted(negatives, key=lambda n: abs(steps[n] - steps[p]))[:closest_k]
    return [(p, rng.choice(nearest))]


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common beginning of ``a`` and ``b``, in characters."""
    return len(os.path.commonprefix([a, b]))


def problem_rng(*parts: object) -> random.Random:
    """The one per-problem generator of the pair builders: it depends only on ``parts`` (the builder's name,
    the run seed, the problem id, the draw, ...), so a resumed run draws what an uninterrupted one does."""
    return random.Random("\x00".join(str(p) for p in parts))

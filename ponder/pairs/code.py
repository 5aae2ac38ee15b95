"""Preference pairs of programs ranked by how many tests they pass (PFPO for code, outcome level).

Pseudo-test rule (Jiao et al., ICLR 2025, Sec. 3.2): with ``T`` pseudo tests for a problem and ``pass_i`` the
number program ``i`` passes, program ``i`` is preferred over program ``j`` when

    pass_i / T >= lower_bound      (the chosen program is good enough; the authors: 0.5)
    pass_i - pass_j >= margin      (and clearly better; an absolute count, the authors: 6)

and every qualifying ordered pair is used. Ground-truth rule (the authors' baseline with the data set's own
tests): every program passing all tests over every program failing any, the full product.

Pairs are :class:`~ponder.records.Pair` records: the prompt the programs were sampled with, the two responses,
and ``meta`` with the pass counts. Identical (chosen, rejected) texts are written once.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ponder.records import Pair, PromptLike

LABELS = ("pseudo", "gold")


def margin_pairs(
    counts: Sequence[int], total: int, *, lower_bound: float = 0.5, margin: int = 6
) -> list[tuple[int, int]]:
    """Every ordered ``(chosen, rejected)`` with ``counts[c] / total >= lower_bound`` and
    ``counts[c] - counts[r] >= margin``, in index order. No pairs when ``total`` is 0."""
    if margin < 1:
        raise ValueError(
            f"margin must be >= 1 (a program is never preferred over an equal one), got {margin}"
        )
    if not 0 <= lower_bound <= 1:
        raise ValueError(f"lower_bound must be in [0, 1], got {lower_bound}")
    if total <= 0:
        return []
    good = [i for i, c in enumerate(counts) if c / total >= lower_bound]
    return [(i, j) for i in good for j in range(len(counts)) if counts[i] - counts[j] >= margin]


def ground_truth_pairs(passed_all: Sequence[bool]) -> list[tuple[int, int]]:
    """Every program that passes all tests over every program that does not (full product, index order)."""
    pos = [i for i, ok in enumerate(passed_all) if ok]
    neg = [i for i, ok in enumerate(passed_all) if not ok]
    return [(i, j) for i in pos for j in neg]


def dedupe_pairs(pairs: Sequence[tuple[int, int]], responses: Sequence[str]) -> list[tuple[int, int]]:
    """Drop pairs whose (chosen, rejected) texts repeat an earlier pair's (identical samples are common)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for i, j in pairs:
        key = (responses[i], responses[j])
        if key not in seen and responses[i] != responses[j]:
            seen.add(key)
            out.append((i, j))
    return out


def cap_pairs(pairs: list[tuple[int, int]], cap: int | None, rng: random.Random) -> list[tuple[int, int]]:
    """At most ``cap`` pairs, drawn at random without replacement (kept in their original order)."""
    if cap is None or len(pairs) <= cap:
        return pairs
    keep = set(rng.sample(range(len(pairs)), cap))
    return [p for k, p in enumerate(pairs) if k in keep]


def pair_records(
    problem_id: str,
    prompt: PromptLike,
    responses: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    counts: Sequence[int],
    total: int,
    *,
    labels: str,
    gold: Sequence[int] | None = None,
    truncated: Sequence[bool] | None = None,
) -> list[Pair]:
    """One Pair per ``(chosen, rejected)`` index pair, with pass counts in ``meta`` (and the counts on the
    problem's own tests, ``gold``, when they were measured). A response cut by its token budget
    (``truncated``) is marked ``meta.chosen_prefix`` / ``meta.rejected_prefix``: trained without an end token."""
    out = []
    for i, j in pairs:
        meta = {
            "problem_id": problem_id,
            "kind": "code",
            "labels": labels,
            "chosen_index": i,
            "rejected_index": j,
            "chosen_passed": counts[i],
            "rejected_passed": counts[j],
            "tests": total,
        }
        if gold is not None:
            meta["chosen_gold_passed"], meta["rejected_gold_passed"] = gold[i], gold[j]
        for side, k in (("chosen", i), ("rejected", j)):
            if truncated is not None and truncated[k]:
                meta[f"{side}_prefix"] = True
        out.append(
            Pair(
                id=f"{problem_id}-c{i}-r{j}",
                prompt=prompt,
                chosen=responses[i],
                rejected=responses[j],
                meta=meta,
            )
        )
    return out

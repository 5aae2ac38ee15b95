"""Process-level pairs for code (PFPO's code pDPO): solution prefixes valued by the tests their completions pass.

Jiao et al. (ICLR 2025, Sec. 3.3) extend pDPO to programs. For a problem with ``T`` (pseudo) tests:

1. **Cut.** Each sampled response is cut after one of its lines, always before the end of its program: with
   ``K`` the number of lines up to the end of the code, candidate cuts are after lines ``1 .. floor(K *
   upper_step_ratio)`` (at most ``K - 1``; the authors: 0.8), of which a share ``sample_ratio`` (0.3, at least
   one) is drawn. Identical prefixes are merged, then at most ``max_prefixes_per_problem`` (10-20) are drawn.
2. **Value.** ``n`` completions of each prefix are sampled (5, or 3) and the program of ``prefix + completion``
   runs on the tests; the prefix's value is the max (or the mean) pass count over its completions.
3. **Pairs.** A prefix is *positive* when ``value / T >= lower_bound`` (0.8 in the authors' README, 0.5 in a
   shipped config); its negatives are the prefixes of the same problem with ``value < value_pos - margin``
   (an absolute count, 4). Each positive is paired with one negative drawn at random.

Prefix pairs carry ``meta.prefix = true``: the trainer then adds no end-of-turn token after chosen or rejected.
The prefixes are :class:`~ponder.pairs.prefixes.Prefix` records and their values
:func:`~ponder.pairs.prefixes.prefix_value`, as for math. All randomness comes from generators seeded by
``(purpose, seed, problem id)`` (:func:`~ponder.pairs.pairing.problem_rng`), so a resumed run cuts and pairs
exactly as an uninterrupted one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from ponder.pairs.prefixes import Prefix
from ponder.verify.code_extract import extract_code

VALUES = ("max", "mean")


def code_end(text: str) -> int | None:
    """Character offset just after the program inside ``text`` (where :func:`extract_code` found it), or None."""
    code = extract_code(text)
    if code is None:
        return None
    body = code.rstrip("\n")
    start = text.rfind(body)
    return None if start < 0 else start + len(body)


def cut_points(text: str, upper_step_ratio: float) -> list[int]:
    """Candidate cuts: the number of lines ``k`` of each allowed prefix (see the module docstring)."""
    end = code_end(text)
    if end is None:
        return []
    n_lines = text[:end].count("\n") + 1  # lines up to the end of the code (the last one without its newline)
    top = min(math.floor(n_lines * upper_step_ratio), n_lines - 1)
    return list(range(1, top + 1))


def prefix_after(text: str, k: int) -> str:
    """``text`` up to and including its ``k``-th newline."""
    pos = -1
    for _ in range(k):
        pos = text.index("\n", pos + 1)
    return text[: pos + 1]


def sample_prefixes(
    responses: Sequence[str],
    rng: random.Random,
    *,
    upper_step_ratio: float = 0.8,
    sample_ratio: float = 0.3,
    max_prefixes: int | None = 10,
) -> list[Prefix]:
    """The prefixes of one problem: cuts drawn per response, identical texts merged, then capped."""
    if not 0 < upper_step_ratio <= 1 or not 0 < sample_ratio <= 1:
        raise ValueError("upper_step_ratio and sample_ratio must be in (0, 1]")
    seen: dict[str, Prefix] = {}
    for i, text in enumerate(responses):
        cands = cut_points(text, upper_step_ratio)
        if not cands:
            continue
        m = max(1, round(len(cands) * sample_ratio))
        for k in sorted(rng.sample(cands, m)):
            p = prefix_after(text, k)
            seen.setdefault(p, Prefix(p, i, k))
    prefixes = list(seen.values())
    if max_prefixes is not None and len(prefixes) > max_prefixes:
        keep = sorted(rng.sample(range(len(prefixes)), max_prefixes))
        prefixes = [prefixes[k] for k in keep]
    return prefixes


def prefix_pairs(
    values: Sequence[float], total: int, rng: random.Random, *, lower_bound: float = 0.5, margin: float = 4
) -> list[tuple[int, int]]:
    """``(positive, negative)`` index pairs: each positive (``value / total >= lower_bound``) with one random
    prefix of value ``< value_pos - margin``; positives without such a negative give no pair."""
    if total <= 0:
        return []
    out = []
    for i, v in enumerate(values):
        if v / total < lower_bound:
            continue
        negatives = [j for j, w in enumerate(values) if w < v - margin]
        if negatives:
            out.append((i, rng.choice(negatives)))
    return out

"""Step-matched controls: two pair files cut to the same number of pairs.

A control differs from the arm it controls only in the thing tested. With pairs from pseudo tests in one arm
and from the hidden tests in the other, the arms would otherwise train on different numbers of pairs -- and,
with a fixed ``pairs_per_step`` and epoch count, for different numbers of optimizer steps. :func:`match_counts`
draws ``min(len(a), len(b))`` pairs from each file (seeded, spread over problems as evenly as possible, file
order kept), so both arms see equally many pairs for equally many steps.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from ponder.io import write_records
from ponder.records import Pair, load_records


def spread_sample(problem_ids: Sequence[str], k: int, rng: random.Random) -> list[int]:
    """Indices of ``k`` items, taken round-robin over problems (each problem's items in random order), so
    no problem is dropped while another keeps more than one more item than it. Sorted.

    >>> spread_sample(["a", "a", "a", "b"], 2, random.Random(0))[-1]
    3
    """
    if k >= len(problem_ids):
        return list(range(len(problem_ids)))
    groups: dict[str, list[int]] = {}
    for i, pid in enumerate(problem_ids):
        groups.setdefault(pid, []).append(i)
    queues = [rng.sample(v, len(v)) for v in groups.values()]
    rng.shuffle(queues)
    picked: list[int] = []
    while len(picked) < k:
        for q in queues:
            if q and len(picked) < k:
                picked.append(q.pop())
    return sorted(picked)


def problem_of(pair: Pair) -> str:
    return str(pair.meta.get("problem_id", pair.id))


def _load(path: Path) -> list[Pair]:
    """The pairs of a file; an empty file (a stage that found no pairs) is an empty list."""
    return load_records(path, Pair) if Path(path).stat().st_size else []


def match_counts(a: Path, b: Path, out_a: Path, out_b: Path, seed: int = 0) -> int:
    """Write ``min(len(a), len(b))`` pairs of each file to ``out_a`` / ``out_b``; return that count."""
    pa, pb = _load(a), _load(b)
    n = min(len(pa), len(pb))
    for src, dst, tag in ((pa, out_a, "a"), (pb, out_b, "b")):
        rng = random.Random(f"match\x00{seed}\x00{tag}")
        keep = spread_sample([problem_of(p) for p in src], n, rng)
        write_records(dst, [src[i] for i in keep])
    return n

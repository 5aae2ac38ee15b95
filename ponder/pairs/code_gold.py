"""Ground-truth program pairs from a pseudo-label scores file, without running anything again.

``ponder pairs code --score-gold`` already runs every program on the problem's own tests and records
``gold_passed`` (tests passed per program) and ``gold_tests`` in each score record. The gold-pair control
(PFPO, Jiao et al., ICLR 2025, Sec. 4: DPO on pairs labelled by the data set's tests) needs exactly those
counts: programs passing every test over programs failing any (:func:`ponder.pairs.code.ground_truth_pairs`).
Building them from the same records keeps the control on the same programs as the pseudo arm and saves a
second sandbox pass over all programs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ponder.io import write_records
from ponder.pairs.code import dedupe_pairs, ground_truth_pairs, pair_records
from ponder.records import Pair, Sample


def gold_pairs(scores: Sequence[Mapping[str, Any]], samples: Mapping[str, Sample]) -> list[Pair]:
    """Pairs for every problem with hidden tests: passing-all over failing, deduplicated by text, in
    problem order. Raises ValueError when a record has no ``gold_passed`` (score without --score-gold)."""
    out: list[Pair] = []
    for r in scores:
        if "gold_passed" not in r:
            raise ValueError(f"score record {r.get('id')!r} has no gold_passed: score with score_gold=True")
        total = r["gold_tests"]
        if not total:
            continue
        smp = samples[r["id"]]
        counts = r["gold_passed"]
        idx = dedupe_pairs(ground_truth_pairs([c == total for c in counts]), smp.responses)
        out.extend(
            pair_records(
                r["id"],
                smp.prompt,
                smp.responses,
                idx,
                counts,
                total,
                labels="gold",
                gold=counts,
                truncated=[f == "length" for f in smp.finish_reasons],
            )
        )
    return out


def write_gold_pairs(scores: Sequence[Mapping[str, Any]], samples: Mapping[str, Sample], out: Path) -> int:
    pairs = gold_pairs(scores, samples)
    write_records(out, pairs)
    return len(pairs)

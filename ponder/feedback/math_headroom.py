"""PFPO-math preconditions: what self-consistency can teach a greedy decoder, measured against gold answers.

Self-consistency labels (PFPO, Jiao et al., ICLR 2025, Sec. 3) can only raise greedy accuracy on prompts where
the greedy answer is wrong while the vote of the samples is right, and they harm where the reverse holds. This
module turns a labelled sample file (:mod:`ponder.feedback.labels`, problems carrying their gold ``answer``
for measurement only) and the greedy answers' correctness into those numbers.

Returned (shares over the problems with a gold answer; ``None`` when there are none):

- ``greedy_accuracy``; ``pass1_sampled``: mean correctness of the samples; ``vote_accuracy``: the plurality
  answer is right (maj@n, kept or not); ``headroom`` = ``vote_accuracy - greedy_accuracy``;
- ``kept``: problems whose vote share passed the threshold (they get a label and train);
- ``teachable``: kept, label right, greedy wrong; ``harmful``: kept, label wrong, greedy right;
- ``confidently_wrong``: share of the *kept* problems whose label is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ponder.verify import math as vmath


def vote_right(rec: Mapping[str, Any]) -> bool:
    """Whether a labelled record's plurality answer equals its gold answer."""
    if rec.get("label_correct") is not None:
        return bool(rec["label_correct"])
    vote, gold = rec.get("vote_answer"), rec.get("answer")
    return vote is not None and gold is not None and vmath.is_equivalent(str(vote), str(gold))


def math_headroom(labelled: Iterable[Mapping[str, Any]], greedy: Mapping[str, bool]) -> dict[str, Any]:
    """The precondition numbers above from labelled records and ``greedy`` (problem id -> greedy right)."""
    recs = [r for r in labelled if r.get("answer") is not None and str(r["id"]) in greedy]
    n = len(recs)
    if not n:
        return {"problems": 0}
    g = [greedy[str(r["id"])] for r in recs]
    v = [vote_right(r) for r in recs]
    kept = [r.get("label") is not None for r in recs]
    samples = [c for r in recs for c in (r.get("correct") or [])]
    n_kept = sum(kept)
    wrong_kept = sum(k and not x for k, x in zip(kept, v, strict=True))
    out = {
        "problems": n,
        "greedy_accuracy": sum(g) / n,
        "pass1_sampled": sum(samples) / len(samples) if samples else None,
        "vote_accuracy": sum(v) / n,
        "kept": n_kept / n,
        "teachable": sum(k and x and not y for k, x, y in zip(kept, v, g, strict=True)) / n,
        "harmful": sum(k and not x and y for k, x, y in zip(kept, v, g, strict=True)) / n,
        "confidently_wrong": wrong_kept / n_kept if n_kept else None,
    }
    out["headroom"] = out["vote_accuracy"] - out["greedy_accuracy"]
    return out

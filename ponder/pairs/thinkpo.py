"""ThinkPO pairs: the long chain of thought is *chosen*, a short one reaching the same answer is *rejected*.

ThinkPO (arXiv 2502.13173, section 3.2) keeps a pair when both responses give a boxed final answer and both
answers equal the gold one (8,080 pairs from Bespoke-Stratos-17k), and optionally adds pairs whose short answer
is wrong (2,000 more). Its ablation (section 4.3) found that a smaller chosen/rejected length gap trains
better, hence the gap bounds here.

For each long solution (:mod:`ponder.pairs.solutions` reads any common file kind), the short samples of the
same prompt (matched by id, else by question text) are tried in order and the first one passing every filter
is taken. Filters and the reason a pair is dropped, in the order they are checked:

==================  =========================================================================================
``no_short``        no short sample for this prompt
``long_truncated``  every long response was cut by its token budget (``finish_reason == "length"``)
``long_unboxed``    no long response has a ``\\boxed{}`` answer
``long_wrong``      no boxed long answer equals the gold answer
``short_truncated`` every short response was cut by its budget
``short_unboxed``   no short response has a boxed answer
``short_wrong``     the short answer differs from the gold (beyond the allowed share of such pairs)
``short_differs``   without a gold answer: the short answer differs from the long one
``gap_too_small``   chosen tokens minus rejected tokens is below ``min_gap_tokens``
``gap_too_large``   ... or above ``max_gap_tokens``
==================  =========================================================================================

When several short responses fail, the reason reported is that of the one that got furthest down this list.
Answers are read with the ``boxed`` rule (last box only) and compared with :func:`ponder.verify.math.compare`.

Pairs with a wrong short answer: ``wrong_short_share = s`` lets them make up at most a share ``s`` of the
output (``floor(s / (1 - s) * right)`` of them, drawn with ``seed``); the paper's 2,000 extra pairs over 8,080
are ``s`` = 0.2.
"""

from __future__ import annotations

import dataclasses
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ponder.config import option
from ponder.pairs.solutions import Response, Solutions
from ponder.records import Pair
from ponder.verify import math as vmath
from ponder.verify.rules import extract_with

KEPT = "kept"
REASONS = (
    "no_short",
    "long_truncated",
    "long_unboxed",
    "long_wrong",
    "short_truncated",
    "short_unboxed",
    "short_wrong",
    "short_differs",
    "gap_too_small",
    "gap_too_large",
)


@dataclass(frozen=True)
class ThinkPOPairSettings:
    """Filters of ``ponder pairs thinkpo`` (every field is also a command option)."""

    min_gap_tokens: int = option(
        1, help="Smallest chosen-minus-rejected length in tokens (1: chosen is longer)."
    )
    max_gap_tokens: int | None = option(
        None, help="Largest chosen-minus-rejected length in tokens; null: none."
    )
    wrong_short_share: float = option(
        0.0,
        help="Largest share of output pairs whose short answer is wrong (paper's extra set: 0.2); 0: none.",
    )
    seed: int = option(
        0, help="Seed for drawing the wrong-short pairs when there are more than the share allows."
    )
    conversational: bool = option(False, help="Write chat messages even for text prompts.")
    workers: int = option(1, help="Processes grading answers (0: one per core).")

    def __post_init__(self) -> None:
        if self.max_gap_tokens is not None and self.max_gap_tokens < self.min_gap_tokens:
            raise ValueError("max_gap_tokens must be at least min_gap_tokens")
        if not 0 <= self.wrong_short_share < 1:
            raise ValueError("wrong_short_share must be in [0, 1)")


@dataclass
class Judgement:
    """What the filters decided for one long solution.

    ``reason`` is :data:`KEPT`, ``"wrong_short"`` (a candidate for the wrong-short share, settled by
    :func:`settle_wrong_short`) or one of :data:`REASONS`. Indices point into the long and short responses.
    """

    id: str
    reason: str
    long_index: int | None = None
    short_index: int | None = None
    long_tokens: int | None = None
    short_tokens: int | None = None
    long_pred: str | None = None
    short_pred: str | None = None
    short_correct: bool | None = None

    @property
    def gap(self) -> int | None:
        if self.long_tokens is None or self.short_tokens is None:
            return None
        return self.long_tokens - self.short_tokens


def boxed_answer(response: Response) -> str | None:
    """The last ``\\boxed{}`` answer of a complete response; None when cut by its budget or unboxed."""
    return extract_with("boxed", response.text)


def same_answer(pred: str, target: str) -> bool:
    return vmath.compare(pred, target)[0]


def judge(long: Solutions, short: Solutions | None, settings: ThinkPOPairSettings) -> Judgement:
    """Apply the filters to one long solution and the short samples of its prompt (see the module docstring).

    Every response needs ``num_tokens`` set (count them first, e.g. with :func:`count_tokens`).
    """
    if short is None or not short.responses:
        return Judgement(long.id, "no_short")
    gold = vmath.gold_answer(long.answer or short.answer or "") or None
    # The long side: the first complete, boxed, correct response.
    best_long = Judgement(long.id, "long_truncated")
    chosen: tuple[int, Response, str] | None = None
    for i, r in enumerate(long.responses):
        if r.finish_reason == "length":
            continue
        pred = boxed_answer(r)
        if pred is None:
            best_long = _further(best_long, Judgement(long.id, "long_unboxed"))
            continue
        if gold is not None and not same_answer(pred, gold):
            best_long = _further(best_long, Judgement(long.id, "long_wrong", long_index=i, long_pred=pred))
            continue
        chosen = (i, r, pred)
        break
    if chosen is None:
        return best_long
    li, lr, lpred = chosen
    best = Judgement(long.id, "short_truncated")
    wrong: Judgement | None = None
    for j, r in enumerate(short.responses):
        base = dict(
            long_index=li,
            long_tokens=lr.num_tokens,
            long_pred=lpred,
            short_index=j,
            short_tokens=r.num_tokens,
        )
        if r.finish_reason == "length":
            continue
        pred = boxed_answer(r)
        if pred is None:
            best = _further(best, Judgement(long.id, "short_unboxed", **base))
            continue
        right = same_answer(pred, gold if gold is not None else lpred)
        j_ok = Judgement(
            long.id, KEPT, **base, short_pred=pred, short_correct=right if gold is not None else None
        )
        gap = j_ok.gap
        if gap < settings.min_gap_tokens:
            gap_reason = "gap_too_small"
        elif settings.max_gap_tokens is not None and gap > settings.max_gap_tokens:
            gap_reason = "gap_too_large"
        else:
            gap_reason = None
        if not right:
            miss = "short_wrong" if gold is not None else "short_differs"
            if gap_reason is None and gold is not None and settings.wrong_short_share > 0 and wrong is None:
                wrong = dataclasses.replace(j_ok, reason="wrong_short")
            best = _further(best, dataclasses.replace(j_ok, reason=miss))
            continue
        if gap_reason is not None:
            best = _further(best, dataclasses.replace(j_ok, reason=gap_reason))
            continue
        return j_ok
    return wrong or best


def _further(a: Judgement, b: Judgement) -> Judgement:
    """The judgement whose response got further down the filter list (ties: the first)."""
    return b if REASONS.index(b.reason) > REASONS.index(a.reason) else a


def settle_wrong_short(judgements: Sequence[Judgement], settings: ThinkPOPairSettings) -> None:
    """Turn wrong-short candidates into kept pairs up to ``wrong_short_share`` of the output (in place)."""
    right = sum(j.reason == KEPT for j in judgements)
    candidates = [j for j in judgements if j.reason == "wrong_short"]
    s = settings.wrong_short_share
    allowed = math.floor(s / (1 - s) * right + 1e-9) if s > 0 else 0
    keep = set()
    if candidates and allowed:
        order = list(range(len(candidates)))
        random.Random(settings.seed).shuffle(order)
        keep = set(order[:allowed])
    for k, j in enumerate(candidates):
        j.reason = KEPT if k in keep else "short_wrong"


def make_pair(long: Solutions, short: Solutions, j: Judgement, *, conversational: bool = False) -> Pair:
    """The TRL preference record of a kept judgement: the long prompt, long chosen, short rejected."""
    chosen = long.responses[j.long_index].text
    rejected = short.responses[j.short_index].text
    prompt = long.prompt
    if conversational and isinstance(prompt, str):
        prompt = [{"role": "user", "content": prompt}]
    if not isinstance(prompt, str):
        chosen = [{"role": "assistant", "content": chosen}]
        rejected = [{"role": "assistant", "content": rejected}]
    meta = {
        "method": "thinkpo",
        "answer": long.answer or short.answer,
        "chosen_pred": j.long_pred,
        "rejected_pred": j.short_pred,
        "rejected_correct": j.short_correct,
        "chosen_tokens": j.long_tokens,
        "rejected_tokens": j.short_tokens,
        "gap_tokens": j.gap,
        "chosen_index": j.long_index,
        "rejected_index": j.short_index,
    }
    return Pair(
        id=long.id,
        prompt=prompt,
        chosen=chosen,
        rejected=rejected,
        meta={k: v for k, v in meta.items() if v is not None},
    )


# --------------------------------------------------------------------------- token counts


def count_tokens(
    solutions: Sequence[Solutions], tokenizer: Callable[[list[str]], list[int]] | None, where: str
) -> str:
    """Fill every response's ``num_tokens``; return the unit used.

    With a tokenizer every response is counted by it (one unit for both sides). Without one the files must
    carry ``num_tokens`` (ponder samples do); otherwise :class:`ValueError` says to pass a tokenizer.
    """
    if tokenizer is not None:
        todo = [r for s in solutions for r in s.responses]
        for r, n in zip(todo, tokenizer([r.text for r in todo]), strict=True):
            r.num_tokens = n
        return "tokenizer"
    for s in solutions:
        if any(r.num_tokens is None for r in s.responses):
            raise ValueError(f"{where}: line {s.line} has no token counts; give a tokenizer to count them")
    return "num_tokens"


def hf_token_counter(model_or_tokenizer: str) -> Callable[[list[str]], list[int]]:
    """Token counts with a transformers tokenizer (local folder or hub name), special tokens not added."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_or_tokenizer)

    def count(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]] if texts else []

    return count


# --------------------------------------------------------------------------- summary


@dataclass
class Histogram:
    edges: list[int]
    counts: list[int] = field(default_factory=list)


def gap_histogram(gaps: Sequence[int], bins: int = 10) -> Histogram:
    """At most ``bins`` equal-width integer bins ``[edges[i], edges[i+1])`` from the smallest gap, covering all."""
    if not gaps:
        return Histogram(edges=[], counts=[])
    lo, hi = min(gaps), max(gaps)
    width = max(1, math.ceil((hi - lo + 1) / bins))
    n = max(1, math.ceil((hi - lo + 1) / width))
    edges = [lo + k * width for k in range(n + 1)]
    counts = [0] * n
    for g in gaps:
        counts[min((g - lo) // width, n - 1)] += 1
    return Histogram(edges=edges, counts=counts)


def summarize(
    judgements: Sequence[Judgement],
    *,
    long_records: int,
    short_records: int,
    unit: str,
    settings: ThinkPOPairSettings,
    bins: int = 10,
) -> dict:
    """Counts per reason, lengths and the gap histogram of the kept pairs (written as ``*.summary.json``)."""
    kept = [j for j in judgements if j.reason == KEPT]
    reasons = Counter(j.reason for j in judgements if j.reason != KEPT)
    gaps = [j.gap for j in kept]
    hist = gap_histogram(gaps, bins)

    def stats(xs: list[int]) -> dict | None:
        if not xs:
            return None
        return {"min": min(xs), "median": statistics.median(xs), "mean": sum(xs) / len(xs), "max": max(xs)}

    return {
        "long_records": long_records,
        "short_records": short_records,
        "kept": len(kept),
        "kept_short_wrong": sum(j.short_correct is False for j in kept),
        "dropped": {r: reasons.get(r, 0) for r in REASONS},
        "token_unit": unit,
        "chosen_tokens": stats([j.long_tokens for j in kept]),
        "rejected_tokens": stats([j.short_tokens for j in kept]),
        "gap_tokens": stats(gaps),
        "gap_histogram": {"edges": hist.edges, "counts": hist.counts},
        "settings": {
            "min_gap_tokens": settings.min_gap_tokens,
            "max_gap_tokens": settings.max_gap_tokens,
            "wrong_short_share": settings.wrong_short_share,
            "seed": settings.seed,
        },
    }


def format_summary(summary: dict, width: int = 40) -> str:
    """The summary as text: kept and dropped per reason, lengths, and the gap histogram drawn with bars."""
    lines = [
        f"ThinkPO pairs: kept {summary['kept']} of {summary['long_records']} long solutions"
        + (
            f" ({summary['kept_short_wrong']} with a wrong short answer)"
            if summary["kept_short_wrong"]
            else ""
        )
    ]
    dropped = {r: n for r, n in summary["dropped"].items() if n}
    lines.append("dropped: " + (", ".join(f"{r} {n}" for r, n in dropped.items()) if dropped else "none"))
    for name in ("chosen_tokens", "rejected_tokens", "gap_tokens"):
        s = summary[name]
        if s:
            lines.append(
                f"{name.replace('_', ' ')}: min {s['min']}, median {s['median']:g}, "
                f"mean {s['mean']:.1f}, max {s['max']}"
            )
    edges, counts = summary["gap_histogram"]["edges"], summary["gap_histogram"]["counts"]
    if counts:
        lines.append(f"length gap histogram (chosen - rejected, {summary['token_unit']} tokens):")
        top = max(counts)
        span = len(str(edges[-1]))
        for k, c in enumerate(counts):
            bar = "#" * round(width * c / top)
            lines.append(f"  [{edges[k]:>{span}}, {edges[k + 1]:>{span}}) {c:>6} {bar}")
    return "\n".join(lines)

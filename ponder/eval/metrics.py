"""Evaluation metrics as pure functions of per-sample results.

Every benchmark result reduces to, per problem, ``n`` samples with a correctness flag, an answer key
(for voting), a token count and a finish reason. From those:

- accuracy: pass@1 averaged over the n samples of each problem, then over problems;
- pass@k: the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models Trained on
  Code", eq. 1): ``1 - C(n - c, k) / C(n, k)`` for c correct out of n, averaged over problems;
- maj@k: majority vote over the first k samples (ties to the first seen; unextractable answers never win),
  correct when the voted answer's samples are correct;
- lengths: mean generated tokens over all samples and over correct samples, and the share cut by the budget;
- reflection words: mean count per response of words such as "wait" and "hmm" (ThinkPO, Table 4).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

from ponder.verify.vote import plurality

REFLECTION_WORDS = ("wait", "hmm")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``c`` correct among ``n`` samples (Chen et al. 2021, eq. 1).

    Computed as ``1 - prod_{i=n-c+1}^{n} (1 - k / i)``, which equals ``1 - C(n-c, k) / C(n, k)`` without
    large binomials. Requires ``0 <= c <= n`` and ``1 <= k <= n``.
    """
    if not (0 <= c <= n) or not (1 <= k <= n):
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def majority_correct(keys: Sequence[Hashable | None], correct: Sequence[bool]) -> bool:
    """Whether the plurality answer among ``keys`` (cluster labels of the one vote, :mod:`ponder.verify.vote`)
    is correct; ``None`` keys (no answer) never win, ties go to the first seen."""
    winner = plurality(keys, lambda k: k).winner
    return winner is not None and any(correct[i] for i in winner.indices)


def reflection_counts(text: str, words: Sequence[str] = REFLECTION_WORDS) -> dict[str, int]:
    """Occurrences of each word in ``text`` as a whole word, case-insensitive ("Wait," counts, "awaited" not)."""
    return {w: len(re.findall(rf"\b{re.escape(w)}\b", text, flags=re.IGNORECASE)) for w in words}


@dataclass
class ProblemResult:
    """The n samples of one problem: correctness, answer keys for voting, token counts, finish reasons."""

    correct: list[bool]
    keys: list[str | None] = field(default_factory=list)
    num_tokens: list[int] = field(default_factory=list)
    finish_reasons: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def summarize(
    results: Sequence[ProblemResult], ks: Sequence[int] = (1,), words: Sequence[str] = REFLECTION_WORDS
) -> dict:
    """Aggregate metrics over problems. Keys: ``problems``, ``samples``, ``accuracy``, ``pass@k`` and
    ``maj@k`` for each k (skipped when some problem has fewer than k samples), ``mean_tokens``,
    ``mean_tokens_correct``, ``truncated_share``, ``reflection`` (mean count per response per word).
    """
    if not results:
        raise ValueError("summarize needs at least one problem")
    out: dict = {"problems": len(results), "samples": sum(len(r.correct) for r in results)}
    out["accuracy"] = _mean([sum(r.correct) / len(r.correct) for r in results])
    min_n = min(len(r.correct) for r in results)
    for k in ks:
        if k > min_n:
            continue
        out[f"pass@{k}"] = _mean([pass_at_k(len(r.correct), sum(r.correct), k) for r in results])
        if all(r.keys for r in results):
            out[f"maj@{k}"] = _mean([float(majority_correct(r.keys[:k], r.correct[:k])) for r in results])
    tokens = [t for r in results for t in r.num_tokens]
    tokens_correct = [t for r in results for t, c in zip(r.num_tokens, r.correct, strict=False) if c]
    out["mean_tokens"] = _mean(tokens)
    out["mean_tokens_correct"] = _mean(tokens_correct)
    reasons = [f for r in results for f in r.finish_reasons]
    out["truncated_share"] = _mean([float(f == "length") for f in reasons])
    texts = [t for r in results for t in r.texts]
    if texts:
        totals = Counter()
        for t in texts:
            totals.update(reflection_counts(t, words))
        out["reflection"] = {w: totals[w] / len(texts) for w in words}
    return out


def change_percent(before: float | None, after: float | None) -> float | None:
    """Relative change in percent (ThinkPO's tables): ``100 * (after - before) / before``."""
    if before is None or after is None or before == 0 or not math.isfinite(before):
        return None
    return 100.0 * (after - before) / before

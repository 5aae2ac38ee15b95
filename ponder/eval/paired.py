"""Statistics of paired comparisons: a mean with its standard error, and the accuracy difference of two
evaluations paired by problem (pairing removes the problems' difficulty from the noise of the comparison)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ponder.records import read_samples


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and its standard error (sample sd / sqrt(n)); SE 0 for a single value."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, 0.0
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, math.sqrt(var / n)


def per_problem_accuracy(samples_path: str | Path) -> dict[str, float]:
    """``{problem id: share of its answers graded right}`` from an evaluation's samples file."""
    return {s.id: sum(s.correct) / len(s.correct) for s in read_samples(samples_path) if s.correct}


def paired_accuracy(a: str | Path, b: str | Path) -> tuple[float, float]:
    """Accuracy of samples file ``a`` minus ``b``, paired by problem: (mean difference, its standard error).
    Pairing removes the problems' difficulty from the noise of the comparison."""
    pa, pb = per_problem_accuracy(a), per_problem_accuracy(b)
    return mean_se([pa[i] - pb[i] for i in sorted(pa) if i in pb])

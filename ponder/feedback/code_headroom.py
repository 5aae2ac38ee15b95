"""PFPO-code preconditions, measured against the hidden truth before the method runs.

PFPO for code (Jiao et al., ICLR 2025, Sec. 3.2) can only raise greedy pass@1 where (a) the sampled programs
disagree on some inputs, (b) the per-input majority output is usually the right one, and (c) the program the
pseudo tests rank first is right where the greedy program is wrong. This module turns the score records of
``ponder pairs code --score-gold`` (one per problem) and the greedy program's correctness into those numbers.

Inputs, per problem (a score record, :mod:`ponder.pairs.code_stage`):

- ``pseudo_tests``: ``[kept inputs]`` each with ``votes`` (programs giving the winning output) and
  ``successes`` (programs that ran successfully on it);
- ``reference_agrees``: ``[kept inputs]`` whether the voted output is the reference program's (None: the
  reference failed on it);
- ``passed``: ``[programs]`` pseudo tests passed; ``tests``: kept pseudo tests;
- ``gold_passed``: ``[programs]`` hidden tests passed; ``gold_tests``: hidden tests.

``greedy``: problem id -> whether the greedy program passes every hidden test.

Returned (all shares in [0, 1]; ``None`` when undefined):

- ``disagree_share``: kept inputs on which not all successful programs gave the same output;
- ``pseudo_output_accuracy``: kept inputs whose voted output is the reference's;
- ``greedy_pass``: greedy pass@1; ``pass1_sampled``: mean over sampled programs of passing every hidden test;
- ``pass_at_k``: problems with at least one correct sampled program (the best-of-k ceiling);
- ``vote_best``: expected correctness of the program with the most pseudo passes (ties drawn uniformly);
- ``teachable``: problems where greedy is wrong and the vote-best program right (expected value);
  ``harmful``: greedy right and vote-best wrong; ``headroom`` = ``vote_best - greedy_pass`` over the same
  problems (equal to ``teachable - harmful``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


def vote_best_correct(passed: Sequence[int], correct: Sequence[bool]) -> float:
    """Expected correctness of a uniform pick among the programs with the most pseudo passes.

    >>> vote_best_correct([3, 5, 5, 1], [True, True, False, True])
    0.5
    """
    if not passed:
        return 0.0
    top = max(passed)
    tied = [c for p, c in zip(passed, correct, strict=True) if p == top]
    return sum(tied) / len(tied)


def code_headroom(scores: Sequence[Mapping[str, Any]], greedy: Mapping[str, bool]) -> dict[str, Any]:
    """The preconditions over the problems of ``scores`` that have hidden tests (see the module docstring)."""
    inputs = disagree = agree_n = agree = 0
    problems = programs = correct_programs = any_correct = 0
    vote_best = greedy_pass = teachable = harmful = 0.0
    for r in scores:
        for t in r.get("pseudo_tests", []):
            inputs += 1
            disagree += t["votes"] < t["successes"]
        for a in r.get("reference_agrees", []):
            if a is not None:
                agree_n += 1
                agree += bool(a)
        if not r.get("gold_tests"):
            continue
        correct = [g == r["gold_tests"] for g in r["gold_passed"]]
        problems += 1
        programs += len(correct)
        correct_programs += sum(correct)
        any_correct += any(correct)
        vb = vote_best_correct(r["passed"], correct) if r.get("tests") else 0.0
        g = bool(greedy.get(r["id"], False))
        vote_best += vb
        greedy_pass += g
        teachable += (not g) * vb
        harmful += g * (1 - vb)
    return {
        "problems": problems,
        "inputs": inputs,
        "disagree_share": _share(disagree, inputs),
        "pseudo_output_accuracy": _share(agree, agree_n),
        "greedy_pass": _share(greedy_pass, problems),
        "pass1_sampled": _share(correct_programs, programs),
        "pass_at_k": _share(any_correct, problems),
        "vote_best": _share(vote_best, problems),
        "teachable": _share(teachable, problems),
        "harmful": _share(harmful, problems),
        "headroom": _share(vote_best - greedy_pass, problems),
    }

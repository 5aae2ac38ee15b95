"""Majority voting over extracted answers, and the answer keys it clusters by."""

import pytest

from ponder.verify import math as vmath
from ponder.verify.math import Vote, answer_key, majority_vote
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def test_vote_counts_equivalent_forms_together_and_none_in_the_share():
    """Seven answers: four forms of 1/2 (indices 0, 1, 2, 6), two 3s, one unextractable.

    Vote for 1/2 with count 4; share = 4 / 7 because the None counts in the denominator (PFPO);
    the answer is written as it first appeared (index 0).
    """
    answers = ["\\frac12", "0.5", "1/2", "3", None, "3", "x = 1/2"]
    assert majority_vote(answers) == Vote(answer="\\frac12", count=4, share=4 / 7)


def test_ties_go_to_the_first_seen():
    """Two 3s and two 4s: a tie, won by 3 (seen first); share 2 / 4."""
    assert majority_vote(["3", "4", "4", "3"]) == Vote(answer="3", count=2, share=0.5)
    assert majority_vote(["4", "3", "3", "4"]) == Vote(answer="4", count=2, share=0.5)


def test_clusters_with_different_keys_merge_when_equivalent():
    """0.3333 and 1/3 get different keys (a decimal is not its exact value) but are equivalent.

    Clusters: {0.3333: 2 (first at 0)}, {1/3, \\frac{1}{3}: 2 (first at 1)}, {2: 1}. The first two
    merge: count 4, share 4 / 5, written as the largest cluster's first answer, 0.3333.
    """
    vote = majority_vote(["0.3333", "1/3", "0.3333", "\\frac{1}{3}", "2"])
    assert vote == Vote(answer="0.3333", count=4, share=4 / 5)


def test_nothing_to_vote_for():
    assert majority_vote([]) == Vote(answer=None, count=0, share=0.0)
    assert majority_vote([None, None, "  "]) == Vote(answer=None, count=0, share=0.0)


def test_work_grows_with_distinct_answers_not_with_samples(monkeypatch):
    """3,000 answers with 3 distinct values: at most 3 * 2 / 2 = 3 comparisons of representatives."""
    calls = []
    real = vmath.is_equivalent

    def counting(a, b, **kw):
        calls.append((a, b))
        return real(a, b, **kw)

    monkeypatch.setattr(vmath, "is_equivalent", counting)
    vote = majority_vote(["7", "8", "\\frac{14}{2}"] * 1000)
    assert vote.count == 2000 and vote.answer == "7" and vote.share == approx(2 / 3, factor=4)
    assert len(calls) <= 1  # keys already join 7 and 14/2; the 8 cluster is compared once


@pytest.mark.parametrize(
    "forms",
    [
        ["\\frac{1}{2}", "1/2", "0.5", "\\dfrac12", "0.50", "= \\frac12"],
        ["x = \\frac{1}{2}", "x=0.5", "x = 1/2"],
        ["50\\%", "50 percent", "50\\ \\%"],
        ["2\\sqrt{2}", "\\sqrt{8}", "2^{3/2}", "2 \\cdot \\sqrt 2"],
        ["(1, 2)", "\\left(1,2\\right)", "(1,2)"],
        ["\\{1, 2\\}", "2, 1", "1 and 2", "\\{2, 1\\}"],
        ["x + 1", "1 + x", "\\frac{2x+2}{2}"],
        ["\\text{Evelyn}", "evelyn", "Evelyn"],
        ["[2, \\infty)", "x \\ge 2"],
        ["1,000", "1000", "1 000", "10^3"],
        ["\\pi", "\\pi"],
    ],
)
def test_keys_are_equal_for_common_forms(forms):
    keys = {answer_key(f) for f in forms}
    assert len(keys) == 1, keys


@pytest.mark.parametrize(
    "a,b",
    [
        ("1/2", "1/3"),
        ("(1,2)", "(2,1)"),
        ("(1,2)", "[1,2]"),
        ("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}"),
        ("x+1", "x-1"),
        ("\\text{odd}", "\\text{even}"),
        ("0.5", "50"),
    ],
)
def test_keys_differ_for_different_answers(a, b):
    assert answer_key(a) != answer_key(b)


def test_key_of_nothing():
    assert answer_key("") == ""
    assert answer_key(None) == ""


def test_equal_keys_mean_equivalent_answers():
    """Votes merge answers by key without checking, so keys must never join different answers:
    every pair of case-set answers that share a key is equivalent."""
    from collections import defaultdict

    from tests.verify.cases import PAIRS

    by_key = defaultdict(set)
    for cases in PAIRS.values():
        for pred, gold, _ in cases:
            by_key[answer_key(pred)].add(pred)
            by_key[answer_key(gold)].add(gold)
    checked = 0
    for group in by_key.values():
        group = sorted(group)
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                assert vmath.is_equivalent(a, b, timeout_s=10), (a, b, answer_key(a))
                checked += 1
    assert checked > 100

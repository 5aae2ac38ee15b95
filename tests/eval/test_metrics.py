import math

import pytest

from ponder.eval.metrics import (
    ProblemResult,
    change_percent,
    majority_correct,
    pass_at_k,
    reflection_counts,
    summarize,
)
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def test_pass_at_k_against_binomials():
    """n=5, c=2: pass@1 = 2/5; pass@2 = 1 - C(3,2)/C(5,2) = 1 - 3/10 = 0.7;
    pass@3 = 1 - C(3,3)/C(5,3) = 1 - 1/10 = 0.9; pass@4 = 1 (only 3 wrong samples)."""
    assert pass_at_k(5, 2, 1) == approx(0.4, factor=4)
    assert pass_at_k(5, 2, 2) == approx(0.7, factor=4)
    assert pass_at_k(5, 2, 3) == approx(0.9, factor=4)
    assert pass_at_k(5, 2, 4) == 1.0
    assert pass_at_k(5, 0, 3) == 0.0
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == approx(
                    1 - math.comb(n - c, k) / math.comb(n, k), factor=4, scale=1.0
                )
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_majority_vote_ties_and_missing_answers():
    """Winner '2' (2 votes) is correct; a tie between '1' and '2' goes to the first seen ('1');
    unextractable answers (None) never win, even when they are the most common."""
    assert majority_correct(["1", "2", "2", None], [False, True, True, False])
    assert majority_correct(["1", "2"], [True, False])
    assert not majority_correct(["2", "1"], [False, True])
    assert not majority_correct([None, None, "3"], [False, False, False])
    assert majority_correct([None, None, "3"], [False, False, True])
    assert not majority_correct([None, None], [False, False])


def test_reflection_words_are_whole_words_case_insensitive():
    assert reflection_counts("Wait, hmm... HMM. awaited hmmm") == {"wait": 1, "hmm": 2}


def test_summarize_by_hand():
    """P1: correct T,F,T,F, tokens 10,20,30,40, one cut by the budget; P2: F,F,F,T, tokens 5 each.
    accuracy = (2/4 + 1/4) / 2 = 0.375.
    pass@2: P1 = 1 - C(2,2)/C(4,2) = 5/6, P2 = 1 - C(3,2)/C(4,2) = 1/2, mean 2/3.
    maj@4: P1 keys a,b,a,c -> 'a' (samples 1 and 3, correct) = 1; P2 keys x,x,y,z -> 'x' (wrong) = 0 -> 0.5.
    mean tokens = (100 + 20) / 8 = 15; correct-only = (10 + 30 + 5) / 3 = 15; truncated share = 1/8."""
    p1 = ProblemResult(
        [True, False, True, False],
        ["a", "b", "a", "c"],
        [10, 20, 30, 40],
        ["stop", "stop", "length", "stop"],
        ["Wait", "", "", "hmm hmm"],
    )
    p2 = ProblemResult(
        [False, False, False, True], ["x", "x", "y", "z"], [5, 5, 5, 5], ["stop"] * 4, [""] * 4
    )
    s = summarize([p1, p2], ks=(1, 2, 4, 8))
    assert s["problems"] == 2 and s["samples"] == 8
    assert s["accuracy"] == approx(0.375, factor=4)
    assert s["pass@1"] == approx(0.375, factor=4)
    assert s["pass@2"] == approx(2 / 3, factor=4)
    assert s["maj@4"] == approx(0.5, factor=4)
    assert "pass@8" not in s
    assert s["mean_tokens"] == approx(15, factor=4) and s["mean_tokens_correct"] == approx(15, factor=4)
    assert s["truncated_share"] == approx(1 / 8, factor=4)
    assert s["reflection"] == {"wait": approx(1 / 8, factor=4), "hmm": approx(2 / 8, factor=4)}


def test_change_percent():
    assert change_percent(87.4, 91.2) == approx(100 * 3.8 / 87.4, factor=4)
    assert change_percent(0.0, 1.0) is None and change_percent(None, 1.0) is None

"""The pair rules on hand-made pass counts: margin and lower bound, ground truth, prefixes and their values."""

import random

import pytest

from ponder.pairs.code import cap_pairs, dedupe_pairs, ground_truth_pairs, margin_pairs, pair_records
from ponder.pairs.code_process import (
    code_end,
    cut_points,
    prefix_after,
    prefix_pairs,
    sample_prefixes,
)
from ponder.pairs.prefixes import prefix_value
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def test_margin_and_lower_bound():
    """T = 10, counts [10, 9, 4, 3, 6], lower_bound 0.5, margin 6.
    Good enough (count / 10 >= 0.5): programs 0 (1.0), 1 (0.9), 4 (0.6).
    0 beats j when 10 - c_j >= 6: c_j <= 4 -> 2, 3.   1: 9 - c_j >= 6: c_j <= 3 -> 3.   4: 6 - c_j >= 6: none."""
    assert margin_pairs([10, 9, 4, 3, 6], 10, lower_bound=0.5, margin=6) == [(0, 2), (0, 3), (1, 3)]


def test_lower_bound_excludes_a_clearly_better_but_weak_program():
    """T = 20: counts 9 and 1 differ by 8 >= margin 6, but 9 / 20 = 0.45 < 0.5, so no pair; at 10 / 20 = 0.5
    (the bound is inclusive) the pair appears."""
    assert margin_pairs([9, 1], 20) == []
    assert margin_pairs([10, 1], 20) == [(0, 1)]
    assert margin_pairs([10, 4], 20) == [(0, 1)]  # 10 - 4 = 6: the margin is inclusive too
    assert margin_pairs([10, 5], 20) == []


def test_margin_rule_edge_cases():
    assert margin_pairs([3, 0], 0) == []  # no tests: no ranking
    assert margin_pairs([2, 2, 0], 2, margin=1) == [(0, 2), (1, 2)]
    with pytest.raises(ValueError):
        margin_pairs([1, 0], 1, margin=0)


def test_ground_truth_full_product():
    assert ground_truth_pairs([True, False, True, False]) == [(0, 1), (0, 3), (2, 1), (2, 3)]
    assert ground_truth_pairs([True, True]) == [] and ground_truth_pairs([False]) == []


def test_dedupe_cap_and_records():
    responses = ["a", "a", "b", "c"]
    assert dedupe_pairs([(0, 2), (1, 2), (0, 3), (0, 1)], responses) == [(0, 2), (0, 3)]
    rng = random.Random(0)
    capped = cap_pairs([(0, 1), (0, 2), (0, 3), (1, 2)], 2, rng)
    assert len(capped) == 2 and set(capped) <= {(0, 1), (0, 2), (0, 3), (1, 2)}
    assert cap_pairs([(0, 1)], None, rng) == [(0, 1)]
    [rec] = pair_records("p1", "Q", ["good", "bad"], [(0, 1)], [7, 1], 8, labels="pseudo", gold=[5, 2])
    assert rec.id == "p1-c0-r1" and rec.chosen == "good" and rec.rejected == "bad"
    assert rec.meta["chosen_passed"] == 7 and rec.meta["rejected_passed"] == 1 and rec.meta["tests"] == 8
    assert rec.meta["chosen_gold_passed"] == 5 and rec.meta["rejected_gold_passed"] == 2


RESPONSE = "Plan: add.\n```python\na = int(input())\nb = int(input())\nprint(a + b)\n```\nDone."


def test_cut_points_stay_before_the_end_of_the_code():
    """Lines up to the end of the code: "Plan", "```python", "a = ...", "b = ...", "print(a + b)" -> K = 5.
    upper_step_ratio 0.8 -> cuts after 1..4 lines; 0.5 -> after 1..2. Every prefix ends before print(a + b)."""
    end = code_end(RESPONSE)
    assert RESPONSE[:end].endswith("print(a + b)")
    assert cut_points(RESPONSE, 0.8) == [1, 2, 3, 4]
    assert cut_points(RESPONSE, 0.5) == [1, 2]
    assert prefix_after(RESPONSE, 4) == "Plan: add.\n```python\na = int(input())\nb = int(input())\n"
    assert cut_points("no code here at all.", 0.8) == []


def test_sample_prefixes_ratio_merge_and_cap():
    """Each response has 4 candidate cuts; sample_ratio 0.3 -> round(1.2) = 1 cut per response. Two identical
    responses give identical prefixes only if the same cut is drawn; merged texts are unique either way."""
    rng = random.Random(0)
    prefixes = sample_prefixes(
        [RESPONSE, RESPONSE.replace("a + b", "b + a"), "no code"], rng, sample_ratio=0.3
    )
    assert 1 <= len(prefixes) <= 2 and {p.response_index for p in prefixes} <= {0, 1}
    assert len({p.text for p in prefixes}) == len(prefixes)
    allp = sample_prefixes([RESPONSE], random.Random(1), sample_ratio=1.0, max_prefixes=None)
    assert [p.steps for p in allp] == [1, 2, 3, 4]
    capped = sample_prefixes([RESPONSE], random.Random(1), sample_ratio=1.0, max_prefixes=2)
    assert len(capped) == 2


def test_prefix_values():
    assert prefix_value([3, 7, 5], "max") == 7
    assert prefix_value([3, 7, 5], "mean") == approx(5.0, factor=4)
    assert prefix_value([], "max") == 0.0
    assert prefix_value([True, False, True], "sum") == 2  # math: completions reaching the label
    with pytest.raises(ValueError, match="value must be one of"):
        prefix_value([1], "median")


def test_prefix_pairs_positive_negative_margin():
    """T = 10, lower_bound 0.5, margin 4, values [9, 5, 4, 8, 1].
    Positives (value / 10 >= 0.5): 0 (9), 1 (5), 3 (8).
    Negatives of 0: values < 9 - 4 = 5 -> 2 (4), 4 (1).   of 1: < 1 -> none.   of 3: < 4 -> 4 (1).
    So prefix 1 gets no pair, prefix 3 is paired with 4, and prefix 0 with 2 or 4."""
    pairs = prefix_pairs([9, 5, 4, 8, 1], 10, random.Random(0), lower_bound=0.5, margin=4)
    d = dict(pairs)
    assert set(d) == {0, 3} and d[3] == 4 and d[0] in (2, 4)
    assert prefix_pairs([9, 1], 0, random.Random(0)) == []


def test_programs_cut_by_the_budget_are_marked_as_prefixes():
    """Program 1 hit max_new_tokens: whichever side it is on is marked, so it is trained without an end token."""
    recs = pair_records(
        "p1",
        "Q",
        ["a", "b", "c"],
        [(0, 1), (1, 2)],
        [7, 4, 1],
        8,
        labels="pseudo",
        truncated=[False, True, False],
    )
    assert recs[0].meta.get("rejected_prefix") is True and "chosen_prefix" not in recs[0].meta
    assert recs[1].meta.get("chosen_prefix") is True and "rejected_prefix" not in recs[1].meta

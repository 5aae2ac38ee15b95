"""Neighbour sums: unique answers, searches that stop at the pair, a check whose verdict is Yes exactly for
the graded answer."""

import random

import pytest

from ponder.records import Problem
from ponder.tasks.neighbour_sum import (
    LETTERS,
    NeighbourSumTask,
    check,
    fast_text,
    hasty_text,
    neighbour_sum,
    search_text,
    searched,
    shown_letter,
    summary_text,
)
from ponder.tasks.synthetic import make
from ponder.verify.rules import grade_with


def _problem(values, target):
    sums = [a + b for a, b in zip(values, values[1:], strict=False)]
    k = sums.index(target)
    return Problem(
        id="p", prompt="q", answer=LETTERS[k], meta={"values": values, "target": target, "index": k}
    )


def test_problems_are_distinct_deterministic_and_have_one_pair():
    a = neighbour_sum(300, 7, size=6)
    assert [p.prompt for p in a] == [p.prompt for p in make("neighbour-sum", 300, 7, size=6)]
    assert len({p.prompt for p in a}) == 300
    for p in a:
        vals, t = p.meta["values"], p.meta["target"]
        hits = [k for k in range(5) if vals[k] + vals[k + 1] == t]
        assert hits == [p.meta["index"]] and p.answer == LETTERS[hits[0]]
        assert p.meta["long"] == search_text(p) and p.meta["short"] == f"\\boxed{{{p.answer}}}"
        assert p.prompt == f"Sum of one and the next is {t}:\n" + ",".join(
            f"{LETTERS[k]}{v}" for k, v in enumerate(vals)
        )


def test_search_tries_each_letter_in_order_until_the_rest_is_zero():
    p = _problem([3, 8, 5, 9, 2], 14)  # d + f
    assert search_text(p) == ("a3,14-3=11;b8,11-8=3.\nb8,14-8=6;d5,6-5=1.\nd5,14-5=9;f9,9-9=0. \\boxed{d}")
    assert summary_text(p) == "d5,14-5=9;f9,9-9=0. \\boxed{d}"


def test_whole_search_looks_up_every_letter_and_boxes_the_hit_where_it_is_found():
    p = _problem([3, 8, 5, 9, 2], 14)  # d + f
    whole = search_text(p, whole=True)
    assert whole == (
        "a3,14-3=11;b8,11-8=3.\nb8,14-8=6;d5,6-5=1.\nd5,14-5=9;f9,9-9=0. \\boxed{d}\nf9,14-9=5;g2,5-2=3."
    )
    assert NeighbourSumTask(2, whole_search=True).search(p) == whole
    assert NeighbourSumTask(2).search(p) == search_text(p)
    # the last letter's number is written with a non-zero rest when the pair is earlier
    assert "g2,5-2=3" in whole
    assert grade_with("boxed", whole, "d").correct and not grade_with("boxed", whole, "f").correct
    last = _problem([3, 8, 5, 9, 1], 10)  # f + g: the whole search is the search
    assert search_text(last, whole=True) == search_text(last)
    with pytest.raises(ValueError, match="no neighbours"):
        search_text(
            Problem(id="x", prompt="q", answer="a", meta={"values": [1, 1, 1], "target": 9}), whole=True
        )


@pytest.mark.parametrize(
    ("response", "text", "verdict"),
    [
        ("\\boxed{d}", "d5,14-5=9;f9,9-9=0. \\boxed{Yes}", True),
        ("\\boxed{b}", "b8,14-8=6;d5,6-5=1. \\boxed{No}", False),
        ("\\boxed{f}", "f9,14-9=5;g2,5-2=3. \\boxed{No}", False),
        ("\\boxed{g}", "No g. \\boxed{No}", False),  # the last letter has no next one
        ("\\boxed{c}", "No c. \\boxed{No}", False),
        ("\\boxed{14}", "No letter. \\boxed{No}", False),
        ("", "No letter. \\boxed{No}", False),
    ],
)
def test_check_is_the_candidates_search_line(response, text, verdict):
    assert check(_problem([3, 8, 5, 9, 2], 14), response) == (text, verdict)


def test_check_says_yes_exactly_for_the_graded_answer():
    task = NeighbourSumTask()
    for p in neighbour_sum(200, 3, size=8):
        for letter in LETTERS + "eic":
            response = f"\\boxed{{{letter}}}"
            assert task.check(p, response)[1] == grade_with("boxed", response, p.answer).correct


def test_shown_letter_never_raises_on_junk():
    for junk in ["\\boxed{", "\\boxed{df}", "\\boxed{d+f}", None, "d", "\\boxed{1}"]:
        assert shown_letter(junk) is None
    assert shown_letter("\\boxed{a} then \\boxed{ d }") == "d"


def test_distractors_are_wrong_and_often_next_to_the_answer():
    task = NeighbourSumTask()
    rng = random.Random(0)
    probs = neighbour_sum(300, 1)
    near = 0
    for p in probs:
        d = task.distractor(p, rng)
        assert task.check(p, d)[1] is False and task.check(p, task.fast(p))[1] is True
        near += abs(LETTERS.index(shown_letter(d)) - p.meta["index"]) == 1
    assert 0.4 < near / len(probs) < 0.8


def test_fast_answer_writes_its_first_lines_then_answers():
    p = _problem([3, 8, 5, 9, 2], 14)  # the pair starts at the third letter
    assert fast_text(p, 0) == "\\boxed{d}"
    assert fast_text(p, 2) == "a3,14-3=11;b8,11-8=3.\nb8,14-8=6;d5,6-5=1.\n\\boxed{d}"
    assert fast_text(p, 3) == search_text(p)  # found within its lines: the search itself
    assert NeighbourSumTask(2).fast(p) == fast_text(p, 2)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="size"):
        neighbour_sum(1, 0, size=2)
    with pytest.raises(ValueError, match="max_number"):
        neighbour_sum(1, 0, max_number=1)


def test_distractors_take_the_fast_answers_form():
    p = _problem([3, 8, 5, 9, 2], 14)  # the pair starts at the third letter
    rng = random.Random(0)
    for _ in range(20):
        d = NeighbourSumTask(2).distractor(p, rng)
        lines = d.split("\n")
        assert lines[:2] == ["a3,14-3=11;b8,11-8=3.", "b8,14-8=6;d5,6-5=1."] and len(lines) == 3
        assert check(p, d)[1] is False
    early = _problem([5, 9, 3, 8, 2], 14)  # found by the first line: only the lines before it are shown
    assert NeighbourSumTask(2).distractor(early, rng).startswith("\\boxed{")


def test_hasty_search_stops_before_a_line_and_states_the_answer():
    p = _problem([3, 8, 5, 9, 2], 14)  # three lines to the pair
    rng = random.Random(0)
    assert hasty_text(p, 1.0, rng) == search_text(p)
    assert hasty_text(p, 0.0, rng) == "\\boxed{d}"
    texts = [hasty_text(p, 0.5, rng) for _ in range(2000)]
    # stopped before line j with probability 0.5 each: 0, 1, 2 lines then the letter, or the whole search
    shares = [sum(t == fast_text(p, j) for t in texts) / len(texts) for j in range(3)]
    assert shares == pytest.approx([0.5, 0.25, 0.125], abs=0.03)  # 3 standard errors of 2000 draws
    assert sum(t == search_text(p) for t in texts) / len(texts) == pytest.approx(0.125, abs=0.03)
    with pytest.raises(ValueError, match="thoroughness"):
        hasty_text(p, 1.5, rng)


def test_searched_tells_a_search_from_a_stated_letter():
    p = _problem([3, 8, 5, 9, 2], 14)
    assert searched(search_text(p)) and searched(summary_text(p))
    assert not searched(fast_text(p, 2)) and not searched("\\boxed{d}")
    for junk in ["", None, "d5,14-5=9;f9,9-9=0.", "d5,14-5=9;f9,9-9=1. \\boxed{d}"]:
        assert not searched(junk)

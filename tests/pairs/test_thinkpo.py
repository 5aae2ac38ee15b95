"""ThinkPO pair filters, summary and histogram on hand-made long and short samples."""

import json

import pytest

from ponder.pairs.solutions import Response, Solutions
from ponder.pairs.thinkpo import (
    KEPT,
    REASONS,
    Judgement,
    ThinkPOPairSettings,
    format_summary,
    gap_histogram,
    judge,
    make_pair,
    settle_wrong_short,
    summarize,
)

LONG_OK = "Step 1: 2 + 3 = 5.\nStep 2: 5 * 2 = 10.\nSo the answer is \\boxed{10}."
SHORT_OK = "So the answer is \\boxed{10}."


def sol(id_, responses, answer="10", prompt="Compute (2 + 3) * 2."):
    """Solutions from (text, tokens[, finish_reason]) tuples."""
    return Solutions(id_, prompt, [Response(*r) for r in responses], answer, line=1)


def one(long, short, **settings):
    return judge(long, short, ThinkPOPairSettings(**settings))


def test_kept_pair_records_both_answers_lengths_and_gap():
    j = one(sol("a", [(LONG_OK, 30)]), sol("a", [(SHORT_OK, 8)]))
    assert (j.reason, j.long_pred, j.short_pred, j.short_correct) == (KEPT, "10", "10", True)
    assert (j.long_tokens, j.short_tokens, j.gap) == (30, 8, 22)


@pytest.mark.parametrize(
    "long, short, settings, reason",
    [
        (sol("a", [(LONG_OK, 30)]), None, {}, "no_short"),
        (sol("a", [(LONG_OK, 30, "length")]), sol("a", [(SHORT_OK, 8)]), {}, "long_truncated"),
        (
            sol("a", [("Step 1: 2 + 3 = 5. The answer is 10.", 30)]),
            sol("a", [(SHORT_OK, 8)]),
            {},
            "long_unboxed",
        ),
        (sol("a", [("So the answer is \\boxed{11}.", 30)]), sol("a", [(SHORT_OK, 8)]), {}, "long_wrong"),
        (
            sol("a", [(LONG_OK, 30)]),
            sol("a", [("So the answer is \\boxed{1", 8, "length")]),
            {},
            "short_truncated",
        ),
        (sol("a", [(LONG_OK, 30)]), sol("a", [("The answer is 10.", 8)]), {}, "short_unboxed"),
        (sol("a", [(LONG_OK, 30)]), sol("a", [("So \\boxed{12}.", 8)]), {}, "short_wrong"),
        (
            sol("a", [(LONG_OK, 30)], answer=None),
            sol("a", [("\\boxed{12}", 8)], answer=None),
            {},
            "short_differs",
        ),
        (sol("a", [(LONG_OK, 30)]), sol("a", [(SHORT_OK, 8)]), {"min_gap_tokens": 23}, "gap_too_small"),
        (sol("a", [(LONG_OK, 30)]), sol("a", [(SHORT_OK, 30)]), {}, "gap_too_small"),
        (sol("a", [(LONG_OK, 30)]), sol("a", [(SHORT_OK, 8)]), {"max_gap_tokens": 21}, "gap_too_large"),
    ],
)
def test_each_filter_drops_with_its_reason(long, short, settings, reason):
    assert one(long, short, **settings).reason == reason


def test_bounds_are_inclusive():
    """gap = 30 - 8 = 22: kept with min 22 and with max 22."""
    long, short = sol("a", [(LONG_OK, 30)]), sol("a", [(SHORT_OK, 8)])
    assert one(long, short, min_gap_tokens=22, max_gap_tokens=22).reason == KEPT


def test_without_gold_short_must_equal_the_long_answer():
    """No gold: the long answer counts; an equivalent form (10.0 vs 10) matches."""
    j = one(sol("a", [(LONG_OK, 30)], answer=None), sol("a", [("\\boxed{10.0}", 8)], answer=None))
    assert j.reason == KEPT and j.short_correct is None


def test_gold_answer_written_with_a_box_is_read_inside_it():
    j = one(sol("a", [(LONG_OK, 30)], answer="\\boxed{10}"), sol("a", [(SHORT_OK, 8)], answer=None))
    assert j.reason == KEPT


def test_first_passing_response_of_each_side_is_taken():
    long = sol("a", [("cut \\boxed{", 99, "length"), ("\\boxed{7}", 40), (LONG_OK, 30), ("\\boxed{10}", 50)])
    short = sol("a", [("no box", 4), ("\\boxed{3}", 5), (SHORT_OK, 8), ("\\boxed{10}", 2)])
    j = one(long, short)
    assert (j.reason, j.long_index, j.short_index) == (KEPT, 2, 2)


def test_reason_is_from_the_response_that_got_furthest():
    """Short responses: unboxed, wrong, gap too small -> the gap reason (furthest down the list)."""
    short = sol("a", [("none", 4), ("\\boxed{3}", 5), (SHORT_OK, 30)])
    assert one(sol("a", [(LONG_OK, 30)]), short).reason == "gap_too_small"
    short = sol("a", [("\\boxed{3}", 5), ("none", 4)])
    assert one(sol("a", [(LONG_OK, 30)]), short).reason == "short_wrong"


def test_wrong_short_share_keeps_the_allowed_number():
    """4 right pairs and share 0.2: at most floor(0.2 / 0.8 * 4) = 1 wrong-short pair joins (1 of 5 = 0.2)."""
    settings = ThinkPOPairSettings(wrong_short_share=0.2, seed=3)
    js = [judge(sol(f"r{i}", [(LONG_OK, 30)]), sol(f"r{i}", [(SHORT_OK, 8)]), settings) for i in range(4)]
    js += [
        judge(sol(f"w{i}", [(LONG_OK, 30)]), sol(f"w{i}", [("\\boxed{9}", 8)]), settings) for i in range(3)
    ]
    assert [j.reason for j in js[4:]] == ["wrong_short"] * 3
    settle_wrong_short(js, settings)
    kept = [j for j in js if j.reason == KEPT]
    assert len(kept) == 5 and sum(j.short_correct is False for j in kept) == 1
    assert sum(j.reason == "short_wrong" for j in js) == 2
    # Without a share, a wrong short answer is a plain drop.
    assert one(sol("w", [(LONG_OK, 30)]), sol("w", [("\\boxed{9}", 8)])).reason == "short_wrong"


def test_wrong_short_draw_depends_on_the_seed_only():
    def kept_ids(seed):
        s = ThinkPOPairSettings(wrong_short_share=0.5, seed=seed)
        js = [judge(sol(f"r{i}", [(LONG_OK, 30)]), sol(f"r{i}", [(SHORT_OK, 8)]), s) for i in range(3)]
        js += [judge(sol(f"w{i}", [(LONG_OK, 30)]), sol(f"w{i}", [("\\boxed{9}", 8)]), s) for i in range(10)]
        settle_wrong_short(js, s)
        return {j.id for j in js if j.reason == KEPT and j.short_correct is False}

    assert len(kept_ids(0)) == 3 and kept_ids(0) == kept_ids(0)
    assert any(kept_ids(s) != kept_ids(0) for s in range(1, 6))


def test_pair_is_in_trl_format_plain_and_conversational():
    long, short = sol("a", [(LONG_OK, 30)]), sol("a", [("x", 1), (SHORT_OK, 8)])
    j = one(long, short)
    p = make_pair(long, short, j)
    assert (p.id, p.prompt, p.chosen, p.rejected) == ("a", "Compute (2 + 3) * 2.", LONG_OK, SHORT_OK)
    assert p.meta["gap_tokens"] == 22 and p.meta["rejected_index"] == 1 and p.meta["answer"] == "10"
    c = make_pair(long, short, j, conversational=True)
    assert c.prompt == [{"role": "user", "content": "Compute (2 + 3) * 2."}]
    assert c.chosen == [{"role": "assistant", "content": LONG_OK}]
    assert c.rejected == [{"role": "assistant", "content": SHORT_OK}]


def test_histogram_bins_by_hand():
    """gaps 3, 4, 9, 12 in 3 bins: width ceil((12 - 3 + 1) / 3) = 4 -> [3,7) [7,11) [11,15) with 2, 1, 1."""
    h = gap_histogram([3, 4, 9, 12], bins=3)
    assert h.edges == [3, 7, 11, 15] and h.counts == [2, 1, 1]
    # Fewer distinct values than bins: width 1.
    h = gap_histogram([5, 5, 6], bins=10)
    assert h.edges == [5, 6, 7] and h.counts == [2, 1]
    assert gap_histogram([]).counts == []


def test_summary_counts_every_reason_and_the_lengths():
    js = [
        Judgement("a", KEPT, long_tokens=30, short_tokens=8, short_correct=True),
        Judgement("b", KEPT, long_tokens=50, short_tokens=10, short_correct=False),
        Judgement("c", "short_wrong"),
        Judgement("d", "short_wrong"),
        Judgement("e", "no_short"),
    ]
    s = summarize(
        js, long_records=5, short_records=4, unit="tokenizer", settings=ThinkPOPairSettings(), bins=2
    )
    assert s["kept"] == 2 and s["kept_short_wrong"] == 1
    assert s["dropped"]["short_wrong"] == 2 and s["dropped"]["no_short"] == 1
    assert sum(s["dropped"].values()) == 3 and set(s["dropped"]) == set(REASONS)
    # gaps 22 and 40: mean 31, median 31; 2 bins of width ceil(19 / 2) = 10 -> [22, 32) [32, 42)
    assert s["gap_tokens"] == {"min": 22, "median": 31.0, "mean": 31.0, "max": 40}
    assert s["chosen_tokens"]["mean"] == 40 and s["rejected_tokens"]["mean"] == 9
    assert s["gap_histogram"] == {"edges": [22, 32, 42], "counts": [1, 1]}
    json.dumps(s)  # serialisable as written
    text = format_summary(s)
    assert "kept 2 of 5 long solutions (1 with a wrong short answer)" in text
    assert "dropped: no_short 1, short_wrong 2" in text
    assert "[22, 32)      1 " + "#" * 40 in text

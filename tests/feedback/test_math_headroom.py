"""Self-consistency preconditions from labelled samples and greedy correctness, against hand counts."""

from ponder.feedback.labels import label_sample
from ponder.feedback.math_headroom import math_headroom
from ponder.records import Sample


def _labelled(pid, answer, preds, min_vote_share=0.5):
    s = Sample(
        id=pid,
        prompt="Add.",
        responses=[f"So the answer is \\boxed{{{p}}}." for p in preds],
        finish_reasons=["stop"] * len(preds),
        num_tokens=[8] * len(preds),
        answer=answer,
    )
    return label_sample(s, "vote", min_vote_share=min_vote_share).to_dict()


def test_teachable_harmful_and_confidently_wrong_by_hand():
    recs = [
        _labelled("a", "10", ["10", "10", "10", "9"]),  # vote right (kept), greedy wrong: teachable
        _labelled("b", "20", ["19", "19", "19", "20"]),  # vote wrong (kept), greedy right: harmful
        _labelled("c", "30", ["30", "29", "28", "27"]),  # vote right, share 0.25: not kept
        _labelled("d", "40", ["40", "40", "40", "40"]),  # right everywhere
    ]
    greedy = {"a": False, "b": True, "c": False, "d": True}
    h = math_headroom(recs, greedy)
    assert h["problems"] == 4
    assert h["greedy_accuracy"] == 0.5
    assert h["pass1_sampled"] == (3 + 1 + 1 + 4) / 16
    assert h["vote_accuracy"] == 0.75  # a, c (plurality, not kept) and d
    assert h["headroom"] == 0.25
    assert h["kept"] == 0.75
    assert (h["teachable"], h["harmful"]) == (0.25, 0.25)
    assert h["confidently_wrong"] == 1 / 3


def test_problems_without_gold_or_greedy_are_left_out():
    recs = [_labelled("a", "10", ["10", "10"]), _labelled("b", None, ["1", "1"])]
    assert math_headroom(recs, {"a": True})["problems"] == 1
    assert math_headroom(recs, {}) == {"problems": 0}

"""Values of prefixes and the value -> pair rules of process pairs (pDPO)."""

import pytest

from ponder.pairs.prefixes import prefix_value
from ponder.pairs.process import ProcessSettings, completion_scores, process_pairs


def test_prefix_value_counts_completions_reaching_the_label():
    """Label 5. Completions: one boxes 5, one boxes 6, one boxes nothing -> value 1. A box already in the
    prefix counts when the completion writes no new one, and a later box in the completion wins."""
    scores, preds = completion_scores(
        "Step 1: 2 + 3 = 5.", ["\nSo \\boxed{5}.", "\n\\boxed{6}", "\nhmm"], "5", "boxed"
    )
    assert (prefix_value(scores, "sum"), preds) == (1, ["5", "6", None])
    scores, _ = completion_scores("So \\boxed{5}", ["", "\nno wait \\boxed{7}"], "5", "boxed")
    assert prefix_value(scores, "sum") == 1


def _record(values, steps=None):
    steps = steps or list(range(1, len(values) + 1))
    return {
        "id": "q1",
        "prompt": [{"role": "user", "content": "Q?"}],
        "label": "5",
        "prefixes": [
            {"text": f"prefix {i}", "steps": s, "value": v}
            for i, (v, s) in enumerate(zip(values, steps, strict=True))
        ],
    }


def test_value_threshold_decides_positive_and_negative():
    """Values 3, 0, 1, 2 (of 3 completions). Threshold 2 (iteration 0): positives are prefixes 0 and 3,
    negatives 1 and 2 -> 2 pairs, one per positive. Threshold 1 (later iterations): prefix 2 becomes
    positive too -> 3 pairs, all rejecting prefix 1 (the only one with value 0)."""
    rec = _record([3, 0, 1, 2])
    pairs = process_pairs(rec, ProcessSettings(value_threshold=2, pairing="each_positive"))
    assert [p.meta["chosen_value"] for p in pairs] == [3, 2]
    assert all(p.meta["rejected_value"] in (0, 1) for p in pairs)
    pairs = process_pairs(rec, ProcessSettings(value_threshold=1, pairing="each_positive"))
    assert [p.meta["chosen_value"] for p in pairs] == [3, 1, 2]
    assert {p.rejected[0]["content"] for p in pairs} == {"prefix 1"}
    for p in pairs:
        assert p.meta["prefix"] is True and p.meta["kind"] == "process"
        assert p.chosen[0]["role"] == "assistant" and p.chosen[0]["content"].startswith("prefix ")


def test_value_pairs_closest_in_step_count():
    """One positive (value 3, 10 steps); negatives with 2, 9, 11, 12, 13 and 30 steps, at distances
    8, 1, 1, 2, 3 and 20. The five nearest are those with 9, 11, 12, 13 and 2 steps: the one with 30 steps
    is never the rejected side, each of the five is for some seed."""
    rec = _record([3, 0, 0, 0, 0, 0, 0], steps=[10, 2, 9, 11, 12, 13, 30])
    rejected = set()
    for seed in range(200):
        pairs = process_pairs(rec, ProcessSettings(pairing="closest_steps", seed=seed, value_threshold=1))
        assert len(pairs) == 1 and pairs[0].meta["chosen_steps"] == 10
        rejected.add(pairs[0].meta["rejected_steps"])
    assert rejected == {2, 9, 11, 12, 13}


@pytest.mark.parametrize("bad", [{"value_threshold": 4}, {"pairing": "best"}, {"upper_step_ratio": 0}])
def test_process_settings_are_checked(bad):
    from ponder.errors import PonderError

    with pytest.raises(PonderError):
        ProcessSettings(**bad).check()

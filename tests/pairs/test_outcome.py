"""Pairing rules, outcome pairs and value -> pair rules of process pairs."""

import json
import random

from ponder.feedback.labels import Labelled, read_labelled
from ponder.pairs.outcome import build_outcome_pairs, outcome_pairs
from ponder.pairs.pairing import pair_indices
from ponder.records import Sample


def test_each_positive_pairs_every_positive_once():
    for seed in range(10):
        pairs = pair_indices([0, 2, 5], [1, 3], "each_positive", random.Random(seed))
        assert [c for c, _ in pairs] == [0, 2, 5]
        assert all(r in (1, 3) for _, r in pairs)


def test_one_per_problem():
    pairs = pair_indices([0, 2], [1, 3], "one_per_problem", random.Random(0))
    assert len(pairs) == 1 and pairs[0][0] in (0, 2) and pairs[0][1] in (1, 3)


def test_no_pair_without_both_sides():
    for rule in ("each_positive", "one_per_problem", "closest_steps", "shared_prefix"):
        assert pair_indices([], [1], rule, random.Random(0), steps=[1, 1], texts=["a", "b"]) == []
        assert pair_indices([0], [], rule, random.Random(0), steps=[1, 1], texts=["a", "b"]) == []


def test_shared_prefix_pairs_each_negative_with_the_positive_it_parts_from_last():
    """Two right paths (items 0, 1) and two wrong ones: each wrong one is paired with the right one it
    follows longest, so the pair parts at the slip; a tie is drawn among the tied positives."""
    texts = [
        "7 + 9 = 16\n16 + 3 = 19",  # right, path A
        "7 + 10 - 1 = 16\n16 + 3 = 19",  # right, path B
        "7 + 9 = 15\n15 + 3 = 18",  # path A, slips at the first sum
        "7 + 10 - 1 = 16\n16 + 3 = 20",  # path B, slips at the second
        "8 + 1",  # shares nothing with either
    ]
    for seed in range(20):
        pairs = pair_indices([0, 1], [2, 3], "shared_prefix", random.Random(seed), texts=texts)
        assert pairs == [(0, 2), (1, 3)]
    drawn = {
        pair_indices([0, 1], [4], "shared_prefix", random.Random(s), texts=texts)[0][0] for s in range(40)
    }
    assert drawn == {0, 1}


def test_closest_steps_draws_among_the_five_nearest():
    """The positive (item 0) has 10 steps. Negatives' steps: item1 1, item2 9, item3 11, item4 12, item5 30,
    item6 8, item7 50. Distances: 9, 1, 1, 2, 20, 2, 40 -> the five nearest are items 2, 3, 4, 6, 1;
    items 5 and 7 are never drawn, and each of the five is drawn for some seed."""
    steps = [10, 1, 9, 11, 12, 30, 8, 50]
    drawn = set()
    for seed in range(200):
        pairs = pair_indices([0], [1, 2, 3, 4, 5, 6, 7], "closest_steps", random.Random(seed), steps=steps)
        assert len(pairs) == 1 and pairs[0][0] == 0
        drawn.add(pairs[0][1])
    assert drawn == {1, 2, 3, 4, 6}


def _labelled(positive, prompt=None, correct=None, sid="q1"):
    responses = [f"solution {i}\n\\boxed{{{i}}}" for i in range(len(positive))]
    s = Sample(
        id=sid,
        prompt=prompt if prompt is not None else [{"role": "user", "content": "Q?"}],
        responses=responses,
        finish_reasons=["stop"] * len(positive),
        num_tokens=[5] * len(positive),
        correct=correct,
    )
    return Labelled(s, "0", list(positive))


def test_outcome_pairs_are_conversational_trl_pairs():
    item = _labelled([True, False, True, False], correct=[True, False, False, False])
    pairs = outcome_pairs(item, pairing="each_positive", seed=0)
    assert len(pairs) == 2
    for p in pairs:
        assert p.prompt == [{"role": "user", "content": "Q?"}]
        c, r = p.meta["chosen_index"], p.meta["rejected_index"]
        assert p.chosen == [{"role": "assistant", "content": item.sample.responses[c]}]
        assert p.rejected == [{"role": "assistant", "content": item.sample.responses[r]}]
        assert item.positive[c] and not item.positive[r]
        assert "prefix" not in p.meta  # full responses: the trainer appends the end-of-turn token
    assert [p.meta["chosen_correct"] for p in pairs] == [True, False]
    text = outcome_pairs(_labelled([True, False], prompt="Q?"), seed=0)[0]
    assert text.prompt == "Q?" and isinstance(text.chosen, str)


def test_outcome_draws_are_independent_and_uniquely_named():
    item = _labelled([True] * 3 + [False] * 5)
    pairs = [p for d in range(4) for p in outcome_pairs(item, seed=1, draw=d)]
    assert len(pairs) == 12 and len({p.id for p in pairs}) == 12
    rejected_by_draw = [
        tuple(p.meta["rejected_index"] for p in pairs if p.meta["draw"] == d) for d in range(4)
    ]
    assert len(set(rejected_by_draw)) > 1  # redrawn, not repeated
    assert outcome_pairs(item, seed=1, draw=2) == outcome_pairs(item, seed=1, draw=2)  # reproducible


def test_build_outcome_pairs_counts_and_ignores_gold(tmp_path):
    """q1 has 2 positives and 2 negatives (2 pairs), q2 only positives, q3 only negatives, q4 dropped by
    the vote (label null). The pairs do not change when the gold answers change."""
    rows = []
    for sid, pos in (("q1", [True, False, True, False]), ("q2", [True, True]), ("q3", [False, False])):
        d = _labelled(pos, sid=sid).sample.to_dict()
        d.update(label="0", positive=pos, answer="0")
        rows.append(d)
    dropped = _labelled([False], sid="q4").sample.to_dict()
    dropped.update(label=None, drop_reason="vote share 0.2 <= 0.5")
    rows.append(dropped)
    src = tmp_path / "labelled.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = build_outcome_pairs(src, tmp_path / "pairs.jsonl")
    st = summary.stages
    assert st["labelled problems"] == 3 and st["problems with both"] == 1
    assert st["problems without a positive"] == 1 and st["problems without a negative"] == 1
    assert st["pairs"] == 2
    first = (tmp_path / "pairs.jsonl").read_text()
    for r in rows:
        r["answer"] = "999"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    build_outcome_pairs(src, tmp_path / "pairs2.jsonl")
    assert (tmp_path / "pairs2.jsonl").read_text() == first
    assert json.loads((tmp_path / "pairs.summary.json").read_text())["stages"]["pairs"] == 2
    assert [i.id for i in read_labelled(src)] == ["q1", "q2", "q3"]


def test_a_negative_cut_by_the_budget_is_marked_as_a_prefix():
    """Response 1 stopped at max_new_tokens: as the rejected side it never generated the end-of-turn token,
    so its pair says ``rejected_prefix`` (the trainer then scores it without one); whole responses are unmarked."""
    item = _labelled([True, False, False])
    item.sample.finish_reasons[1] = "length"
    pairs = outcome_pairs(item, pairing="each_positive", seed=0, draw=0)
    pairs += outcome_pairs(item, pairing="each_positive", seed=0, draw=1)
    pairs += outcome_pairs(item, pairing="each_positive", seed=0, draw=2)
    for p in pairs:
        assert p.meta.get("rejected_prefix", False) == (p.meta["rejected_index"] == 1)
        assert "chosen_prefix" not in p.meta
    assert {p.meta["rejected_index"] for p in pairs} == {1, 2}

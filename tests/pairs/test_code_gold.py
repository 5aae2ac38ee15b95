"""Gold pairs from score records: passing-all over failing, deduplicated; and on real sandbox scores."""

import pytest

from ponder.pairs.code_gold import gold_pairs, write_gold_pairs
from ponder.pairs.code_stage import CodePairSettings, load_samples_by_id, read_scores, run_code_pairs
from ponder.records import Pair, Sample, load_records
from tests.feedback.test_code_headroom import write_slip_problem


def _sample(pid, texts):
    n = len(texts)
    return Sample(id=pid, prompt="p", responses=texts, finish_reasons=["stop"] * n, num_tokens=[1] * n)


def test_passing_all_over_failing_deduplicated():
    """Programs 0 and 2 pass both hidden tests, 1 and 3 fail; 2 repeats 0's text, so (2, 1) and (2, 3)
    repeat (0, 1) and (0, 3) and are dropped: two pairs, with the counts in meta."""
    scores = [{"id": "q", "gold_passed": [2, 1, 2, 0], "gold_tests": 2}]
    pairs = gold_pairs(scores, {"q": _sample("q", ["a", "b", "a", "c"])})
    assert [(p.chosen, p.rejected) for p in pairs] == [("a", "b"), ("a", "c")]
    assert pairs[0].meta["chosen_gold_passed"] == 2 and pairs[0].meta["rejected_gold_passed"] == 1
    assert pairs[0].meta["labels"] == "gold"


def test_no_tests_no_pairs_and_missing_gold_is_an_error():
    assert gold_pairs([{"id": "q", "gold_passed": [0], "gold_tests": 0}], {"q": _sample("q", ["a"])}) == []
    with pytest.raises(ValueError, match="score_gold"):
        gold_pairs([{"id": "q", "passed": [1]}], {"q": _sample("q", ["a"])})


def test_gold_pairs_from_real_scores(tmp_path):
    """Three correct programs over the slip (wrong on a hidden test holding the boundary) and the broken
    program: six pairs, each chosen passing all hidden tests."""
    p = write_slip_problem(tmp_path)
    settings = CodePairSettings(min_success=2, lower_bound=1.0, margin=2, score_gold=True, workers=2, seed=0)
    run_code_pairs(
        tmp_path / "with_inputs.jsonl", tmp_path / "samples.jsonl", tmp_path / "pairs.jsonl", settings
    )
    scores = read_scores(tmp_path / "pairs.scores.jsonl")
    n = write_gold_pairs(scores, load_samples_by_id(tmp_path / "samples.jsonl"), tmp_path / "gold.jsonl")
    pairs = load_records(tmp_path / "gold.jsonl", Pair)
    total = len(p.tests)
    assert n == len(pairs) == 6
    assert {(q.meta["chosen_index"], q.meta["rejected_index"]) for q in pairs} == {
        (i, j) for i in range(3) for j in (3, 4)
    }
    assert all(q.meta["chosen_gold_passed"] == total > q.meta["rejected_gold_passed"] for q in pairs)

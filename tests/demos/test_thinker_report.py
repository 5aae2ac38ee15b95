"""Preconditions from inference episodes: balanced verification accuracy, fast and single-turn accuracy."""

import pytest

from ponder.demos.thinker_report import format_preconditions, preconditions
from ponder.records import Episode


def _thinker(fast_ok: bool, verdict: str | None, final_ok: bool, slow: bool, i: str = "e") -> Episode:
    turns = [
        {"stage": "fast", "num_tokens": 10, "correct": fast_ok},
        {"stage": "verify", "num_tokens": 20, "verdict": verdict, "fast_correct": fast_ok},
    ]
    if slow:
        turns += [{"stage": "slow", "num_tokens": 60}, {"stage": "summary", "num_tokens": 20}]
    total = sum(t["num_tokens"] for t in turns)
    return Episode(
        id=i, prompt="q", turns=turns, answer="a", meta={"final_correct": final_ok, "total_tokens": total}
    )


def _qa(ok: bool, i: str = "b") -> Episode:
    return Episode(
        id=i,
        prompt="q",
        turns=[{"stage": "answer", "num_tokens": 50}],
        answer="a",
        meta={"final_correct": ok, "total_tokens": 50},
    )


def test_numbers_worked_out_by_hand():
    # 4 right fast answers: 3 Yes, 1 No (then slow, right); 6 wrong: 5 No (slow: 4 right), 1 Yes (final wrong)
    th = [_thinker(True, "yes", True, False)] * 3 + [_thinker(True, "no", True, True)]
    th += [_thinker(False, "no", True, True)] * 4 + [_thinker(False, "no", False, True)]
    th += [_thinker(False, "yes", False, False)]
    qa = [_qa(True)] * 7 + [_qa(False)] * 3
    row = preconditions(th, qa)
    assert row["fast_accuracy"] == pytest.approx(0.4)
    assert row["yes_given_right"] == pytest.approx(0.75) and row["no_given_wrong"] == pytest.approx(5 / 6)
    assert row["verify_balanced"] == pytest.approx((0.75 + 5 / 6) / 2)
    assert row["thinker_accuracy"] == pytest.approx(0.8)
    assert row["slow_share"] == pytest.approx(0.6)
    # 4 dialogues of 30 tokens, 6 of 110
    assert row["thinker_tokens"] == pytest.approx((4 * 30 + 6 * 110) / 10)
    assert row["baseline_accuracy"] == pytest.approx(0.7) and row["baseline_tokens"] == 50
    assert "verification balanced 0.792" in format_preconditions(row)
    assert row["baseline_ceiling"] is None and "(ceiling n/a)" in format_preconditions(row)
    assert "(ceiling 0.600)" in format_preconditions(preconditions(th, qa, ceiling=0.6))


def test_always_yes_scores_one_half_whatever_the_fast_accuracy():
    th = [_thinker(True, "yes", True, False)] * 9 + [_thinker(False, "yes", False, False)]
    row = preconditions(th, [_qa(True)])
    assert row["verify_balanced"] == pytest.approx(0.5)


def test_no_verdict_counts_as_a_miss_and_empty_input_is_an_error():
    th = [_thinker(True, None, False, True), _thinker(False, "no", True, True)]
    assert preconditions(th, [_qa(True)])["verify_balanced"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        preconditions([], [_qa(True)])


def test_slow_thinking_is_compared_with_the_single_turn_on_the_same_episodes():
    th = [_thinker(False, "no", True, True, "p1#0"), _thinker(False, "no", False, True, "p2#0")]
    th += [_thinker(True, "yes", True, False, "p3#0")]
    qa = [_qa(True, "p1#0"), _qa(True, "p2#0"), _qa(False, "p3#0"), _qa(False, "p4#0")]
    row = preconditions(th, qa)
    # slow ran on p1 (right) and p2 (wrong); the single turn got both right; p3 and p4 do not count
    assert row["slow_accuracy"] == pytest.approx(0.5) and row["baseline_on_slow"] == pytest.approx(1.0)
    assert "after No: slow 0.500 vs single turn 1.000" in format_preconditions(row)


def test_paired_differences_read_each_systems_samples(tmp_path):
    from ponder.demos.thinker_report import format_paired, paired_differences
    from tests.helpers import write_samples

    def samples(name, correct):
        (tmp_path / name / "samples").mkdir(parents=True)
        write_samples(tmp_path / name / "samples" / "test.jsonl", correct)

    samples("thinker", {"x": [True, True], "y": [True, False]})
    samples("baseline", {"x": [True, False], "y": [False, False]})
    samples("sft-thinker", {"x": [True, True], "y": [True, True]})
    diffs = paired_differences(tmp_path)
    # per problem: x +0.5, y +0.5 -> mean 0.5, se 0; thinker - sft-thinker: x 0, y -0.5
    assert diffs["thinker - baseline"] == pytest.approx({"mean": 0.5, "se": 0.0})
    assert diffs["thinker - sft-thinker"] == pytest.approx({"mean": -0.25, "se": 0.25})
    assert set(diffs) == {"thinker - baseline", "thinker - sft-thinker"}  # the others have no samples
    assert "thinker - baseline: +0.500 ± 0.000" in format_paired(diffs)


def test_the_single_turn_ceiling_counts_the_reference_answers_that_fit_the_budget(tiny_model_dir):
    from transformers import AutoTokenizer

    from ponder.demos.thinker import SIZES, single_turn_ceiling
    from ponder.env.qa import QAEnvConfig
    from ponder.tasks.neighbour_sum import NeighbourSumTask, neighbour_sum

    dims = SIZES["smoke"]
    problems = neighbour_sum(40, 3, size=dims.numbers)
    tok, task = AutoTokenizer.from_pretrained(tiny_model_dir), NeighbourSumTask(dims.fast_lines, True)
    whole = [len(tok(task.search(p), add_special_tokens=False).input_ids) for p in problems]

    def ceiling(budget, stop=()):
        return single_turn_ceiling(
            problems, dims, tiny_model_dir, QAEnvConfig(budget_tokens=budget, stop=stop)
        )

    # without a stop string the whole search and the end-of-turn token must fit
    assert ceiling(max(whole) + 1) == 1.0 and ceiling(min(whole)) == 0.0
    # with '}' the answer ends at the box: a pair among the first lines fits a budget of three lines' worth
    up_to_hit = [
        len(tok(task.search(p).split("}")[0] + "}", add_special_tokens=False).input_ids) for p in problems
    ]
    assert ceiling(max(up_to_hit), ("}",)) == 1.0
    assert ceiling(min(up_to_hit) - 1, ("}",)) == 0.0
    # a budget that holds every answer found on the first line holds no answer found on the last
    first_line = max(n for n, p in zip(up_to_hit, problems, strict=True) if p.meta["index"] == 0)
    share_first = sum(p.meta["index"] == 0 for p in problems) / len(problems)
    assert 0 < share_first <= ceiling(first_line, ("}",)) < 1.0

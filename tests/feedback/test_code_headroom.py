"""The PFPO-code preconditions: by hand on score records, and end to end on a pipeline problem whose
programs run in the real sandbox (three correct forms, the teacher's slip, a broken program)."""

from ponder.feedback.code_headroom import code_headroom, vote_best_correct
from ponder.feedback.test_inputs_stage import InputSettings, run_test_inputs
from ponder.io import write_records
from ponder.pairs.code_stage import CodePairSettings, read_scores, run_code_pairs
from ponder.records import Problem, Sample, load_records
from ponder.tasks.code_pipeline import fenced, pipeline, program
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def test_vote_best_ties_are_expected_values():
    assert vote_best_correct([3, 5, 5, 1], [True, True, False, True]) == 0.5
    assert vote_best_correct([0, 2], [True, False]) == 0.0
    assert vote_best_correct([], []) == 0.0


def test_headroom_by_hand():
    """Two problems, three programs each, two hidden tests, two kept pseudo inputs each.

    p1: pseudo passes [2, 2, 0], correct [T, F, F] -> vote-best 0.5; greedy wrong -> teachable 0.5.
    p2: pseudo passes [1, 2, 2], correct [T, T, T] -> vote-best 1.0; greedy right -> harmful 0.
    Inputs: votes/successes (3/3, 2/3) and (2/2, 1/3): 2 of 4 disagree. Reference agrees on 3 of 4.
    greedy 0.5, vote-best 0.75, headroom 0.25 = teachable 0.25 - harmful 0.
    """
    scores = [
        {"id": "p1", "pseudo_tests": [{"votes": 3, "successes": 3}, {"votes": 2, "successes": 3}],
         "reference_agrees": [True, False], "passed": [2, 2, 0], "tests": 2,
         "gold_passed": [2, 1, 0], "gold_tests": 2},
        {"id": "p2", "pseudo_tests": [{"votes": 2, "successes": 2}, {"votes": 1, "successes": 3}],
         "reference_agrees": [True, None], "passed": [1, 2, 2], "tests": 2,
         "gold_passed": [2, 2, 2], "gold_tests": 2},
    ]  # fmt: skip
    h = code_headroom(scores, {"p1": False, "p2": True})
    assert h["problems"] == 2 and h["inputs"] == 4
    assert h["disagree_share"] == 0.5
    assert h["pseudo_output_accuracy"] == approx(2 / 3, factor=4)  # the None (reference failed) is left out
    assert h["greedy_pass"] == 0.5
    assert h["pass1_sampled"] == approx(4 / 6, factor=4)
    assert h["pass_at_k"] == 1.0
    assert h["vote_best"] == 0.75
    assert h["teachable"] == 0.25 and h["harmful"] == 0.0
    assert h["headroom"] == approx(h["teachable"] - h["harmful"], factor=4)
    assert code_headroom([], {})["headroom"] is None


def write_slip_problem(tmp_path):
    """A `greater/none/count` problem, pseudo inputs from the sampler stage, and five programs: three
    correct condition forms, the teacher's slip (``x >= t``) and one that does not run."""
    p = pipeline(1, 4, keeps=("greater",), reports=("count",))[0]
    run_test_inputs(
        [p], tmp_path / "with_inputs.jsonl", InputSettings(source="sampler", n_inputs=10, sampler_seed=7)
    )
    t, params = p.meta["template"], p.meta["params"]
    programs = [program(t, params, "loop", "inline", f) for f in range(3)]
    programs += [program(t, params, "loop", "inline", 0, slip=True), "print(\n"]
    write_records(
        tmp_path / "samples.jsonl",
        [Sample(id=p.id, prompt=p.prompt, responses=[fenced(s) for s in programs],
                finish_reasons=["stop"] * 5, num_tokens=[1] * 5)],
    )  # fmt: skip
    return p


def test_headroom_of_a_slip_in_the_real_sandbox(tmp_path):
    """The vote recovers the reference on every input, so the programs passing every pseudo test are the
    correct ones: greedy (the slip) wrong, vote-best right -> headroom 1 on this problem."""
    p = write_slip_problem(tmp_path)
    settings = CodePairSettings(min_success=2, lower_bound=1.0, margin=2, score_gold=True, workers=2, seed=0)
    run_code_pairs(
        tmp_path / "with_inputs.jsonl", tmp_path / "samples.jsonl", tmp_path / "pairs.jsonl", settings
    )
    (rec,) = read_scores(tmp_path / "pairs.scores.jsonl")
    t = p.meta["params"]["t"]
    (wi,) = load_records(tmp_path / "with_inputs.jsonl", Problem)
    boundary = sum(str(t) in line.split() for line in wi.meta["test_inputs"])
    assert boundary >= 2  # the sampler puts the boundary into most lines
    assert rec["tests"] == 10 and rec["passed"] == [10, 10, 10, 10 - boundary, 0]
    h = code_headroom([rec], {p.id: False})
    assert h["pseudo_output_accuracy"] == 1.0 and h["pass1_sampled"] == approx(3 / 5, factor=4)
    assert h["vote_best"] == 1.0 and h["teachable"] == 1.0 and h["harmful"] == 0.0 and h["headroom"] == 1.0
    assert code_headroom([rec], {p.id: True})["headroom"] == 0.0

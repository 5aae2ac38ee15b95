"""Pseudo outputs by vote among programs: ties, too few successes, the judge's comparison, sandbox runs."""

import pytest

from ponder.feedback.pseudo_tests import (
    pass_counts,
    pass_matrix,
    pseudo_tests,
    run_on_inputs,
    vote_outputs,
)
from ponder.verify.code import RunResult
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def ok(out, mode="stdio"):
    return RunResult("ok", out, mode=mode)


ERR = RunResult("runtime_error", "", detail="ValueError")
TIMEOUT = RunResult("timeout", "")


def test_majority_and_normal_form():
    """Input 0: outputs 3, 3.0, 4 -> the key of "3" and "3.0" is the same, so it wins 2-1 and the first
    program's raw text "3\\n" is the expected output. Input 1: 5, 6, 6 -> "6" wins 2-1."""
    runs = [[ok("3\n"), ok("5\n")], [ok(" 3.0 \n"), ok("6\n")], [ok("4\n"), ok("6")]]
    votes = vote_outputs(runs, 2, min_success=1)
    assert [v.output for v in votes] == ["3\n", "6\n"]
    assert [(v.votes, v.successes) for v in votes] == [(2, 3), (2, 3)]
    assert votes[0].share == approx(2 / 3, factor=4)


def test_ties_go_to_the_first_seen_output():
    """Outputs a, b, b, a: a tie 2-2, and "a" was seen first (program 0), so "a" wins. In the order b, a, a, b
    "b" wins."""
    a, b = ok("a"), ok("b")
    assert vote_outputs([[a], [b], [b], [a]], 1)[0].output == "a"
    assert vote_outputs([[b], [a], [a], [b]], 1)[0].output == "b"
    assert vote_outputs([[b], [a], [a]], 1)[0].output == "a"  # no tie: the majority wins whatever the order


def test_failed_runs_do_not_vote_and_too_few_successes_drop_the_input():
    """Input 0: 3 successes (x, x, y) of 5 programs -> kept with min_success 3, dropped with 4.
    Input 1: 1 success -> dropped with min_success 3. A missing program (None row) counts as no run."""
    runs = [
        [ok("x"), ERR],
        [ok("x"), TIMEOUT],
        [ERR, ok("z")],
        [ok("y"), ERR],
        None,
    ]
    v3 = vote_outputs(runs, 2, min_success=3)
    assert v3[0].output == "x" and (v3[0].votes, v3[0].successes) == (2, 3)
    assert not v3[1].kept and v3[1].successes == 1
    v4 = vote_outputs(runs, 2, min_success=4)
    assert not v4[0].kept and not v4[1].kept
    with pytest.raises(ValueError):
        vote_outputs(runs, 2, min_success=0)


def test_pass_counts_use_the_judge_comparison():
    """Input 0 votes "1.0" (keys: 1, 1, 2) -> program 1 printed "1" (passes, numbers compare equal), program 2
    printed "2" (fails). Input 1 is dropped (one success only), so T = 1 and program 3 (missing) passes 0."""
    runs = [[ok("1.0\n"), ok("q")], [ok("1\n"), ERR], [ok("2\n"), ERR], None]
    votes = vote_outputs(runs, 2, min_success=2)
    assert [v.kept for v in votes] == [True, False]
    assert pass_matrix(runs, votes, "stdio") == [[True], [True], [False], [False]]
    assert pass_counts(runs, votes, "stdio") == [1, 1, 0, 0]
    assert pseudo_tests(["a\n", "b\n"], votes, "stdio") == [
        {"input": "a\n", "output": "1.0\n", "votes": 2, "successes": 3}
    ]


def test_call_mode_outputs_are_json_values():
    """Return values arrive as canonical JSON; the pseudo test holds the JSON value itself."""
    runs = [[ok("[1,2]", "call")], [ok("[1,2]", "call")], [ok("[2,1]", "call")]]
    votes = vote_outputs(runs, 1)
    tests = pseudo_tests([[3]], votes, "call")
    assert tests == [{"input": [3], "output": [1, 2], "votes": 2, "successes": 3}]
    assert pass_counts(runs, votes, "call") == [1, 1, 0]


def test_real_programs_in_the_sandbox(code_pool):
    """Three programs on inputs 2 and 0: doubling (twice), adding 2, and one that crashes on 0.
    Outputs on 2: 4, 4, 4, 4 -> "4"; on 0: 0, 0, 2, (crash) -> "0" (2 of 3 successes)."""
    double = "print(int(input()) * 2)"
    programs = [double, double, "print(int(input()) + 2)", "n = int(input())\nprint(4 // n * n)", None]
    runs = run_on_inputs(code_pool, programs, ["2\n", "0\n"])
    assert runs[4] is None and [r.status for r in runs[3]] == ["ok", "runtime_error"]
    votes = vote_outputs(runs, 2, min_success=3)
    assert [v.output for v in votes] == ["4\n", "0\n"]
    assert pass_counts(runs, votes, "stdio") == [2, 2, 1, 1, 0]


def test_real_call_mode_in_the_sandbox(code_pool):
    programs = [
        "def f(a, b):\n    return a + b",
        "def f(a, b):\n    return a * b",
        "def f(a, b):\n    return b + a",
    ]
    """Sums on (1, 2) and (2, 2): 3, 4; products: 2, 4 -> votes "3" (2 of 3) and "4" (3 of 3)."""
    runs = run_on_inputs(code_pool, programs, [[1, 2], [2, 2]], mode="call", entry_point="f")
    votes = vote_outputs(runs, 2)
    assert [v.output for v in votes] == ["3", "4"]
    assert pass_counts(runs, votes, "call") == [2, 1, 2]

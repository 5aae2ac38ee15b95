import json
import subprocess

import pytest

from ponder.errors import PonderError
from ponder.eval.runner import Attempt, compare_runs, evaluate, load_benchmark, parse_spec
from ponder.generation.base import SamplingParams
from ponder.io import write_records
from ponder.records import Problem, read_samples
from ponder.verify.code_extract import extract_code
from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def _bench(tmp_path, name="arith"):
    path = tmp_path / f"{name}.jsonl"
    write_records(
        path,
        [
            Problem(id="a", prompt="Compute 1 + 1.", answer="2"),
            Problem(id="b", prompt="Compute 1 / 2.", answer="\\frac{1}{2}"),
        ],
    )
    return path


class Scripted:
    """A solver with fixed answers per problem id, counting the problems it is asked about."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def __call__(self, problems, params):
        self.asked += [p.id for p in problems]
        return [
            [Attempt(t, n, f, stages) for t, n, f, stages in self.answers[p.id][: params.n]] for p in problems
        ]


ANSWERS = {
    # a: right, right (written differently), wrong; 3 of 3 stop
    "a": [
        ("So \\boxed{2}.", 10, "stop", {}),
        ("\\boxed{2.0}", 20, "stop", {}),
        ("\\boxed{3}", 30, "length", {}),
    ],
    # b: wrong, right as 0.5, wrong again with the same wrong answer -> the vote picks the wrong 1/3
    "b": [
        ("\\boxed{1/3}", 5, "stop", {}),
        ("\\boxed{0.5}", 5, "stop", {}),
        ("\\boxed{\\frac13}", 5, "stop", {}),
    ],
}


def test_evaluate_by_hand(tmp_path):
    """a: correct T,T,F -> pass@1 2/3; b: F,T,F -> 1/3; accuracy = (2/3 + 1/3) / 2 = 0.5.
    pass@2: a = 1 - C(1,2)/C(3,2) = 1; b = 1 - C(2,2)/C(3,2) = 2/3; mean 5/6.
    maj@3: a votes 2 (two of three, 2 == 2.0) -> right; b votes 1/3 (1/3 == \\frac13) -> wrong; 0.5.
    tokens: (10+20+30+5+5+5)/6 = 12.5; correct only (10+20+5)/3 = 35/3; truncated 1/6."""
    bench = load_benchmark(str(_bench(tmp_path)))
    report = evaluate(
        Scripted(ANSWERS), [bench], SamplingParams(n=3), tmp_path / "run", ks=(1, 2, 3), name="m"
    )
    s = report["benchmarks"]["arith"]
    assert s["accuracy"] == approx(0.5, factor=4)
    assert s["pass@2"] == approx(5 / 6, factor=4)
    assert s["maj@3"] == approx(0.5, factor=4)
    assert s["mean_tokens"] == approx(12.5, factor=4)
    assert s["mean_tokens_correct"] == approx(35 / 3, factor=4)
    assert s["truncated_share"] == approx(1 / 6, factor=4)
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["rows"][0]["name"] == "arith" and saved["rows"][0]["accuracy"] == approx(0.5, factor=4)
    assert "| arith | 2 | 6 | 0.500 |" in (tmp_path / "run" / "report.md").read_text()
    assert (tmp_path / "run" / "report.png").read_bytes()[:4] == b"\x89PNG"


def test_samples_file_keeps_each_verdict_beside_its_response(tmp_path):
    """The verdicts of test_evaluate_by_hand, one per response, and the extracted answers."""
    bench = load_benchmark(str(_bench(tmp_path)))
    evaluate(Scripted(ANSWERS), [bench], SamplingParams(n=3), tmp_path / "run", ks=(1,))
    samples = {s.id: s for s in read_samples(tmp_path / "run" / "samples" / "arith.jsonl")}
    assert samples["a"].correct == [True, True, False] and samples["b"].correct == [False, True, False]
    assert samples["a"].preds == ["2", "2.0", "3"]
    assert samples["a"].responses == [t for t, *_ in ANSWERS["a"]]


def test_evaluate_resumes_without_asking_again(tmp_path):
    bench = load_benchmark(str(_bench(tmp_path)))
    first = Scripted(ANSWERS)
    evaluate(first, [bench], SamplingParams(n=2), tmp_path / "run")
    again = Scripted(ANSWERS)
    report = evaluate(again, [bench], SamplingParams(n=2), tmp_path / "run")
    assert first.asked == ["a", "b"] and again.asked == []
    assert report["benchmarks"]["arith"]["samples"] == 4


def test_stage_tokens_are_reported(tmp_path):
    answers = {k: [(t, n, f, {"fast": n, "verify": 1}) for t, n, f, _ in v] for k, v in ANSWERS.items()}
    report = evaluate(
        Scripted(answers), [load_benchmark(str(_bench(tmp_path)))], SamplingParams(n=1), tmp_path / "r"
    )
    assert report["benchmarks"]["arith"]["mean_stage_tokens"] == {"fast": 7.5, "verify": 1.0}
    assert report["rows"][0]["tokens_fast"] == 7.5


def test_maj_at_k_clusters_as_the_labels_do():
    """The one vote: 0.3333 and 1/3 get different answer keys but are equivalent, so PFPO's label vote merges
    them (1/3 wins with 3 of 5 against two 2s); maj@5 must count them as one answer too and so be correct."""
    from ponder.verify.math import majority_vote
    from ponder.verify.rules import vote_with

    preds = ["2", "0.3333", "2", "1/3", "\\frac{1}{3}"]
    assert majority_vote(preds).answer == "1/3" and majority_vote(preds).count == 3
    labels = vote_with("math", preds).labels(len(preds))
    assert labels == [1, 0, 1, 0, 0]
    assert vote_with("choice", ["b", None, "B", "c"]).labels(4) == [0, None, 0, 1]


def test_spec_and_benchmark_errors(tmp_path):
    assert parse_spec("a/b.jsonl:number") == (tmp_path.__class__("a/b.jsonl"), "number")
    assert parse_spec("c:/x.jsonl")[1] == "math"
    bad = tmp_path / "nogold.jsonl"
    write_records(bad, [Problem(id="x", prompt="p")])
    with pytest.raises(PonderError, match="field 'answer' is needed"):
        load_benchmark(str(bad))
    with pytest.raises(PonderError, match="the code rule needs 'tests'"):
        load_benchmark(f"{bad}:code")


def test_code_rule_runs_the_tests(tmp_path):
    path = tmp_path / "code.jsonl"
    tests = [{"input": "2\n", "output": "4\n"}, {"input": "5\n", "output": "10\n"}]
    write_records(path, [Problem(id="d", prompt="Double n.", tests=tests)])
    answers = {
        "d": [
            ("```python\nprint(int(input()) * 2)\n```", 9, "stop", {}),
            ("```python\nprint(int(input()) + 2)\n```", 9, "stop", {}),
        ]
    }
    report = evaluate(
        Scripted(answers), [load_benchmark(f"{path}:code")], SamplingParams(n=2), tmp_path / "r"
    )
    assert report["benchmarks"]["code"]["accuracy"] == approx(0.5, factor=4)


def test_extract_code_order():
    assert extract_code("x <BEGIN>\nprint(1)\n<END> ```python\nprint(2)\n```") == "print(1)\n"
    assert extract_code("```\nprint(0)\n```\n```python\nprint(2)\n```\n```\nprint(3)\n```") == "print(2)\n"
    assert extract_code("Plan.\n```python\nprint(4)\n") == "print(4)\n"  # cut by the budget
    assert extract_code("print(5)") == "print(5)\n"
    assert extract_code("The answer is five.") is None
    assert extract_code("(" * 100_000) is None


def test_compare_runs_table(tmp_path):
    for name, acc in (("before", 0.5), ("after", 0.6)):
        d = tmp_path / name
        d.mkdir()
        (d / "report.json").write_text(
            json.dumps({"name": name, "benchmarks": {"t": {"accuracy": acc, "mean_tokens": 100}}})
        )
    table = compare_runs([tmp_path / "before", tmp_path / "after"])
    assert "| t | accuracy | 0.500 | 0.600 | 20.0 |" in table
    assert "| t | mean_tokens | 100 | 100 | 0.000 |" in table


def test_cli_eval_on_a_tiny_model(tmp_path, tiny_model_dir):
    bench = _bench(tmp_path)
    out = tmp_path / "run"
    r = subprocess.run(
        ponder_cmd(
            "eval",
            "--model",
            str(tiny_model_dir),
            "--benchmarks",
            f"{bench}:math",
            "--n",
            "2",
            "--k",
            "1,2",
            "--max-new-tokens",
            "8",
            "--out",
            str(out),
            "--threads",
            "1",
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((out / "report.json").read_text())
    s = report["benchmarks"]["arith"]
    assert s["problems"] == 2 and s["samples"] == 4 and 1 <= s["mean_tokens"] <= 8
    assert "pass@2" in s and "maj@2" in s
    r = subprocess.run(
        ponder_cmd(
            "eval",
            "--model",
            str(tiny_model_dir),
            "--benchmarks",
            str(bench),
            "--n",
            "2",
            "--k",
            "3",
            "--out",
            str(out),
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert (
        r.returncode == 2
        and r.stderr.strip() == "ponder: error: --k: every k must be between 1 and --n (2), got [3]"
    )

"""``ponder eval`` on code benchmarks: call-based and assert tests, body-only answers, and HumanEval offline."""

import json
import subprocess

import pytest

from ponder.eval.runner import Attempt, evaluate, grade_sample, load_benchmark
from ponder.generation.base import SamplingParams
from ponder.io import write_records
from ponder.records import Problem, Sample
from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


class Scripted:
    def __init__(self, answers):
        self.answers = answers

    def __call__(self, problems, params):
        return [[Attempt(t, 5, "stop") for t in self.answers[p.id][: params.n]] for p in problems]


def test_call_and_assert_benchmarks_with_pass_at_k(tmp_path):
    """Problem "add" (call mode, 2 tests): answers right, wrong, right (as a method of class Solution) -> c = 2 of
    n = 3: pass@1 = 2/3, pass@2 = 1 - C(1,2)/C(3,2) = 1. Problem "sq" (assert mode with prompt code): the body
    alone (right), the whole function (right), a wrong body -> 2 of 3. Accuracy = mean(2/3, 2/3) = 2/3."""
    path = tmp_path / "code.jsonl"
    write_records(
        path,
        [
            Problem(
                id="add",
                prompt="Write add(a, b).",
                tests=[{"input": [1, 2], "output": 3}, {"input": "[5, -5]", "output": "0"}],
                meta={"mode": "call", "entry_point": "add"},
            ),
            Problem(
                id="sq",
                prompt="Complete sq.",
                tests=[{"input": "def check(f):\n    assert f(3) == 9\n"}],
                meta={
                    "mode": "assert",
                    "entry_point": "sq",
                    "prompt_code": 'def sq(x):\n    """x squared"""\n',
                },
            ),
        ],
    )
    answers = {
        "add": [
            "```python\ndef add(a, b):\n    return a + b\n```",
            "```python\ndef add(a, b):\n    return a - b\n```",
            "```python\nclass Solution:\n    def add(self, a, b):\n        return b + a\n```",
        ],
        "sq": [
            "```python\n    return x * x\n```",
            "```python\ndef sq(x):\n    return x ** 2\n```",
            "```python\n    return x + x\n```",
        ],
    }
    report = evaluate(
        Scripted(answers), [load_benchmark(f"{path}:code")], SamplingParams(n=3), tmp_path / "r", ks=(1, 2)
    )
    b = report["benchmarks"]["code"]
    assert b["accuracy"] == approx(2 / 3, factor=4) and b["pass@2"] == approx(1.0, factor=4)
    assert (tmp_path / "r" / "report.md").exists() and (tmp_path / "r" / "report.png").exists()


@pytest.mark.humaneval
def test_humaneval_problems_grade_reference_answers(tmp_path):
    """All 164 problems load offline; the reference solution passes as a whole fenced function and as the body
    alone; a wrong body fails."""
    from ponder.eval.code_benchmarks import humaneval_problems
    from ponder.verify.humaneval import load_problems

    problems = humaneval_problems()
    assert len(problems) == 164 and len({p.id for p in problems}) == 164
    raw = load_problems()
    path = tmp_path / "humaneval.jsonl"
    write_records(path, problems)
    bench = load_benchmark(f"{path}:code")
    assert bench.rule == "code" and len(bench.problems) == 164
    for p in bench.problems:
        body = raw[p.id]["canonical_solution"]
        responses = [
            f"```python\n{p.meta['reference']}\n```",
            f"```python\n{body}\n```",
            "```python\n    return None\n```",
        ]
        s = Sample(
            id=p.id, prompt=p.prompt, responses=responses, finish_reasons=["stop"] * 3, num_tokens=[1] * 3
        )
        correct, _ = grade_sample(p, s, "code")
        assert correct[:2] == [True, True], p.id
        assert correct[2] is False, p.id


@pytest.mark.humaneval
def test_ponder_eval_runs_humaneval(tmp_path, tiny_model_dir):
    bench = tmp_path / "humaneval.jsonl"
    r = subprocess.run(
        ponder_cmd("tasks", "humaneval", "--output", str(bench)),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    lines = bench.read_text().splitlines()[:4]
    small = tmp_path / "he4.jsonl"
    small.write_text("\n".join(lines) + "\n")
    r = subprocess.run(
        ponder_cmd(
            "eval",
            "--model",
            str(tiny_model_dir),
            "--benchmarks",
            f"{small}:code",
            "--n",
            "2",
            "--k",
            "1,2",
            "--max-new-tokens",
            "16",
            "--out",
            str(tmp_path / "ev"),
            "--threads",
            "1",
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    b = report["benchmarks"]["he4"]
    assert b["problems"] == 4 and b["samples"] == 8 and b["rule"] == "code" and b["accuracy"] == 0.0

import json
import re
import subprocess
import sys

import pytest

from ponder.tasks import synthetic
from ponder.tasks.math_families import Num, Op, evaluate, render

BOXED = re.compile(r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}")


@pytest.mark.parametrize("family", ["arithmetic", "linear", "code", "pipeline"])
def test_deterministic_per_seed(family):
    a = [p.to_dict() for p in synthetic.make(family, 20, seed=3)]
    b = [p.to_dict() for p in synthetic.make(family, 20, seed=3)]
    c = [p.to_dict() for p in synthetic.make(family, 20, seed=4)]
    assert a == b and a != c
    assert len({p["id"] for p in a}) == 20


def test_render_uses_only_needed_parentheses():
    e = Op("-", Num(9), Op("-", Num(2), Num(1)))
    assert render(e) == "9 - (2 - 1)" and evaluate(e) == 8
    assert render(Op("*", Op("+", Num(3), Num(4)), Num(5))) == "(3 + 4) * 5"
    assert render(Op("+", Num(3), Op("*", Num(4), Num(5)))) == "3 + 4 * 5"


def test_arithmetic_answers_and_solutions_agree():
    for p in synthetic.make("arithmetic", 200, seed=0, min_ops=1, max_ops=5):
        expr = p.prompt.removeprefix("Compute ").removesuffix(".")
        assert str(eval(expr)) == p.answer  # the prompt's own arithmetic, evaluated by Python
        for style in ("long", "short"):
            assert BOXED.findall(p.meta[style])[-1] == p.answer
        steps = re.findall(r"Step \d+: (\d+) ([-+*]) (\d+) = (\d+)", p.meta["long"])
        assert len(steps) == p.meta["ops"]
        assert all(eval(f"{a} {op} {b}") == int(c) for a, op, b, c in steps)
        assert len(p.meta["long"]) > len(p.meta["short"])


def test_arithmetic_knobs():
    ps = synthetic.make("arithmetic", 50, seed=0, min_ops=4, max_ops=4, max_operand=5)
    assert all(p.meta["ops"] == 4 for p in ps)
    assert all(int(n) <= 5 for p in ps for n in re.findall(r"\d+", p.prompt))


def test_linear_answers_solve_the_equation():
    from fractions import Fraction

    for p in synthetic.make("linear", 200, seed=0, fractions=True):
        eq = p.prompt.removeprefix("Solve for x: ").removesuffix(".")
        m = re.fullmatch(r"\\frac\{(\d+)\}\{(\d+)\}|(\d+)", p.answer)
        x = Fraction(int(m[1]), int(m[2])) if m[1] else Fraction(int(m[3]))
        sides = []
        for side in eq.split(" = "):
            side = re.sub(r"\\frac\{(\d+)\}\{(\d+)\}", r"Fraction(\1, \2)", side)
            side = re.sub(r"(\d)(x|\()", r"\1*\2", side).replace("x", f"Fraction('{x}')")
            sides.append(eval(side, {"Fraction": Fraction}))
        assert sides[0] == sides[1], p.prompt
        assert BOXED.findall(p.meta["long"])[-1] == p.answer


HARNESS = r"""
import io, json, sys
cases = json.load(sys.stdin)
out = []
for src, stdin in cases:
    sys.stdin = io.StringIO(stdin)
    buf = io.StringIO()
    sys.stdout = buf
    try:
        exec(compile(src, "<prog>", "exec"), {"__name__": "__main__"})
        status = "ok"
    except Exception as e:
        status = type(e).__name__
    sys.stdout = sys.__stdout__
    out.append([status, buf.getvalue()])
print(json.dumps(out))
"""


def _run_all(cases):
    r = subprocess.run(
        [sys.executable, "-c", HARNESS], input=json.dumps(cases), capture_output=True, text=True, timeout=60
    )
    return json.loads(r.stdout)


def test_code_reference_programs_pass_and_every_bug_fails():
    problems = synthetic.make("code", 24, seed=0)
    assert {p.meta["template"] for p in problems} == set(synthetic.TEMPLATES)
    cases, owners = [], []
    for p in problems:
        assert len(p.tests) == 8
        for kind, src in [("reference", p.meta["reference"]), *p.meta["buggy"].items()]:
            for t in p.tests:
                cases.append([src, t["input"]])
                owners.append((p.id, kind, t["output"]))
    results = _run_all(cases)
    failures: dict[tuple[str, str], int] = {}
    for (pid, kind, expected), (status, out) in zip(owners, results, strict=True):
        ok = status == "ok" and out == expected
        if kind == "reference":
            assert ok, (pid, status, out, expected)
        else:
            failures[(pid, kind)] = failures.get((pid, kind), 0) + (not ok)
    assert failures and all(n > 0 for n in failures.values()), [k for k, n in failures.items() if n == 0]


def test_code_input_sampler_puts_edge_cases_first():
    p = synthetic.make("code", 1, seed=0, templates=["range_span"])[0]
    assert synthetic.sample_inputs(p, 3, seed=9)[0] == "\n"
    assert synthetic.expected_output(p, "\n") == "0\n"
    assert synthetic.sample_inputs(p, 5, seed=9) == synthetic.sample_inputs(p, 5, seed=9)


def test_synth_command_writes_problems_and_sft_sets(tmp_path):
    """`ponder synth` writes the same problems as `make`; `--sft long` pairs each prompt with its long solution,
    which the SFT trainer reads as prompt-completion; a bad option is one line and exit 2."""
    import json
    import subprocess

    from tests.helpers import ponder_cmd, subprocess_env

    env = subprocess_env()
    probs, sft = tmp_path / "p.jsonl", tmp_path / "sft.jsonl"
    r = subprocess.run(
        ponder_cmd("synth", "linear", "--n", "5", "--seed", "2", "-o", str(probs)),
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    written = [json.loads(x) for x in probs.read_text().splitlines()]
    assert written == [p.to_dict() for p in synthetic.make("linear", 5, seed=2)]
    r = subprocess.run(
        ponder_cmd("synth", "linear", "--n", "5", "--seed", "2", "--sft", "long", "-o", str(sft)),
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in sft.read_text().splitlines()]
    assert [(x["prompt"], x["completion"]) for x in rows] == [
        (p["prompt"], p["meta"]["long"]) for p in written
    ]
    r = subprocess.run(
        ponder_cmd("synth", "linear", "--sft", "medium", "-o", str(tmp_path / "x.jsonl")),
        capture_output=True,
        text=True,
        env=env,
    )
    assert (
        r.returncode == 2 and r.stderr.strip() == "ponder: error: --sft: expected long or short, got 'medium'"
    )
    assert not (tmp_path / "x.jsonl").exists()

"""The pipeline family: every correct program form agrees with the independent ``solve`` (run in a real
Python subprocess), the teacher's slip fails exactly on the boundary, and inputs come from the statement only."""

import json
import random
import subprocess
import sys
from dataclasses import replace

import pytest

from ponder.tasks.code_pipeline import (
    CHANGES,
    KEEPS,
    REPORTS,
    all_programs,
    kept_by,
    none_kept_input,
    pipeline,
    sample_inputs,
    solve,
    statement,
)

_HARNESS = """
import io, json, sys
cases = json.load(sys.stdin)
outs = []
for src, stdin in cases:
    sys.stdin, buf = io.StringIO(stdin), io.StringIO()
    sys.stdout = buf
    exec(compile(src, "<program>", "exec"), {"__name__": "__main__"})
    sys.stdout = sys.__stdout__
    outs.append(buf.getvalue())
print(json.dumps(outs))
"""


def _run_all(cases: list[tuple[str, str]]) -> list[str]:
    """Stdout of each (program, stdin), all in one real Python subprocess."""
    res = subprocess.run(
        [sys.executable, "-c", _HARNESS], input=json.dumps(cases), capture_output=True, text=True, check=True
    )
    return json.loads(res.stdout)


def test_every_form_of_every_part_matches_solve():
    # Problems covering every keep, change and report, so every part and form is run at least once.
    problems = [p for k in KEEPS for p in pipeline(2, 7, keeps=(k,))]
    problems += [p for c in CHANGES for p in pipeline(2, 8, changes=(c,), reports=("list",))]
    problems += [p for r in REPORTS for p in pipeline(2, 9, reports=(r,))]
    cases, expected = [], []
    for p in problems:
        forms = all_programs(p.meta["template"], p.meta["params"])
        assert len(forms) >= 4  # several valid programs per problem
        assert p.meta["reference"] in forms
        for src in forms:
            for t in p.tests:
                cases.append((src, t["input"]))
                expected.append(t["output"])
    assert _run_all(cases) == expected


def test_solve_by_hand():
    # keep > 12 -> [13, 20]; times 3 -> [39, 60]; largest 60. Nothing kept -> 0.
    params = {"t": 12, "t1": 13, "tm1": 11, "k": 3, "a": 1, "m": 3}
    assert solve("greater/multiply/largest", params, "1 13 12 20\n") == "60\n"
    assert solve("greater/multiply/largest", params, "1 12\n") == "0\n"
    assert solve("odd/subtract/list", {**params, "a": 2}, "-3 4 5\n") == "-5 3\n"
    assert solve("multiple/none/count", params, "\n") == "0\n"
    assert statement("greater", "multiply", "largest", params) == (
        "Read a line of integers. Keep the numbers greater than 12. Multiply each kept number by 3. "
        "Print the largest of them, or 0 if none is kept."
    )


def test_inputs_depend_on_the_statement_only():
    p = pipeline(1, 3)[0]
    other_reference = replace(p, meta={**p.meta, "reference": "print(0)\n", "long": "x", "styles": []})
    assert sample_inputs(p, 10, seed=5) == sample_inputs(other_reference, 10, seed=5)
    xs = sample_inputs(p, 10, seed=5)
    assert len(xs) == len(set(xs)) == 10 and xs[0] == "\n"
    assert sample_inputs(p, 10, seed=6) != xs  # seeded apart from the hidden tests


def test_none_kept_input_keeps_nothing():
    for p in pipeline(40, 11):
        keep = p.meta["template"].split("/")[0]
        line = none_kept_input(random.Random(1), keep, p.meta["params"])
        assert line.strip()
        assert not any(kept_by(keep, int(x), p.meta["params"]) for x in line.split())


def test_deterministic_per_seed():
    assert [q.to_dict() for q in pipeline(5, 1)] == [q.to_dict() for q in pipeline(5, 1)]
    assert (
        pipeline(5, 1)[0].prompt != pipeline(5, 2)[0].prompt
        or pipeline(5, 1)[1].prompt != pipeline(5, 2)[1].prompt
    )


def test_teacher_slip_changes_only_boundary_outputs():
    """With slip_rate near 1 every comparison problem's SFT response holds the slip; the reference stays
    correct. The slip differs from the truth on a line holding the boundary and agrees on one without it."""
    problems = pipeline(40, 3, slip_rate=0.999, keeps=("greater", "at_most"), reports=("count",))
    assert all(p.meta["teacher_slip"] for p in problems)
    cases, expected = [], []
    for p in problems:
        t = p.meta["params"]["t"]
        slipped = p.meta["long"].removeprefix("```python\n").removesuffix("```")
        assert slipped != p.meta["reference"]
        for line, differs in ((f"{t}\n", True), (f"{t + 5} {t - 5}\n", False)):
            truth = solve(p.meta["template"], p.meta["params"], line)
            cases.append((slipped, line))
            expected.append((truth, differs))
    outs = _run_all(cases)
    for out, (truth, differs) in zip(outs, expected, strict=True):
        assert (out != truth) == differs


def test_parts_without_a_slip_keep_the_reference_and_rate_is_checked():
    for p in pipeline(10, 4, slip_rate=0.999, keeps=("even", "multiple")):
        assert not p.meta["teacher_slip"]
        assert p.meta["long"] == f"```python\n{p.meta['reference']}```"
    with pytest.raises(ValueError, match="slip_rate"):
        pipeline(1, 0, slip_rate=1.0)


def test_registered_family_and_its_sampler():
    """``make("pipeline")`` is the family; the shared sampler entry point and the input stage's check
    dispatch on it, and the tokenizer's corpus keeps its fixed families."""
    from ponder.tasks import synthetic

    problems = synthetic.make("pipeline", 3, 5, slip_rate=0.5)
    assert [p.to_dict() for p in problems] == [p.to_dict() for p in pipeline(3, 5, slip_rate=0.5)]
    p = problems[0]
    assert synthetic.has_sampler(p)
    assert synthetic.sample_inputs(p, 6, 2) == sample_inputs(p, 6, 2)
    code = synthetic.make("code", 1, 0)[0]
    assert synthetic.has_sampler(code) and not synthetic.has_sampler(replace(p, meta={}))
    assert "pipeline" not in synthetic.TOKENIZER_FAMILIES

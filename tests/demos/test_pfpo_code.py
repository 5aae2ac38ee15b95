"""``ponder demo pfpo-code`` at its smallest size: the report's numbers agree with the files they come from."""

import json
import subprocess

import pytest

from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow  # SFT of a nano model, sampling, sandbox runs and two DPO trainings: a few minutes
def test_demo_smoke_reports_measured_feedback_and_pass_at_1(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        ponder_cmd("demo", "pfpo-code", "--size", "smoke", "--seed", "0", "--out", str(out)),
        env=subprocess_env(**ENV),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert "pseudo_output_accuracy" in report and "pair_precision" in report
    assert set(report["pairs"]) == {"outcome", "process", "gold"}

    # The headline numbers are recomputed from the scores file the pairs were built from.
    scores = _lines(out / "pairs-policy.scores.jsonl")
    agree = [a for r in scores for a in r.get("reference_agrees", []) if a is not None]
    assert agree and report["pseudo_output_accuracy"] == approx(sum(agree) / len(agree), factor=4)
    diffs = [r["gold_passed"][i] - r["gold_passed"][j] for r in scores for i, j in r["pairs"]]
    assert report["pairs"]["outcome"] == len(_lines(out / "pairs-policy.jsonl")) == len(diffs) > 0
    assert report["pair_precision"] == approx(sum(d > 0 for d in diffs) / len(diffs), factor=4)
    for r in scores:  # every pair obeys the margin rule on the pseudo pass counts
        for i, j in r["pairs"]:
            assert r["passed"][i] - r["passed"][j] >= report["settings"]["pairs"]["margin"]

    # The stand-in pool (reference and buggy programs, half reference): the vote mostly finds the truth.
    variants = report["measurements"][1]
    assert variants["candidates"] == "variants"
    assert variants["pseudo_output_accuracy"] > 0.5 and variants["pairs"] > 0

    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows)[0] == "sft"
    assert "pfpo-code" in rows, "the smoke policy should write programs that give pairs"
    for name, r in rows.items():  # each row is its two evaluations' reports
        for key, kind in (("accuracy", "greedy"), ("pass@1_t1", "t1")):
            ev = json.loads((out / "eval" / f"{name}-{kind}" / "report.json").read_text())
            assert r[key] == ev["benchmarks"]["test"]["accuracy"]
    assert rows["pfpo-code"]["pairs"] == report["pairs"]["outcome"] + report["pairs"]["process"]
    assert (out / "report.png").stat().st_size > 1000
    assert "pair precision" in (out / "report.md").read_text()
    assert "pfpo-code" in proc.stdout

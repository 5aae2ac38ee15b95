"""``ponder demo pfpo-code`` at its smallest size: the report's numbers agree with the files they come from,
and the arms are step-matched."""

import json
import subprocess

import pytest

from ponder.feedback.code_headroom import code_headroom
from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _greedy(out, name, bench):
    return {
        r["id"]: r["correct"][0]
        for r in _lines(out / "eval" / f"{name}-greedy" / "samples" / f"{bench}.jsonl")
    }


@pytest.mark.slow  # SFT of a nano model, sampling, sandbox runs, two DPO trainings and one SFT: minutes
def test_demo_smoke_reports_preconditions_pairs_and_matched_arms(tmp_path):
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
    # The preconditions are printed before any training, and recomputed from the scores and greedy verdicts.
    assert proc.stdout.index("preconditions") < proc.stdout.index("PFPO-code demo")
    scores = _lines(out / "pseudo.scores.jsonl")
    head = code_headroom(scores, _greedy(out, "prompts-sft", "prompts"))
    for key, value in head.items():
        assert report["headroom"][key] == (value if value is None else approx(value, factor=4))
    assert report["pseudo_output_accuracy"] == approx(head["pseudo_output_accuracy"], factor=4)

    # Pairs: the pseudo and gold files cut to the same count; precision recomputed from the trained pairs.
    pairs = report["pairs"]
    assert pairs["outcome"] == len(_lines(out / "pseudo.jsonl")) and pairs["gold"] == len(
        _lines(out / "gold.jsonl")
    )
    matched = min(pairs["outcome"], pairs["gold"])
    assert pairs["matched"] == matched > 0, "the smoke policy should write programs that give pairs"
    used = _lines(out / "iter1.pairs.jsonl")
    assert len(used) == len(_lines(out / "dpo-gold-pairs.pairs.jsonl")) == matched
    diffs = [p["meta"]["chosen_gold_passed"] - p["meta"]["rejected_gold_passed"] for p in used]
    assert report["pair_precision"]["outcome"] == approx(sum(d > 0 for d in diffs) / len(diffs), factor=4)

    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["sft", "iter1", "dpo-gold-pairs", "sft-chosen"]
    assert rows["iter1"]["steps"] == rows["dpo-gold-pairs"]["steps"] == rows["sft-chosen"]["steps"] > 0
    sft = _greedy(out, "sft", "test")
    for name, r in rows.items():  # each row is its evaluations' reports, and its change against sft
        for key, kind in (("accuracy", "greedy"), ("pass1_sampled", "t1")):
            ev = json.loads((out / "eval" / f"{name}-{kind}" / "report.json").read_text())
            assert r[key] == ev["benchmarks"]["test"]["accuracy"]
        after = _greedy(out, name, "test")
        assert r["gained"] == sum(after[k] and not sft[k] for k in sft)
        assert r["lost"] == sum(sft[k] and not after[k] for k in sft)
    for name in ("iter1", "dpo-gold-pairs"):
        d = rows[name]["likelihood"]
        assert d["steps"] == rows[name]["steps"] and d["displaced"] == (d["chosen_logp_change"] < 0)
    assert (out / "report.png").stat().st_size > 1000
    assert "headroom" in (out / "report.md").read_text()

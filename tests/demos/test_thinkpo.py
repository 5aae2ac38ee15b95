"""``ponder demo thinkpo`` at its smallest size: the report's structure, and proof that training moved the model."""

import json
import subprocess

import pytest

from ponder.demos.thinkpo_report import style_stats
from ponder.tasks.neighbour_sum import searched
from tests.helpers import approx, ponder_cmd, subprocess_env

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}
# The smallest run that still yields pairs: the short-CoT model must learn to box a letter, so that some
# short answers are right (pairs need a right short answer).
SMALLEST = [
    "train_problems=600",
    "short_problems=200",
    "test_problems=16",
    "eval_samples=2",
    "short_model_steps=80",
    "thinkpo.sft.epochs=3",
]


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _max_change(a, b):
    return max((a[k] - b[k]).abs().max().item() for k in a)


@pytest.mark.slow
def test_demo_smallest_reports_and_moves_the_model(tmp_path):
    out = tmp_path / "demo"
    cmd = ponder_cmd("demo", "thinkpo", "--seed", "0", "--out", str(out), *SMALLEST)
    done = subprocess.run(cmd, env=subprocess_env(**ENV), capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| thinkpo |" in done.stdout and "ThinkPO vs SFT continued" in done.stdout
    # the preconditions are printed before ThinkPO runs
    assert done.stdout.index("preconditions (SFT model)") < done.stdout.index("4/6 ThinkPO")

    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["sft", "sft-continued", "thinkpo"]
    for name, r in rows.items():  # each row is its evaluation's report, and its answers' styles
        ev = json.loads((out / "eval" / name / "report.json").read_text())["benchmarks"]["test"]
        assert [r[k] for k in ("accuracy", "mean_tokens", "pass@2", "maj@2")] == [
            ev[k] for k in ("accuracy", "mean_tokens", "pass@2", "maj@2")
        ]
        assert (
            r["long_share"]
            == style_stats(out / "eval" / name / "samples" / "test.jsonl", searched)["long_share"]
        )
    v = report["verdict"]
    t, c = rows["thinkpo"], rows["sft-continued"]
    assert v["accuracy_vs_control"] == approx(t["accuracy"] - c["accuracy"], factor=4)
    assert v["mean_tokens_vs_control"] == approx(t["mean_tokens"] - c["mean_tokens"], factor=4)
    assert v["thinkpo_above_control"] == (v["accuracy_vs_control"] > 0 and v["mean_tokens_vs_control"] > 0)
    assert report["pairs"]["kept"] > 0
    assert report["training"]["thinkpo"]["steps"] == report["training"]["sft-continued"]["steps"] > 0
    assert (out / "report.png").stat().st_size > 1000
    assert "| sft-continued |" in (out / "report.md").read_text()

    # Training moved the model: ThinkPO and the control differ from the SFT model they started from, and
    # DPO raised log p(chosen) - log p(rejected) on its own pairs (its implicit reward margin, over beta).
    sft = _weights(out / "thinkpo" / "sft" / "model")
    assert _max_change(_weights(out / "thinkpo" / "dpo" / "model"), sft) > 1e-4
    assert _max_change(_weights(out / "sft-continued" / "model"), sft) > 1e-4
    assert report["reward_margin"]["sft"] == 0.0
    assert report["reward_margin"]["thinkpo"] > 0.0
    assert rows["thinkpo"]["pair_margin"] > rows["sft"]["pair_margin"]
    metrics = [
        json.loads(line) for line in (out / "thinkpo" / "dpo" / "metrics.jsonl").read_text().splitlines()
    ]
    assert metrics and all(m["loss"] == m["loss"] for m in metrics)  # finite (not NaN)

    # Started again on the same folder: every stage is found finished, the same report comes back.
    again = subprocess.run(cmd, env=subprocess_env(**ENV), capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "report.json").read_text())["rows"] == report["rows"]

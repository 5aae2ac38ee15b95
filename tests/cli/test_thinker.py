"""The Thinker commands from the command line: train rl, thinker infer, eval --thinker.

Exit codes and one-line errors are checked in a subprocess (``ponder`` as users run it); the commands that load
a model run in-process through typer's runner, which is the same code without a second interpreter start.
"""

import json
import subprocess

import pytest
from typer.testing import CliRunner

from ponder.cli import app
from ponder.errors import PonderError
from tests.helpers import ponder_cmd, subprocess_env


def run(*args, timeout=300):
    return subprocess.run(
        ponder_cmd(*args), capture_output=True, text=True, timeout=timeout, env=subprocess_env()
    )


def invoke(*args):
    """Run a command in-process; a PonderError propagates (``main`` turns it into the one-line exit 2)."""
    result = CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)
    return result


def write_problems(path, with_answers=True):
    rows = [
        {"id": f"p{i}", "prompt": f"Compute {i} + 2.", **({"answer": str(i + 2)} if with_answers else {})}
        for i in range(3)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_help_shows_examples_and_config():
    for cmd in (["train", "rl"], ["thinker", "infer"], ["demo", "thinker"]):
        r = invoke(*cmd, "--help")
        assert r.exit_code == 0 and f"Example: ponder {' '.join(cmd)}" in r.output
    r = invoke("train", "rl", "--show-config")
    assert (
        "thinker.verify_budget_tokens (int, default 6000)" in r.output
        and "critic_lr (float, default 5e-06)" in r.output
    )


def test_train_rl_bad_input_is_one_line(tmp_path, tiny_model_dir):
    data = write_problems(tmp_path / "p.jsonl", with_answers=False)
    r = run(
        "train", "rl", "--model", str(tiny_model_dir), "--data", str(data), "--output", str(tmp_path / "o")
    )
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"ponder: error: {data}:1: field 'answer': missing: RL rewards need the gold answer"
    ]
    with pytest.raises(PonderError, match="samples_per_prompt >= 2"):
        invoke("train", "rl", "--model", "m", "--data", data, "--output", "o", "algo=grpo")
    with pytest.raises(PonderError, match="did you mean 'fast_budget_tokens'"):
        invoke("train", "rl", "--model", "m", "--data", data, "--output", "o", "thinker.fast_budget=3")


def test_thinker_infer_writes_episodes(tmp_path, tiny_model_dir):
    src = write_problems(tmp_path / "p.jsonl", with_answers=False)
    out = tmp_path / "episodes.jsonl"
    r = invoke(
        "thinker",
        "infer",
        "--model",
        tiny_model_dir,
        "--input",
        src,
        "--output",
        out,
        "--n",
        "2",
        "--threads",
        "1",
        "fast_budget_tokens=4",
        "verify_budget_tokens=4",
        "slow_budget_tokens=4",
        "summary_budget_tokens=4",
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["episodes"] == 6 and summary["accuracy"] is None
    assert set(summary["tokens_per_stage"]) == {"fast", "verify", "slow", "summary"}
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 6 and all(t["num_tokens"] <= 4 for ep in lines for t in ep["turns"])
    with pytest.raises(PonderError, match="fast_budget_tokens"):
        invoke(
            "thinker", "infer", "--model", tiny_model_dir, "--input", src, "--output", out, "fast_budget=4"
        )


def test_eval_thinker_reports_tokens_per_stage(tmp_path, tiny_model_dir):
    bench = write_problems(tmp_path / "bench.jsonl")
    cfg = tmp_path / "thinker.yaml"
    cfg.write_text(
        "fast_budget_tokens: 4\nverify_budget_tokens: 5\nslow_budget_tokens: 6\nsummary_budget_tokens: 3\n"
    )
    out = tmp_path / "eval"
    r = invoke(
        "eval",
        "--model",
        tiny_model_dir,
        "--benchmarks",
        f"{bench}:boxed",
        "--out",
        out,
        "--n",
        "2",
        "--threads",
        "1",
        "--thinker",
        "--thinker-config",
        cfg,
    )
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    s = report["benchmarks"]["bench"]
    assert set(s["mean_stage_tokens"]) == {"fast", "verify", "slow", "summary"}
    assert s["mean_stage_tokens"]["fast"] <= 4 and s["mean_tokens"] <= 4 + 5 + 6 + 3
    row = report["rows"][0]
    assert "tokens_verify" in row
    samples = [json.loads(x) for x in (out / "samples" / "bench.jsonl").read_text().splitlines()]
    assert all(len(s["meta"]["stages"]) == 2 for s in samples)
    with pytest.raises(PonderError, match="choose one of --thinker and --thinker-fast"):
        invoke(
            "eval",
            "--model",
            tiny_model_dir,
            "--benchmarks",
            bench,
            "--out",
            tmp_path / "e2",
            "--thinker",
            "--thinker-fast",
        )

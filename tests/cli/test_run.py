"""`ponder run` on the ThinkPO recipe with a model that already writes long CoT: pairs, DPO, resume."""

import json
import subprocess
from pathlib import Path

from ponder.io import write_records
from ponder.tasks.synthetic import make
from tests.helpers import ponder_cmd, subprocess_env

TINY = Path(__file__).resolve().parents[2] / "ponder" / "recipes" / "configs" / "thinkpo-tiny.yaml"


def test_run_pairs_and_dpo_then_resume(tmp_path, tiny_model_dir):
    problems = make("arithmetic", 12, seed=5)
    long = [
        {"id": p.id, "prompt": p.prompt, "completion": p.meta["long"], "answer": p.answer} for p in problems
    ]
    short = [
        {
            "id": p.id,
            "prompt": p.prompt,
            "responses": [p.meta["short"]],
            "finish_reasons": ["stop"],
            "num_tokens": [20],
            "answer": p.answer,
        }
        for p in problems
    ]
    write_records(tmp_path / "long.jsonl", long)
    write_records(tmp_path / "short.jsonl", short)
    out = tmp_path / "run"
    args = [
        "run",
        str(TINY),
        f"model={tiny_model_dir}",
        f"long={tmp_path / 'long.jsonl'}",
        f"short.samples={tmp_path / 'short.jsonl'}",
        f"output={out}",
        "dpo.max_steps=2",
        "dpo.pairs_per_step=4",
    ]
    r = subprocess.run(ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert r.returncode == 0, r.stderr
    assert "ThinkPO pairs: kept 12 of 12 long solutions" in r.stdout
    summary = json.loads((out / "thinkpo.json").read_text())
    assert summary["pairs"]["kept"] == 12 and summary["dpo"]["steps"] == 2
    assert summary["sft_model"] == str(tiny_model_dir) and "sft" not in summary  # no sft_data: no SFT stage
    metrics = [json.loads(line) for line in (out / "dpo" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2]
    assert (out / "dpo" / "model" / "model.safetensors").exists()

    # Again without resume: refused, nothing touched. With resume=true: every stage is found finished.
    r = subprocess.run(ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(), timeout=600)
    assert r.returncode == 2 and "already holds a run; pass resume=true" in r.stderr
    r = subprocess.run(
        ponder_cmd(*args, "resume=true"), capture_output=True, text=True, env=subprocess_env(), timeout=600
    )
    assert r.returncode == 0, r.stderr
    again = json.loads((out / "thinkpo.json").read_text())
    assert again["dpo"]["final"] == summary["dpo"]["final"]
    assert len((out / "pairs" / "pairs.jsonl").read_text().splitlines()) == 12


def test_run_rejects_a_config_without_recipe(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("model: m\n")
    r = subprocess.run(
        ponder_cmd("run", str(bad)), capture_output=True, text=True, env=subprocess_env(), timeout=120
    )
    assert r.returncode == 2
    assert r.stderr.strip().startswith(f"ponder: error: {bad}: cannot tell the recipe from the file name")

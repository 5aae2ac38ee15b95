"""``ponder demo pfpo`` at its smallest size: killed mid-run and resumed, then the report's structure and
proof that training moved the model."""

import json
import os
import signal
import subprocess
import time

import pytest

from tests.helpers import fp32_tol, ponder_cmd, subprocess_env

ENV = {"OMP_NUM_THREADS": "1", "PONDER_NO_PROGRESS": "1"}


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.slow
def test_demo_smallest_survives_kill_9_and_reports(tmp_path):
    out = tmp_path / "demo"
    cmd = ponder_cmd("demo", "pfpo", "--size", "smallest", "--seed", "0", "--out", str(out))
    # First run: killed (SIGKILL, the whole process group) as soon as iteration 1 starts training.
    proc = subprocess.Popen(
        cmd,
        env=subprocess_env(**ENV),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = out / "pfpo" / "iter1" / "pairs_process.done.json"
    deadline = time.monotonic() + 600
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), "iteration 1 never reached training"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "report.json").exists()
    sampled_at = (out / "pfpo" / "iter1" / "sample.done.json").stat().st_mtime_ns
    # Second run: resumes; the finished steps of iteration 1 are not run again.
    done = subprocess.run(cmd, env=subprocess_env(**ENV), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "pfpo" / "iter1" / "sample.done.json").stat().st_mtime_ns == sampled_at
    assert "| iter2 |" in done.stdout

    report = json.loads((out / "report.json").read_text())
    rows = {r["name"]: r for r in report["rows"]}
    assert list(rows) == ["sft", "iter1", "iter2", "iter1-outcome-only", "iter1-gold-labels", "sft-chosen"]
    for name, folder in (
        ("sft", "pfpo/iter0"),
        ("iter1", "pfpo/iter1"),
        ("iter2", "pfpo/iter2"),
        ("iter1-outcome-only", "iter1-outcome-only/iter1"),
        ("iter1-gold-labels", "iter1-gold-labels/iter1"),
    ):
        ev = json.loads((out / folder / "eval.done.json").read_text())["metrics"]
        assert (rows[name]["accuracy"], rows[name]["mean_tokens"]) == (ev["accuracy"], ev["mean_tokens"])
    for name, r in rows.items():  # every row sampled on the same set: pass@1 and maj@8 from its own samples
        ev = json.loads((out / "checks" / f"{name}-sampled" / "report.json").read_text())["benchmarks"][
            "sampled"
        ]
        assert (r["pass1_sampled"], r["maj_at_k"]) == (ev["pass@1"], ev["maj@8"])
    for name in ("iter1", "iter2"):
        r = rows[name]
        label = json.loads((out / "pfpo" / name / "label.done.json").read_text())
        assert r["prompts"] == 32 and (r["labelled"], r["label_accuracy"]) == (
            label["kept"],
            label["label_accuracy"],
        )
        assert r["outcome_pairs"] > 0
    # the controls train as many steps as iteration 1, from the same SFT model
    steps = json.loads((out / "pfpo" / "iter1" / "train.done.json").read_text())["steps"]
    assert [rows[n]["steps"] for n in ("iter1", "iter1-outcome-only", "iter1-gold-labels", "sft-chosen")] == [
        steps
    ] * 4
    # the outcome-only arm: the same seeded samples, labels and outcome pairs as iteration 1, no prefix pairs
    arm, it1 = rows["iter1-outcome-only"], rows["iter1"]
    assert arm["process_pairs"] == 0
    assert [arm[k] for k in ("prompts", "labelled", "label_accuracy", "outcome_pairs")] == [
        it1[k] for k in ("prompts", "labelled", "label_accuracy", "outcome_pairs")
    ]
    same = [
        (out / "pfpo" / "iter1" / f).read_text() == (out / "iter1-outcome-only" / "iter1" / f).read_text()
        for f in ("samples.jsonl", "pairs_outcome.jsonl")
    ]
    assert same == [True, True]
    # the gold-label arm labels the same samples by the gold answer: every prompt kept
    gold = json.loads((out / "iter1-gold-labels" / "iter1" / "label.done.json").read_text())
    assert (
        gold["kept"] == 32
        and (out / "iter1-gold-labels" / "iter1" / "samples.jsonl").read_text()
        == (out / "pfpo" / "iter1" / "samples.jsonl").read_text()
    )
    # iteration 1's preconditions were counted on its own labelled samples
    labelled = [json.loads(x) for x in (out / "pfpo" / "iter1" / "labelled.jsonl").read_text().splitlines()]
    head = report["headroom"]["iter1_prompts"]
    assert head["problems"] == 32 and head["kept"] == sum(r.get("label") is not None for r in labelled) / 32
    assert (out / "report.png").stat().st_size > 1000 and (out / "report.md").exists()
    # fresh prompts per iteration: no prompt is sampled twice
    prompts = [
        {
            json.loads(line)["prompt"]
            for line in (out / "pfpo" / f"iter{k}" / "problems.jsonl").read_text().splitlines()
        }
        for k in (1, 2)
    ]
    assert prompts[0].isdisjoint(prompts[1])

    # Training moved the model: every iteration's weights differ from its starting point, and its DPO
    # run logged steps with a finite loss.
    sft = _weights(out / "sft" / "model")
    it1 = _weights(out / "pfpo" / "iter1" / "train" / "model")
    it2 = _weights(out / "pfpo" / "iter2" / "train" / "model")
    # (an AdamW step moves weights by about lr = 3e-5; a copy differs by nothing, rounding by ~1e-7 of |w|)
    for before, after in ((sft, it1), (it1, it2)):
        size = max(before[k].abs().max().item() for k in before)
        moved = max((after[k] - before[k]).abs().max().item() for k in before)
        assert moved > fp32_tol(size, 64), (moved, size)
    metrics = [
        json.loads(line)
        for line in (out / "pfpo" / "iter1" / "train" / "metrics.jsonl").read_text().splitlines()
    ]
    assert metrics and all(m["loss"] == m["loss"] for m in metrics)

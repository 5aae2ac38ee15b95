"""PFPO-code's pair building with its sandbox jobs on a Ray cluster (``pytest -m ray``; needs the ray extra):
``ponder pairs code --ray-address`` on a head started here on 127.0.0.1 with 2 workers writes, record for
record, what the local pool writes."""

import json
import random
import subprocess

import pytest

from ponder.io import write_records
from ponder.pairs.code_stage import CodePairSettings, run_code_pairs
from ponder.records import Sample
from ponder.tasks.synthetic import make, sample_inputs
from tests.helpers import ponder_cmd, subprocess_env

pytestmark = pytest.mark.ray


def variant_samples(problems, n: int, seed: int) -> list[Sample]:
    """Per problem, ``n`` programs drawn from the reference (probability 0.5) and the family's buggy variants
    (the rest, evenly), fenced as a policy writes them: outputs that disagree, so votes and pairs form."""
    out = []
    for p in problems:
        rng = random.Random(f"variants\x00{seed}\x00{p.id}")
        kinds = list(p.meta["buggy"])
        texts = [
            f"```python\n{p.meta['reference'] if rng.random() < 0.5 else p.meta['buggy'][rng.choice(kinds)]}```"
            for _ in range(n)
        ]
        prompt = [{"role": "user", "content": p.prompt}]
        out.append(
            Sample(id=p.id, prompt=prompt, responses=texts, finish_reasons=["stop"] * n, num_tokens=[0] * n)
        )
    return out


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_code_pairs_on_two_ray_workers_equal_the_local_run(tmp_path, ray_head):
    problems = make("code", 6, seed=5)
    for p in problems:  # the stage's input: each problem with its test inputs (`ponder tests generate`)
        p.meta["test_inputs"] = sample_inputs(p, 8, 11)
    write_records(tmp_path / "problems.jsonl", problems)
    write_records(tmp_path / "samples.jsonl", variant_samples(problems, 8, seed=3))
    rules = {"margin": 2, "min_success": 3, "lower_bound": 0.5, "score_gold": True}
    local = run_code_pairs(
        tmp_path / "problems.jsonl",
        tmp_path / "samples.jsonl",
        tmp_path / "local.jsonl",
        CodePairSettings(workers=2, **rules),
    )
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in rules.items() if k != "score_gold"]
    on_ray = ["--ray-address", ray_head.address, "--workers", "2", "--cpus-per-worker", "1"]
    r = subprocess.run(
        ponder_cmd(
            "pairs",
            "code",
            "--problems",
            str(tmp_path / "problems.jsonl"),
            "--samples",
            str(tmp_path / "samples.jsonl"),
            "--output",
            str(tmp_path / "ray.jsonl"),
            "--score-gold",
            *flags,
            *on_ray,
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    pairs = lines(tmp_path / "ray.jsonl")
    assert pairs == lines(tmp_path / "local.jsonl") and local["pairs"] == len(pairs) > 0
    # the per-problem scores too, fingerprints included: where programs ran is no part of what they depend on
    assert lines(tmp_path / "ray.scores.jsonl") == lines(tmp_path / "local.scores.jsonl")
    summary = json.loads((tmp_path / "ray.summary.json").read_text())
    measured = ("pseudo_output_accuracy", "pair_precision", "chosen_correct_share", "kept_test_share")
    assert {k: summary[k] for k in measured} == {k: local[k] for k in measured}

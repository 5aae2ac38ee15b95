"""``ponder demo thinker`` at its smallest size: the report's structure, and that RL moved both arms."""

import json

import pytest
import torch

from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


@pytest.mark.slow
def test_demo_smoke(tmp_path):
    from safetensors.torch import load_file

    from ponder.demos.thinker import SIZES, run_demo

    out = tmp_path / "demo"
    report = run_demo(seed=0, out=out, size="smoke", threads=1)
    saved = json.loads((out / "report.json").read_text())
    assert saved["rows"] == report["rows"]
    names = [r["name"] for r in saved["rows"]]
    assert {"baseline", "baseline-fast-budget", "thinker", "thinker-fast"} <= set(names)
    # the preconditions are the SFT model's inference dialogues: the same numbers as its rows
    pre, sft_rows = saved["preconditions"], {r["name"]: r for r in saved["rows"]}
    assert pre["baseline_accuracy"] == approx(sft_rows["sft-baseline"]["accuracy"], factor=4)
    assert pre["thinker_accuracy"] == approx(sft_rows["sft-thinker"]["accuracy"], factor=4)
    assert sum(pre["verify_counts"].values()) == SIZES["smoke"].test_problems * SIZES["smoke"].eval_samples
    assert json.loads((out / "preconditions.json").read_text()) == pre
    for row in saved["rows"]:  # each row is its evaluation's report
        ev = json.loads((out / "eval" / row["name"] / "report.json").read_text())["benchmarks"][
            "neighbour-sum-test"
        ]
        assert (row["accuracy"], row["mean_tokens"]) == (ev["accuracy"], ev["mean_tokens"])
    by_name = {r["name"]: r for r in saved["rows"]}
    assert set(k for k in by_name["thinker"] if k.startswith("tokens_")) >= {"tokens_fast", "tokens_verify"}
    assert by_name["thinker-fast"]["mean_tokens"] == approx(by_name["thinker-fast"]["tokens_fast"], factor=4)
    # the inference-mode verification matrix: every judged fast answer counted once, rates consistent with it
    thinker = by_name["thinker"]
    counts = {
        k: thinker[f"verify_{k}"] for a in ("right", "wrong") for k in (f"{a}_yes", f"{a}_no", f"{a}_none")
    }
    judged = sum(counts.values())
    assert 0 < judged <= SIZES["smoke"].test_problems * SIZES["smoke"].eval_samples
    assert thinker["said_yes"] == approx((counts["right_yes"] + counts["wrong_yes"]) / judged, factor=4)
    assert thinker["verify_accuracy"] == approx((counts["right_yes"] + counts["wrong_no"]) / judged, factor=4)
    assert "said_yes" not in by_name["thinker-fast"]
    assert set(saved["rl"]["thinker"]["last_verification"]) == set(counts)
    # the fast-budget baseline is the baseline cut to Fast Thinking's budget
    assert by_name["baseline-fast-budget"]["mean_tokens"] <= by_name["baseline"]["mean_tokens"]
    for png in ("report.png", "tradeoff.png", "training_curves.png"):
        assert (out / png).stat().st_size > 1000
    assert "| name |" in (out / "report.md").read_text()
    # equal budgets: each arm stopped at the first step that reached the rollout-token budget
    budget = SIZES["smoke"].rollout_tokens
    for arm in ("baseline", "thinker"):
        assert saved["rl"][arm]["rollout_tokens"] >= budget
        rows = [json.loads(x) for x in (out / f"rl-{arm}" / "metrics.jsonl").read_text().splitlines()]
        assert [r["rollout_tokens_total"] >= budget for r in rows] == [False] * (len(rows) - 1) + [True]
    # training moved the model: SFT changed the random model; RL changed the SFT model in every arm whose
    # rollouts carried a learning signal. At smoke size an arm may earn no reward at all; PPO then has zero
    # advantages (the critic's value head starts at 0) and must leave the policy exactly as it was.
    weights = {
        name: load_file(str(out / name / "model.safetensors"))
        for name in ("base", "sft1/model", "sft/model", "rl-baseline/model", "rl-thinker/model")
    }
    key = "model.layers.0.mlp.up_proj.weight"
    assert not torch.equal(weights["base"][key], weights["sft1/model"][key])
    assert not torch.equal(weights["sft1/model"][key], weights["sft/model"][key])
    for arm in ("baseline", "thinker"):
        rows = [json.loads(x) for x in (out / f"rl-{arm}" / "metrics.jsonl").read_text().splitlines()]
        # the critic warm-up steps leave the policy as it was whatever their advantages
        signal = any(r["advantages/abs_mean"] > 0 and r["policy_updated"] for r in rows)
        assert torch.equal(weights["sft/model"][key], weights[f"rl-{arm}/model"][key]) is not signal, arm
    assert set(saved["seconds"]) >= {"sft", "rl_baseline", "rl_thinker", "eval", "total"}

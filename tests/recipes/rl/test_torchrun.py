"""RL data-parallel under torchrun: two gloo processes train exactly as one process does, and resume."""

import json
import shutil

from safetensors.torch import load_file

from ponder.recipes import rl
from ponder.train.checkpoint import list_checkpoints
from ponder.train.metrics import read_metrics
from tests.helpers import approx, assert_close, torchrun
from tests.recipes.rl.conftest import BASE, config

STAGES = ("fast", "verify", "slow", "summary")
# The Thinker task at its smallest with everything computed over the whole step: the trailing accuracy p that
# every verification reward reads, PPO advantages whitened over the step's tokens, the critic, a KL term to
# a reference model. 5 problems x 2 dialogues: process 0 rolls out 3 problems, process 1 two (uneven shares:
# one process runs an empty micro-batch). A small trailing window, so the order of the fast outcomes counts.
SETTINGS = [
    "env=thinker",
    "algo=ppo",
    "prompts_per_step=5",
    "samples_per_prompt=2",
    "max_steps=2",
    "save_every=1",
    "keep_checkpoints=null",
    "actor_lr=1e-3",
    "kl_coef=0.1",
    "tokens_per_microbatch=64",
    "minibatches_per_step=2",
    "thinker.trailing_window=7",
    "seed=3",  # a seed whose two steps have different p (a p that never moves would compare nothing)
    *(f"thinker.prompts.{s}={{question}}" for s in STAGES),
    *(f"thinker.{s}_budget_tokens=8" for s in STAGES),
]
# Losses and rewards: sums of log-probs of order 1 reduced in another order on two processes (as for SFT and
# DPO in tests/train/test_distributed.py); weights at the model's weight scale (norm weights: 1), after AdamW
# steps whose per-element division magnifies the last-bit differences of tiny gradients.
FACTOR = 256
KEYS = ("policy_loss", "value_loss", "kl", "advantages/abs_mean", "values/mean", "grad_norm_actor")
EXACT = ("dialogues", "samples", "rollout_tokens", "rollout_tokens_total", "verify/p", "fast/reward")


def _run_cli(model, data, out, *extra):
    args = ["train", "rl", "--model", str(model), "--data", str(data), "--output", str(out)]
    return torchrun(*args, *BASE, *SETTINGS, *extra)


def _assert_same(a, b):
    ra, rb = read_metrics(a / "metrics.jsonl"), read_metrics(b / "metrics.jsonl")
    assert [r["step"] for r in ra] == [r["step"] for r in rb] == [1, 2]
    for x, y in zip(ra, rb, strict=True):
        for key in EXACT:
            assert x[key] == y[key], (key, x[key], y[key])
        for key in KEYS:
            assert x[key] == approx(y[key], factor=FACTOR, scale=1.0), (key, x[key], y[key])
    for step in (1, 2):  # the same dialogues, texts and rewards, in the same order
        name = f"episodes/step-{step:06d}.jsonl"
        ea = [json.loads(x) for x in (a / name).read_text().splitlines()]
        eb = [json.loads(x) for x in (b / name).read_text().splitlines()]
        assert [e["id"] for e in ea] == [e["id"] for e in eb] and len(ea) == 10
        assert [[t["response"] for t in e["turns"]] for e in ea] == [
            [t["response"] for t in e["turns"]] for e in eb
        ]
        assert [[t["reward"] for t in e["turns"]] for e in ea] == [
            [t["reward"] for t in e["turns"]] for e in eb
        ]
    for folder, file in (("model", "model.safetensors"), ("critic", "model.safetensors")):
        wa, wb = load_file(str(a / folder / file)), load_file(str(b / folder / file))
        assert wa.keys() == wb.keys()
        for k in wa:
            assert_close(wa[k], wb[k], factor=FACTOR, scale=1.0)


def test_two_gloo_processes_train_rl_as_one_and_resume(coin_model, tmp_path):
    """Same steps, same problems, same seeds on 1 and on 2 processes: the same dialogues and rewards, losses
    and weights equal within fp32 reduction-order rounding; process 0 alone wrote the files; a run resumed
    under torchrun from its step-1 checkpoint ends where the uninterrupted one does."""
    model, data = coin_model
    one = tmp_path / "one"
    rl.run(config(model, data, one, *SETTINGS))
    two = tmp_path / "two"
    _run_cli(model, data, two)
    _assert_same(two, one)
    rows = read_metrics(one / "metrics.jsonl")
    assert {"slow/reward", "summary/reward"} <= set(rows[0]) | set(rows[1])  # all four stages trained
    assert len({r["verify/p"] for r in rows}) == 2  # p moved with the step's fast answers
    assert [c.name for c in list_checkpoints(two)] == ["step-000001"]
    assert (
        not list(two.glob("**/*.partial*")) and json.loads((two / "summary.json").read_text())["steps"] == 2
    )

    for name in ("model", "critic", "summary.json", "checkpoints/step-000002"):
        path = two / name
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    _run_cli(model, data, two, "resume=true")
    assert json.loads((two / "summary.json").read_text())["resumed_from"] == 1
    _assert_same(two, one)

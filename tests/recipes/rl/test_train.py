"""The RL recipe on a tiny model: it learns a trivially learnable task, logs its named stages, resumes exactly."""

import json
import shutil

import pytest
import torch

from ponder.recipes import rl
from ponder.recipes.rl.train import STAGE_NAMES
from ponder.train.checkpoint import list_checkpoints
from tests.helpers import approx, assert_close
from tests.recipes.rl.conftest import QUESTION, RIGHT, WRONG, config


def answer_probs(model_dir) -> tuple[float, float]:
    """Exact probabilities of the full answers '\\boxed{7}<|im_end|>' and '\\boxed{8}<|im_end|>'."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True
    )
    out = []
    for answer in (RIGHT, WRONG):
        p = tok(prompt, add_special_tokens=False)["input_ids"]
        r = tok(answer + "<|im_end|>", add_special_tokens=False)["input_ids"]
        ids = torch.tensor([p + r])
        with torch.no_grad():
            logp = torch.log_softmax(model(ids).logits[0, len(p) - 1 : -1].float(), -1)
        out.append(float(logp.gather(-1, torch.tensor(r)[:, None]).sum().exp()))
    return out[0], out[1]


@pytest.mark.parametrize("algo", ["ppo", "grpo"])
def test_rl_raises_the_reward_of_a_trivially_learnable_task(coin_model, tmp_path, algo):
    """Reward 1 for answering 7, 0 for 8. Before RL the SFT'd policy says 7 about half the time; after four RL
    steps the exact probability of the rewarded answer has grown by at least 0.15 and the wrong one shrunk."""
    model, data = coin_model
    right0, wrong0 = answer_probs(model)
    assert 0.2 < right0 < 0.8 and 0.2 < wrong0 < 0.8  # the SFT made a coin: both answers likely
    extra = ["max_steps=4", "actor_lr=1e-3"] + (
        ["samples_per_prompt=4", "prompts_per_step=4"] if algo == "grpo" else []
    )
    summary = rl.run(config(model, data, tmp_path / "run", f"algo={algo}", *extra))
    right1, wrong1 = answer_probs(summary["model"])
    assert right1 > right0 + 0.15 and wrong1 < wrong0
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_metrics_name_and_time_each_stage_and_the_critic_is_saved(coin_model, tmp_path):
    model, data = coin_model
    out = tmp_path / "run"
    summary = rl.run(config(model, data, out, "algo=ppo", "max_steps=1", "actor_lr=1e-4"))
    rec = summary["final"]
    for stage in STAGE_NAMES:  # the run's time of each stage is its steps' times summed
        assert summary["stage_seconds"][stage] == rec[f"time/{stage}"]
    for key in (
        "answer/reward",
        "answer/accuracy",
        "answer/tokens",
        "rollout_tokens",
        "policy_loss",
        "value_loss",
        "clip_fraction",
        "values/explained_variance",
    ):
        assert key in rec, key
    assert rec["rollout_tokens"] == summary["rollout_tokens"] > 0
    assert (out / "critic" / "value_head.safetensors").exists() and (out / "model" / "config.json").exists()
    assert (out / "episodes" / "step-000001.jsonl").exists()


def test_killed_run_resumes_to_the_same_result(coin_model, tmp_path):
    """Uninterrupted 2 steps vs the same run cut after the step-1 checkpoint and resumed: same metrics, same
    weights (data order, rollout seeds, optimizer, RNG and trailing accuracy all come back)."""
    model, data = coin_model
    extra = ["algo=ppo", "max_steps=2", "save_every=1", "actor_lr=1e-3", "keep_checkpoints=null"]
    full = rl.run(config(model, data, tmp_path / "a", *extra))
    b = tmp_path / "b"
    rl.run(config(model, data, b, *extra))
    assert [c.name for c in list_checkpoints(b)] == ["step-000001"]
    for name in ("model", "critic", "summary.json"):  # what a run killed during step 2 would not have written
        path = b / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    resumed = rl.run(config(model, data, b, *extra, "resume=true"))
    assert resumed["resumed_from"] == 1
    rows_a = [json.loads(x) for x in (tmp_path / "a" / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_b] == [1, 2]
    # A resumed run replays the same arithmetic on the same CPU: 4 roundings of the value (losses of order 1).
    for key in ("answer/reward", "rollout_tokens", "policy_loss", "value_loss", "rollout_tokens_total"):
        assert rows_b[1][key] == approx(rows_a[1][key], factor=4, scale=1.0), key
    from safetensors.torch import load_file

    wa = load_file(str(tmp_path / "a" / "model" / "model.safetensors"))
    wb = load_file(str(b / "model" / "model.safetensors"))
    for k in wa:
        assert_close(wa[k], wb[k], factor=4, scale=1.0)  # weights at the model's scale (norm weights: 1)
    assert full["rollout_tokens"] == resumed["rollout_tokens"]


def test_training_problems_need_answers(tmp_path, tiny_model_dir):
    from ponder.errors import InputError

    data = tmp_path / "p.jsonl"
    data.write_text(
        json.dumps({"id": "a", "prompt": "Compute 1 + 1.", "answer": "2"})
        + "\n"
        + json.dumps({"id": "b", "prompt": "Compute 2 + 2."})
        + "\n"
    )
    with pytest.raises(InputError, match=r"p.jsonl:2: field 'answer'"):
        rl.run(config(tiny_model_dir, data, tmp_path / "run"))


def test_thinker_four_stages_end_to_end(coin_model, tmp_path):
    """PPO on the Thinker task at its smallest: the coin policy answers 7 or 8 at every stage, so dialogues whose
    fast answer is wrong go on to Slow Thinking, and those whose slow answer is right to Summarization. Two steps
    train every stage's samples: each stage is logged with its reward, the four-stage dialogues are written, and
    PPO moved the policy (the fast stage's answers carry a learning signal)."""
    from safetensors.torch import load_file

    model, data = coin_model
    names = ("fast", "verify", "slow", "summary")
    stages = [f"thinker.prompts.{s}={{question}}" for s in names] + [
        f"thinker.{s}_budget_tokens=8" for s in names
    ]
    out = tmp_path / "run"
    summary = rl.run(
        config(model, data, out, "env=thinker", "algo=ppo", "max_steps=2", "actor_lr=1e-3", *stages)
    )
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for stage in ("fast", "verify"):
        assert all(f"{stage}/reward" in r for r in rows), stage
    episodes = [json.loads(x) for x in (out / "episodes" / "step-000001.jsonl").read_text().splitlines()]
    paths = {tuple(t["stage"] for t in ep["turns"]) for ep in episodes}
    assert ("fast", "verify") in paths and ("fast", "verify", "slow", "summary") in paths
    for ep in episodes:  # training transitions follow the ground truth, not the verdict
        fast = ep["turns"][0]
        assert (len(ep["turns"]) == 2) == (fast["correct"] and fast["finish_reason"] != "length")
    before = load_file(str(model / "model.safetensors"))
    after = load_file(str(out / "model" / "model.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert summary["env"] == "thinker" and summary["rollout_tokens"] > 0

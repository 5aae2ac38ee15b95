"""``ponder train rl`` (GRPO on QA) on a real pretrained model: rewards are the grader's and the update follows
the advantages."""

import pytest
import torch

from ponder.io import write_records
from ponder.records import Episode, Problem, read_records
from tests.real_model import ponder

pytestmark = pytest.mark.real


def test_one_rl_step_rewards_are_the_graders_and_the_update_follows_the_advantages(real_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    from ponder.verify.rules import grade_with

    problems = [
        Problem(id=f"p{i}", prompt=f"What is {a} + {b}?", answer=str(a + b))
        for i, (a, b) in enumerate([(2, 3), (10, 10)])
    ]
    write_records(tmp_path / "p.jsonl", problems)
    ponder(
        *("train", "rl", "--env", "qa", "--algo", "grpo", "--model", str(real_model_dir)),
        *("--data", str(tmp_path / "p.jsonl"), "--output", str(tmp_path / "run")),
        *(
            "prompts_per_step=2",
            "samples_per_prompt=4",
            "max_steps=1",
            "qa.budget_tokens=48",
            "actor_lr=1e-5",
        ),
        *("qa.grading_rule=number", "threads=1", "seed=100"),
    )
    episodes = list(read_records(tmp_path / "run" / "episodes" / "step-000001.jsonl", Episode))
    gold = {p.id: p.answer for p in problems}
    assert len(episodes) == 8
    rewards = {}
    for ep in episodes:
        (turn,) = ep.turns
        expected = grade_with("number", turn["response"], gold[ep.id.split("#")[0]]).correct
        assert float(turn["reward"]) == float(expected)
        rewards.setdefault(ep.id.split("#")[0], []).append(float(turn["reward"]))
    before = AutoModelForCausalLM.from_pretrained(real_model_dir).state_dict()
    after = AutoModelForCausalLM.from_pretrained(tmp_path / "run" / "model").state_dict()
    moved = any(not torch.equal(before[k], after[k]) for k in before)
    # GRPO: a group whose rewards are all equal has zero advantage; only mixed groups move the policy.
    assert moved == any(len(set(r)) > 1 for r in rewards.values())

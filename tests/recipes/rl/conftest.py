"""The RL tests' policy: the nano model made a coin between a right and a wrong answer by a little SFT."""

import json

import pytest
import torch

from ponder.config import load_config
from ponder.io import write_records
from ponder.recipes.rl.config import RLConfig
from ponder.records import Problem
from tests.helpers import sft_tiny

QUESTION = "Compute 3 + 4."
RIGHT, WRONG = "\\boxed{7}", "\\boxed{8}"


@pytest.fixture(scope="module")
def coin_model(tiny_model_dir, tmp_path_factory):
    """The nano model after a little SFT on one question answered half the time right (7) and half wrong (8):
    a policy with reward rate about 1/2 that RL can push to 1 by answering 7."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("coin")
    data = root / "sft.jsonl"
    rows = [
        {"prompt": [{"role": "user", "content": QUESTION}], "completion": RIGHT if i % 2 else WRONG}
        for i in range(32)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = sft_tiny(tiny_model_dir, data, root / "sft")
    problems = root / "problems.jsonl"
    write_records(problems, [Problem(id=f"q{i}", prompt=QUESTION, answer="7") for i in range(64)])
    return model, problems


# The overrides every test run starts from: single-turn QA with an 8-token answer, 16 problems a step.
BASE = [
    "env=qa",
    "qa.prompts.qa={question}",
    "qa.budget_tokens=8",
    "prompts_per_step=16",
    "threads=1",
    "temperature=1.0",
    "critic_lr=1e-3",
]


def config(model, data, out, *extra) -> RLConfig:
    return load_config(RLConfig, overrides=[f"model={model}", f"data={data}", f"output={out}", *BASE, *extra])

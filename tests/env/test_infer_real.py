"""``ponder thinker infer`` on a real pretrained model: the stages the verdict asks for, each one greedy chat turn."""

import pytest

from ponder.generation.base import SamplingParams
from ponder.io import write_records
from ponder.records import Episode, Problem, read_records
from tests.real_model import ponder

pytestmark = pytest.mark.real


def test_thinker_infer_runs_the_stages_the_verdict_asks_for(real_model_dir, real_generator, tmp_path):
    problems = [Problem(id="p0", prompt="What is 17 + 25?", answer="42")]
    write_records(tmp_path / "p.jsonl", problems)
    budgets = [
        "fast_budget_tokens=48",
        "verify_budget_tokens=48",
        "slow_budget_tokens=48",
        "summary_budget_tokens=48",
    ]
    ponder(
        *("thinker", "infer", "--model", str(real_model_dir), "-i", str(tmp_path / "p.jsonl")),
        *("-o", str(tmp_path / "e.jsonl"), "--n", "1", "--temperature", "0", "--threads", "1", *budgets),
    )
    (ep,) = read_records(tmp_path / "e.jsonl", Episode)
    stages = [t["stage"] for t in ep.turns]
    assert stages[:2] == ["fast", "verify"]
    verdict = ep.turns[1].get("verdict")
    assert stages == (["fast", "verify"] if verdict == "yes" else ["fast", "verify", "slow", "summary"])
    # Each stage is one greedy chat turn on the dialogue so far (earlier questions and answers, then the stage's
    # question): the same text as a direct generate of those messages.
    messages = []
    for turn in ep.turns:
        messages.append({"role": "user", "content": turn["user"]})
        direct = real_generator.generate(
            [list(messages)], SamplingParams(n=1, temperature=0, max_new_tokens=48)
        )
        assert turn["response"] == direct[0][0].text, turn["stage"]
        messages.append({"role": "assistant", "content": turn["response"]})
    assert "17 + 25" in ep.turns[0]["user"]

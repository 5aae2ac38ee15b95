"""``ponder train sft`` and ``train dpo`` on a real pretrained model: first losses equal transformers' own
(masked NLL; ln 2 for DPO), and repeated steps lower them."""

import json
import math

import pytest
import torch

from tests.real_model import CONVERSATIONS, EPS32, metrics, ponder, reference

pytestmark = pytest.mark.real


def hf_assistant_loss(model_dir, tok, messages) -> float:
    """Token-mean NLL of the assistant tokens (the template's rendering, masked as in tests/train/test_encode_real.py)."""
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

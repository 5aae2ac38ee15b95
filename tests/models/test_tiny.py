import hashlib
import subprocess

import torch

from ponder.models.tiny import IM_END, build_tiny_model, count_parameters
from tests.helpers import ponder_cmd, subprocess_env


def _digest(folder):
    h = hashlib.sha256()
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()


def test_presets_have_the_documented_sizes():
    assert 0.4e6 < count_parameters("nano") < 0.7e6
    assert 2.5e6 < count_parameters("micro") < 4e6
    assert 15e6 < count_parameters("small") < 25e6


def test_loads_offline_and_round_trips(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert model.config.model_type == "qwen2"
    text = "Step 1: 3 + 4 = 7.\nSo the answer is \\boxed{7}. déjà ∑ ```python\nprint(1)\n```"
    ids = tok(text)["input_ids"]
    assert tok.decode(ids) == text
    # The reloaded tokenizer (Qwen2's pre-tokenizer rebuilt by transformers) gives the same ids as the trained one.
    from ponder.models.tiny import train_tokenizer

    assert train_tokenizer()(text)["input_ids"] == ids
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits
    assert logits.shape == (1, len(ids), model.config.vocab_size)


def test_chat_template_marks_exactly_the_response(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "A 1"},
    ]
    full = tok.apply_chat_template(msgs, tokenize=False)
    prompt = tok.apply_chat_template(msgs[:2], tokenize=False, add_generation_prompt=True)
    assert full == prompt + "A 1" + IM_END
    enc = tok.apply_chat_template(msgs, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    marked = [i for i, m in zip(enc["input_ids"], enc["assistant_masks"], strict=True) if m]
    assert tok.decode(marked) == "A 1" + IM_END
    assert tok.eos_token == IM_END


def test_deterministic_per_seed(tmp_path, tiny_model_dir):
    again = build_tiny_model(tmp_path / "again", "nano", seed=0)
    other = build_tiny_model(tmp_path / "other", "nano", seed=1)
    assert _digest(again) == _digest(tiny_model_dir)
    assert _digest(other) != _digest(tiny_model_dir)


def test_cli(tmp_path):
    r = subprocess.run(
        ponder_cmd("tiny-model", str(tmp_path / "m"), "--preset", "nano", "--seed", "3"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "m" / "model.safetensors").exists() and "parameters" in r.stdout
    r = subprocess.run(
        ponder_cmd("tiny-model", str(tmp_path / "x"), "--preset", "huge"),
        capture_output=True,
        text=True,
        env=subprocess_env(),
    )
    assert (
        r.returncode == 2
        and r.stderr.strip()
        == "ponder: error: --preset: unknown preset 'huge'; choose one of nano, micro, small"
    )

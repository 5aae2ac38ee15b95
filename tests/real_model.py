"""What the tests on a real pretrained model (SmolLM2-135M-Instruct, ``make real-model``; marker ``real``)
share: the conversations, the chat template's own assistant-token mask, and ``ponder`` run as a user would.

The model folder comes from the ``real_model_dir`` fixture (tests/conftest.py).
"""

import json
import subprocess

from tests.helpers import THREADS_ENV, ponder_cmd, subprocess_env

EPS32 = 1.19e-7
DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
QUESTIONS = ["What is 17 + 25?", "Write a Python function add(a, b) that returns a + b."]
CONVERSATIONS = [
    [
        {"role": "user", "content": "What is 17 + 25?"},
        {"role": "assistant", "content": "17 + 25 = 42.\nThe answer is \\boxed{42}."},
    ],
    [
        {"role": "system", "content": "Answer in one line."},
        {"role": "user", "content": "Write add(a, b)."},
        {"role": "assistant", "content": "```python\ndef add(a, b):\n    return a + b\n```"},
        {"role": "user", "content": "Now subtract."},
        {"role": "assistant", "content": "def sub(a, b): return a - b"},
    ],
]


def reference(tok, messages):
    """(token ids of the full rendering, which of them are assistant tokens)."""
    text = tok.apply_chat_template(messages, tokenize=False)
    spans, pos = [], 0
    for m in messages:
        if m["role"] != "assistant":
            continue
        start = text.index("<|im_start|>assistant\n" + m["content"], pos) + len("<|im_start|>assistant\n")
        end = start + len(m["content"]) + len("<|im_end|>")
        assert text[end - len("<|im_end|>") : end] == "<|im_end|>"
        spans.append((start, end))
        pos = end
    enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
    mask = [any(s <= a and b <= e for s, e in spans) for a, b in enc["offset_mapping"]]
    # No token straddles a span's edge: the turn boundaries are special tokens and newlines.
    for a, b in enc["offset_mapping"]:
        assert not any(a < s < b or a < e < b for s, e in spans)
    return enc["input_ids"], mask, text


def ponder(*args):
    """Run ``ponder ARGS`` in a subprocess with one torch thread; its stdout (it must succeed)."""
    r = subprocess.run(
        ponder_cmd(*args), capture_output=True, text=True, env=subprocess_env(**THREADS_ENV), timeout=1800
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def metrics(run) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


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

"""Helpers shared by tests: run ``ponder`` in a subprocess with this interpreter and this checkout; a model that
answers ``ok 42``; a ``ponder serve`` subprocess."""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ponder_cmd(*args: str) -> list[str]:
    """The command line to run ``ponder`` in a subprocess with this interpreter."""
    return [sys.executable, "-m", "ponder", *args]


def subprocess_env(**extra: str) -> dict:
    """The environment for a subprocess: this checkout first on PYTHONPATH, offline, no progress bars."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


ANSWER = "ok 42"

# One torch thread in these tests and their subprocesses: the models are tiny (per-op overhead dominates), and on
# a machine shared with other jobs two spinning threads per process were measured 4-20x slower than one.
THREADS_ENV = {"OMP_NUM_THREADS": "1"}


def fine_tune(src: Path, dst: Path, conversations: list[list[dict]], steps: int, lr: float = 3e-3) -> Path:
    """Copy the model at ``src`` to ``dst`` and fine-tune it on ``conversations``: ``steps`` full-batch AdamW
    steps, loss on the assistant tokens only (the chat template's generation mask), one torch thread."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shutil.copytree(src, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    model = AutoModelForCausalLM.from_pretrained(dst)
    enc = [
        tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        for c in conversations
    ]
    width = max(len(e["input_ids"]) for e in enc)
    ids = torch.full((len(enc), width), tok.pad_token_id)
    labels = torch.full((len(enc), width), -100)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for k, e in enumerate(enc):
        n = len(e["input_ids"])
        row = torch.tensor(e["input_ids"])
        ids[k, :n] = row
        mask[k, :n] = 1
        labels[k, :n] = torch.where(torch.tensor(e["assistant_masks"]).bool(), row, -100)
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # session fixtures run before the per-test thread fixture
    try:
        for _ in range(steps):
            model(input_ids=ids, attention_mask=mask, labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(dst)
    return dst


def chat(prompt: str, answer: str) -> list[dict]:
    """One user turn and its assistant answer."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def train_chatty(src: Path, dst: Path, steps: int = 40) -> Path:
    """The model at ``src`` fine-tuned to answer any user message with ``ANSWER``: 40 full-batch steps on 32
    conversations take the loss from ~6.4 to ~0.03, and greedy decoding then gives exactly ANSWER + eos."""
    return fine_tune(src, dst, [chat(f"What is {i} + {i * 3 % 17}?", ANSWER) for i in range(32)], steps)


class Server:
    """A ``ponder serve`` subprocess on 127.0.0.1 and a free port chosen by the system."""

    def __init__(self, model_dir: Path, name: str, log_path: Path):
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ponder_cmd("serve", str(model_dir), "--port", "0", "--name", name, "--batch-size", "16"),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=subprocess_env(**THREADS_ENV),
        )
        self.url = self._wait_for_url()
        self.name = name

    def _wait_for_url(self, timeout_s: float = 120) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            m = re.search(r"at (http://127\.0\.0\.1:\d+/v1)", self.log_path.read_text())
            if m:
                return m.group(1)
            if self.proc.poll() is not None:
                raise RuntimeError(f"ponder serve exited:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        raise RuntimeError("ponder serve did not start in time")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def grads(model):
    """Every gradient of a model as one flat tensor."""
    import torch

    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])

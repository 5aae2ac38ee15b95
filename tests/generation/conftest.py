"""Fixtures for the generation tests: a model that answers every question with ``ok 42`` and then its
end-of-turn token (so eos handling is checked against a known answer), and a live ``ponder serve``."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import ponder_cmd, subprocess_env

ANSWER = "ok 42"

# One torch thread in these tests and their subprocesses: the models are tiny (per-op overhead dominates), and on
# a machine shared with other jobs two spinning threads per process were measured 4-20x slower than one.
THREADS_ENV = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train_chatty(src: Path, dst: Path, steps: int = 40) -> Path:
    """Copy the model at ``src`` to ``dst`` and fine-tune it to answer any user message with ``ANSWER``.

    40 full-batch AdamW steps on 32 conversations, loss on the assistant tokens only (the chat template's
    generation mask); the loss falls from ~6.4 to ~0.03, and greedy decoding then gives exactly ANSWER + eos.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    shutil.copytree(src, dst)
    tok = AutoTokenizer.from_pretrained(dst)
    model = AutoModelForCausalLM.from_pretrained(dst)
    convs = [
        [
            {"role": "user", "content": f"What is {i} + {i * 3 % 17}?"},
            {"role": "assistant", "content": ANSWER},
        ]
        for i in range(32)
    ]
    enc = [
        tok.apply_chat_template(c, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        for c in convs
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
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # runs before the module-scoped thread fixture (session scope comes first)
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


@pytest.fixture(scope="session")
def chatty_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The nano tiny model fine-tuned to answer ``ok 42`` (read-only)."""
    return train_chatty(tiny_model_dir, tmp_path_factory.mktemp("chatty") / "chatty")


class Server:
    """A ``ponder serve`` subprocess on 127.0.0.1 and a free port chosen by the system."""

    def __init__(self, model_dir: Path, name: str, log_path: Path, extra: tuple[str, ...] = ()):
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ponder_cmd("serve", str(model_dir), "--port", "0", "--name", name, "--batch-size", "16", *extra),
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


@pytest.fixture(scope="session")
def chatty_server(chatty_model_dir, tmp_path_factory):
    server = Server(chatty_model_dir, "chatty", tmp_path_factory.mktemp("serve") / "serve.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_server(tiny_model_dir, tmp_path_factory):
    server = Server(tiny_model_dir, "nano", tmp_path_factory.mktemp("serve") / "serve.log")
    yield server
    server.stop()


# --------------------------------------------------------------------------- ponder generate, killed and resumed


def generate_args(tmp_path: Path, model: Path, seed: int) -> list[str]:
    """``ponder generate`` options for the resume tests: problems in ``tmp_path/p.jsonl``, 2 samples of up to
    40 tokens per problem, batches of 4 (so records appear one batch at a time)."""
    return [
        "--model",
        str(model),
        "--input",
        str(tmp_path / "p.jsonl"),
        "--n",
        "2",
        "--max-new-tokens",
        "40",
        "--batch-size",
        "4",
        "--seed",
        str(seed),
    ]


def start_generate(args: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ponder_cmd("generate", *args, "--output", str(out)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=subprocess_env(**THREADS_ENV),
    )


def lines_of(path: Path) -> list[str]:
    return path.read_bytes().decode().splitlines() if path.exists() else []


def wait_for_lines(proc: subprocess.Popen, path: Path, n: int, timeout_s: float = 300) -> None:
    """Wait until ``path`` holds ``n`` lines (or the process ends, or ``timeout_s`` passes)."""
    deadline = time.monotonic() + timeout_s
    while len(lines_of(path)) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)

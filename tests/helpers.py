"""Helpers shared by tests: run ``ponder`` in a subprocess with this interpreter and this checkout; a model that
answers ``ok 42``; a ``ponder serve`` subprocess; ``ponder generate`` killed and resumed; float tolerances; an
evaluation's samples file."""

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


def torchrun(*args: str, check: bool = True, popen: bool = False):
    """``ponder ARGS`` on two processes under torchrun (gloo on CPU; one torch thread each): the completed
    process (asserted to succeed unless ``check`` is false), or with ``popen`` the running one."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "ponder", *args]
    env = subprocess_env(OMP_NUM_THREADS="1", PONDER_NO_PROGRESS="1")
    if popen:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    if check:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


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


def sft_tiny(model_dir: Path, data: Path, out: Path) -> Path:
    """``model_dir`` after ponder's SFT recipe on ``data`` into ``out``: 40 steps of 16 examples at a constant
    lr of 3e-3, enough for the tiny models to learn fixed answers. Returns the trained model's folder."""
    from ponder.recipes.sft import SFTConfig, run

    cfg = SFTConfig(
        model=str(model_dir),
        data=[str(data)],
        output=str(out),
        lr=3e-3,
        max_steps=40,
        examples_per_step=16,
        warmup_ratio=0.0,
        lr_schedule="constant",
        tensorboard=False,
    )
    return Path(run(cfg)["model"])


def chat(prompt: str, answer: str) -> list[dict]:
    """One user turn and its assistant answer."""
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]


def train_chatty(src: Path, dst: Path, steps: int = 40) -> Path:
    """The model at ``src`` fine-tuned to answer any user message with ``ANSWER``: 40 full-batch steps on 32
    conversations take the loss from ~6.4 to ~0.03, and greedy decoding then gives exactly ANSWER + eos."""
    return fine_tune(src, dst, [chat(f"What is {i} + {i * 3 % 17}?", ANSWER) for i in range(32)], steps)


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


def grads(model):
    """Every gradient of a model as one flat tensor."""
    import torch

    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


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


def _lines(text: str) -> list[str]:
    # only "\n" ends a JSON line: str.splitlines() also splits at U+2028, U+0085 and others, which JSON
    # written with ensure_ascii=False keeps raw inside a model's text
    return text.split("\n") if text else []


def lines_of(path: Path) -> list[str]:
    return _lines(path.read_bytes().decode().removesuffix("\n")) if path.exists() else []


def complete_lines_of(path: Path) -> list[str]:
    """The lines of ``path`` that end in a newline: a process killed mid-write may leave a torn last line."""
    return _lines(path.read_bytes().rpartition(b"\n")[0].decode()) if path.exists() else []


def wait_for_lines(proc: subprocess.Popen, path: Path, n: int, timeout_s: float = 300) -> None:
    """Wait until ``path`` holds ``n`` lines (or the process ends, or ``timeout_s`` passes)."""
    deadline = time.monotonic() + timeout_s
    while len(lines_of(path)) < n and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


# --------------------------------------------------------------------------- float tolerances
# fp32 rounds each result to 24 bits: relative error up to FP32_EPS / 2 per operation. CPUs of one kind
# differ in how they block and order sums (SIMD width, AMX tiles), so fp32 results agree only to a few
# units of FP32_EPS times the magnitude of what was summed. Every float comparison in the tests allows
# FP32_EPS x magnitude x factor, the factor justified where it is used (about the number of roundings
# the two sides can differ by). float64 results (plain Python arithmetic) use the same bound: it is far
# looser than their own rounding and far tighter than any real mistake.
FP32_EPS = 2.0**-23  # 1.19e-7
# One bf16 rounding counted in fp32 roundings: bf16 keeps 8 significant bits, fp32 24.
BF16_ROUNDINGS = 2**16
_REPORT = os.environ.get("PONDER_TOLERANCE_REPORT")  # a file: each comparison appends its measured factor


def fp32_tol(magnitude: float, factor: float) -> float:
    """The absolute tolerance for values of size ``magnitude`` that may differ by ``factor`` roundings."""
    return FP32_EPS * abs(float(magnitude)) * factor


def _magnitude(values, scale: float | None) -> float:
    flat = list(values.values()) if isinstance(values, dict) else values
    flat = list(flat) if isinstance(flat, list | tuple) else [flat]
    return max([abs(float(v)) for v in flat] + [abs(scale or 0.0)])


def approx(expected, *, factor: float, scale: float | None = None):
    """``pytest.approx(expected)`` within ``fp32_tol(magnitude, factor)``; the magnitude is the largest
    ``|expected|`` (numbers, lists or dicts of numbers) or ``scale`` when given (use it for an expected 0,
    with the size of what was added up to it)."""
    import pytest

    return pytest.approx(expected, rel=0, abs=fp32_tol(_magnitude(expected, scale), factor))


def assert_close(actual, expected, *, factor: float, scale: float | None = None) -> None:
    """Tensors equal in shape and dtype and within ``fp32_tol(magnitude, factor)`` elementwise, where the
    magnitude is ``max |expected|`` (or ``scale`` when larger: the size of the terms summed into it)."""
    import torch

    expected = torch.as_tensor(expected).detach()
    magnitude = max(float(expected.abs().max()) if expected.numel() else 0.0, abs(scale or 0.0))
    tol = fp32_tol(magnitude, factor)
    if _REPORT:  # measured factor, allowed factor, largest difference, magnitude
        diff = (
            float((torch.as_tensor(actual).double() - expected.double()).abs().max())
            if expected.numel()
            else 0.0
        )
        with open(_REPORT, "a") as fh:
            test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
            fh.write(
                f"{test} {diff / max(fp32_tol(magnitude, 1), 1e-300):.3g} {factor} {diff:.3g} {magnitude:.3g}\n"
            )
    torch.testing.assert_close(actual, expected, atol=tol, rtol=0)


def assert_exact(actual, expected) -> None:
    """Tensors equal to the last bit: for results of exact arithmetic (integers, sums and products of
    dyadic fractions such as 0.25 or 1.875), which every IEEE machine computes alike."""
    import torch

    torch.testing.assert_close(actual, torch.as_tensor(expected), atol=0, rtol=0)


def write_samples(path, correct: dict) -> Path:
    """An evaluation samples file at ``path``: one Sample per ``{problem id: [graded right, ...]}``."""
    from ponder.io import write_records
    from ponder.records import Sample

    rows = [
        Sample(
            id=i,
            prompt="q",
            responses=["r"] * len(c),
            finish_reasons=["stop"] * len(c),
            num_tokens=[1] * len(c),
            correct=c,
        )
        for i, c in correct.items()
    ]
    write_records(path, rows)
    return Path(path)

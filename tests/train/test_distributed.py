"""Real processes: a run killed with SIGKILL resumes to the uninterrupted trace; two gloo processes equal one."""

import dataclasses
import signal
import subprocess
import time

import torch
from safetensors.torch import load_file

from ponder.recipes import dpo, sft
from ponder.train.metrics import read_metrics
from tests.helpers import approx, assert_close, ponder_cmd, subprocess_env, torchrun

# Two gloo processes all-reduce gradients in another order than one process sums them. Metrics (losses and
# rewards sum log-probs of order 1) differ by that rounding. Weights differ by more: AdamW divides each
# element's step by the root of its second moment, so for elements whose gradient is tiny a difference of a
# few eps x the batch's gradient scale becomes a visible part of their step. They are compared at the
# model's weight scale (1: the norm weights) rather than each tensor's own (measured here: at most 1.8e-6,
# 15 x eps; a rank training on the wrong data moves weights by ~lr = 1e-3). A resumed run replays the same
# arithmetic: 4 roundings.
FACTOR = 256


def _env():
    return subprocess_env(OMP_NUM_THREADS="1", PONDER_NO_PROGRESS="1")


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _assert_same_run(a, b, keys=("loss",), factor=FACTOR):
    ra, rb = read_metrics(a / "metrics.jsonl"), read_metrics(b / "metrics.jsonl")
    assert [r["step"] for r in ra] == [r["step"] for r in rb]
    for x, y in zip(ra, rb, strict=True):
        for key in keys:
            # losses and rewards sum log-probs of order 1 (their own value can be near 0); lr is a product
            assert x[key] == approx(y[key], factor=factor, scale=None if key == "lr" else 1.0), (key, x, y)
    wa, wb = _weights(a / "model"), _weights(b / "model")
    assert wa.keys() == wb.keys()
    for name in wa:
        assert_close(wa[name], wb[name], factor=factor, scale=1.0)


def test_killed_run_resumes_to_the_uninterrupted_trace(tmp_path, tiny_model_dir, pair_file):
    torch.set_num_threads(1)
    args = dict(pairs_per_step=4, max_steps=30, lr=1e-3, warmup_ratio=0.1, tokens_per_microbatch=300)
    overrides = [f"{k}={v}" for k, v in args.items()] + ["save_every=3", "tensorboard=false"]
    out = tmp_path / "killed"
    cmd = ponder_cmd(
        "train",
        "dpo",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(pair_file),
        "--output",
        str(out),
        *overrides,
    )
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (out / "checkpoints" / "step-000006").exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL  # it was interrupted, not finished
    assert not (out / "model").exists()

    resumed = subprocess.run([*cmd, "--resume"], env=_env(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "step 30: loss" in resumed.stdout

    whole = tmp_path / "whole"
    cfg = dpo.DPOConfig(
        model=str(tiny_model_dir),
        data=[str(pair_file)],
        output=str(whole),
        save_every=3,
        tensorboard=False,
        **args,
    )
    dpo.run(cfg)
    _assert_same_run(out, whole, keys=("loss", "rewards_chosen", "margin", "lr"), factor=4)
    # Resuming a finished run does nothing and returns its summary.
    before = (whole / "metrics.jsonl").read_text()
    again = dpo.run(dataclasses.replace(cfg, resume=True))
    assert again["final"]["step"] == 30 and (whole / "metrics.jsonl").read_text() == before


def test_two_gloo_processes_equal_one_process(tmp_path, tiny_model_dir, pair_file, sft_file):
    """Same global batch (8 pairs / 8 examples per step) on 1 and on 2 processes: same losses and weights."""
    torch.set_num_threads(1)
    common = ["lr=1e-3", "max_steps=3", "tokens_per_microbatch=400", "tensorboard=false", "warmup_ratio=0"]
    torchrun(
        "train",
        "dpo",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(pair_file),
        "--output",
        str(tmp_path / "dpo2"),
        "pairs_per_step=8",
        *common,
    )
    dpo.run(
        dpo.DPOConfig(
            model=str(tiny_model_dir),
            data=[str(pair_file)],
            output=str(tmp_path / "dpo1"),
            pairs_per_step=8,
            lr=1e-3,
            max_steps=3,
            tokens_per_microbatch=400,
            tensorboard=False,
            warmup_ratio=0,
        )
    )
    _assert_same_run(
        tmp_path / "dpo2", tmp_path / "dpo1", keys=("loss", "rewards_chosen", "rewards_rejected")
    )
    two = read_metrics(tmp_path / "dpo2/metrics.jsonl")
    assert all(r["pairs"] == 8 for r in two) and two[-1]["loss"] < two[0]["loss"]

    torchrun(
        "train",
        "sft",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(sft_file),
        "--output",
        str(tmp_path / "sft2"),
        "examples_per_step=8",
        *common,
    )
    sft.run(
        sft.SFTConfig(
            model=str(tiny_model_dir),
            data=[str(sft_file)],
            output=str(tmp_path / "sft1"),
            examples_per_step=8,
            lr=1e-3,
            max_steps=3,
            tokens_per_microbatch=400,
            tensorboard=False,
            warmup_ratio=0,
        )
    )
    _assert_same_run(tmp_path / "sft2", tmp_path / "sft1", keys=("loss", "response_tokens"))

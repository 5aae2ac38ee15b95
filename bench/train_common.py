"""Shared pieces of the training benchmarks (ponder vs TRL): model, threads, timing, the report."""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("PONDER_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def setup(threads: int) -> None:
    import torch
    from transformers.utils import logging

    torch.set_num_threads(threads)
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def build_model(folder: Path, preset: str) -> Path:
    from ponder.models.tiny import build_tiny_model

    if not (folder / "model.safetensors").exists():
        build_tiny_model(folder, preset, seed=0)
    return folder


def trl_clock():
    """A TrainerCallback recording each step's wall time and logged loss."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self):
            self.times: list[float] = []
            self.losses: list[float] = []
            self._t = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._t = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._t)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return Clock()


def ponder_step_times(metrics_path: Path) -> tuple[list[float], list[float]]:
    """Per-step losses and wall times from a ponder run's metrics.jsonl."""
    import json

    rows = [json.loads(x) for x in metrics_path.read_text().splitlines() if x.strip()]
    return [r["loss"] for r in rows], [r["tokens"] / r["tokens_per_s"] for r in rows]


def report(
    title: str,
    useful_tokens_per_step: list[int],
    runs: dict[str, tuple[list[float], list[float]]],
    notes: list[str],
) -> None:
    """Print a table (tokens/s per side), the largest per-step loss difference and ``ratio: X`` last.

    Speed is each step's useful tokens / its wall time, over steps 2..n (the first step, with its
    allocations, is left out). The ratio uses the fastest step of each side: other work on a shared
    machine can only slow a step down, so the fastest step is the best estimate of what the code does
    alone (as ``timeit`` takes the minimum). The median step and the overall rate are printed too.
    """
    print(f"## {title}")
    for line in notes:
        print(f"- {line}")
    print()
    print(
        "| side | steps | tokens/s (fastest step) | tokens/s (median step) | tokens/s (steps 2..n overall) |"
    )
    print("|---|---|---|---|---|")
    speed = {}
    for name, (_, times) in runs.items():
        rates = [n / t for n, t in zip(useful_tokens_per_step, times, strict=True)][1:] or [0.0]
        speed[name] = max(rates)
        overall = sum(useful_tokens_per_step[1:]) / max(sum(times[1:]), 1e-9)
        print(
            f"| {name} | {len(times)} | {speed[name]:,.0f} | {statistics.median(rates):,.0f} | {overall:,.0f} |"
        )
    print()
    for name, (_, times) in runs.items():
        print(f"{name} step seconds: " + " ".join(f"{t:.3f}" for t in times))
    (a_losses, _), (b_losses, _) = runs["ponder"], runs["trl"]
    diff = max(abs(a - b) for a, b in zip(a_losses, b_losses, strict=True))
    print(
        "per-step loss (ponder/trl): "
        + " ".join(f"{a:.6f}/{b:.6f}" for a, b in zip(a_losses, b_losses, strict=True))
    )
    print(f"largest per-step loss difference: {diff:.2e}")
    print(f"ratio: {speed['ponder'] / speed['trl']:.2f}")

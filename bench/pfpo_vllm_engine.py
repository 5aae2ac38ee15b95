"""Seconds per PFPO iteration with the vllm backend: a new engine for every stage against one engine kept warm.

The PFPO demo's smallest size (pfpo-math-tiny.yaml: its nano model after SFT on running sums, 32 fresh prompts
x 4 samples per iteration, 64 test sums, 2 iterations), run twice with ``generation.backend=vllm`` -- the same
model, data, seeds and steps -- once with ``warm_engine=false`` (each generating stage -- sampling, prefix
completions, evaluation -- starts and closes its own vLLM engine) and once with ``warm_engine=true`` (one
engine for the run; each iteration's policy is reloaded into it). An iteration's seconds are its steps'
``step_seconds`` summed (``OUT/iterK/*.done.json``); iteration 0 only evaluates the SFT model. CPU seconds
are the whole run's, this process and those engine processes already reaped when the run returns (a warm
engine's may not be yet: then the figure is this process's alone). Runs in the vLLM venv:

    .venv-vllm/bin/python bench/pfpo_vllm_engine.py [--threads 1]

Last line: ``ratio: X`` = seconds per iteration (1 and 2) with new engines / with the warm engine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PONDER_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cpu_seconds() -> float:
    """User + system seconds of this process and of its children that have exited."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def iteration_seconds(run: Path, k: int) -> dict[str, float]:
    """``step -> seconds`` of iteration ``k``."""
    steps = {}
    for done in sorted((run / f"iter{k}").glob("*.done.json")):
        steps[done.name.removesuffix(".done.json")] = json.loads(done.read_text())["step_seconds"]
    return steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=100)
    args = ap.parse_args()

    import torch

    from ponder.demos.pfpo import ITERATIONS, SIZES, _data, _sft, recipe_config
    from ponder.models.tiny import build_tiny_model
    from ponder.recipes.pfpo import math as pfpo

    torch.set_num_threads(args.threads)
    size = SIZES["smallest"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = _data(root, args.seed, size, ITERATIONS)
        build_tiny_model(root / "base", "nano", args.seed)
        sft_model = _sft(root, root / "base", paths["sft"], args.seed, size)
        results = {}
        for name, warm in (("new engine every stage", False), ("warm engine, reload", True)):
            out = root / ("warm" if warm else "new")
            more = (
                "generation.backend=vllm",
                f"warm_engine={str(warm).lower()}",
                f"generation.threads={args.threads}",
            )
            cpu = cpu_seconds()
            pfpo.run(recipe_config(out, args.seed, size, paths, str(sft_model), *more))
            cpu = cpu_seconds() - cpu
            steps = [iteration_seconds(out / "pfpo", k) for k in range(ITERATIONS + 1)]
            results[name] = (steps, cpu)
    print(f"PFPO math, demo size smallest, {ITERATIONS} iterations, backend vllm, {args.threads} thread(s)")
    print(
        f"{'run':<24} {'iter0 s':>8} {'iter1 s':>8} {'iter2 s':>8} {'per iteration s':>16} {'CPU s (run)':>12}"
    )
    per = {}
    for name, (steps, cpu) in results.items():
        secs = [sum(s.values()) for s in steps]
        per[name] = sum(secs[1:]) / ITERATIONS
        print(f"{name:<24} {secs[0]:>8.1f} {secs[1]:>8.1f} {secs[2]:>8.1f} {per[name]:>16.1f} {cpu:>12.1f}")
    print("steps of iteration 2 (s):")
    for name, (steps, _) in results.items():
        print(f"  {name:<22} " + ", ".join(f"{k} {v:.1f}" for k, v in steps[2].items()))
    cold, warm = per.values()
    print(f"ratio: {cold / warm:.2f}")


if __name__ == "__main__":
    main()

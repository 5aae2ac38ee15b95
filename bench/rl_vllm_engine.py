"""Seconds per RL step with the vllm rollout backend: a new engine every step against one engine kept warm.

Same run twice -- tiny micro model (built locally; vLLM's CPU attention needs its head size of 32), the qa
task on synthetic sums, GRPO, the same problems, seeds and steps -- once with ``warm_engine=false`` (the
policy saved and a new vLLM engine started on it every step) and once with ``warm_engine=true`` (one engine;
every step the saved policy is reloaded into it). A step's seconds are its five stages summed
(``time/<stage>`` in metrics.jsonl); the first step of either run starts an engine, so the steady state is
the mean over the later steps. Runs in the vLLM venv:

    .venv-vllm/bin/python bench/rl_vllm_engine.py [--steps 4] [--prompts 8] [--samples 4] [--threads 1]

Last line: ``ratio: X`` = seconds per step restarting / seconds per step warm (steady state).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

STAGES = ("rollout", "reward", "values", "advantages", "update")


def run(model: Path, data: Path, out: Path, warm: bool, args) -> list[dict]:
    from ponder.config import load_config
    from ponder.recipes import rl
    from ponder.recipes.rl.config import RLConfig
    from ponder.train.metrics import read_metrics

    overrides = [
        f"model={model}",
        f"data={data}",
        f"output={out}",
        "env=qa",
        "algo=grpo",
        "backend=vllm",
        f"warm_engine={str(warm).lower()}",
        f"prompts_per_step={args.prompts}",
        f"samples_per_prompt={args.samples}",
        f"max_steps={args.steps}",
        f"qa.budget_tokens={args.budget}",
        f"threads={args.threads}",
        "actor_lr=1e-4",
        "keep_episodes=false",
    ]
    rl.run(load_config(RLConfig, overrides=overrides))
    return read_metrics(out / "metrics.jsonl")


def seconds(rows: list[dict]) -> list[float]:
    return [sum(r.get(f"time/{s}", 0.0) for s in STAGES) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.steps < 2:
        ap.error("--steps must be >= 2 (the first step of either run starts an engine)")

    from ponder.io import write_records
    from ponder.models.tiny import build_tiny_model
    from ponder.tasks.synthetic import make

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = build_tiny_model(root / "micro", "micro", seed=0)
        data = root / "problems.jsonl"
        write_records(data, make("arithmetic", args.prompts * args.steps, 0, min_ops=1, max_ops=2))
        results = {}
        for name, warm in (("restart every step", False), ("warm engine, reload", True)):
            rows = run(model, data, root / name.split()[0], warm, args)
            secs = seconds(rows)
            rollout = [r["time/rollout"] for r in rows]
            results[name] = (secs, rollout)
    print(
        f"{args.steps} steps x {args.prompts} prompts x {args.samples} samples, budget {args.budget} tokens"
    )
    print(
        f"{'run':<22} {'step 1 s':>9} {'later steps s (mean)':>21} {'rollout s (later)':>18} {'total s':>8}"
    )
    for name, (secs, rollout) in results.items():
        later = secs[1:]
        print(
            f"{name:<22} {secs[0]:>9.1f} {sum(later) / len(later):>21.2f} "
            f"{sum(rollout[1:]) / len(later):>18.2f} {sum(secs):>8.1f}"
        )
    cold, warm = (sum(s[1:]) / len(s[1:]) for s, _ in results.values())
    print(f"total: {sum(results['restart every step'][0]) / sum(results['warm engine, reload'][0]):.2f}")
    print(f"ratio: {cold / warm:.2f}")


if __name__ == "__main__":
    main()

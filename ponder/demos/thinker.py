"""``ponder demo thinker``: Thinker against the single-turn QA baseline on a tiny model, at equal RL tokens.

1. A tiny Qwen2 model (``nano``, seeded) and digit-sum problems (:func:`thinker_data.sum_problems`): disjoint
   SFT, RL and test sets.
2. SFT on texts of all four stages and of the QA answer (:mod:`ponder.demos.thinker_data`), so that RL has a
   policy that already speaks every stage's format.
3. Two PPO runs from that model with ``ponder/recipes/configs/thinker-tiny.yaml``: ``env=qa`` (baseline) and
   ``env=thinker``, each stopped once it has generated the same number of rollout tokens.
4. Evaluation on the test problems through the shared evaluation runner: the baseline answering single-turn,
   Thinker through its inference chain, and Thinker-Fast (the fast stage alone); the SFT model likewise.

Writes ``OUT/report.json`` (``rows``: one per evaluated system, with accuracy, mean tokens and tokens per
stage; plus timings, machine load and the settings), ``OUT/report.md``, ``OUT/report.png`` (accuracy and
tokens) and ``OUT/training_curves.png`` (training accuracy against rollout tokens for both arms).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ponder.config import load_config
from ponder.demos import size_of, tiny_sft
from ponder.demos.thinker_report import verification_row, write_report
from ponder.io import write_records
from ponder.progress import timed_call

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "thinker-tiny.yaml"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is. ``rollout_tokens``: generated tokens each RL arm may use; ``min_terms`` ..
    ``max_terms``: digits per sum."""

    sft_problems: int
    sft_steps: int
    sft_examples_per_step: int
    rl_problems: int
    test_problems: int
    rollout_tokens: int
    eval_samples: int
    min_terms: int = 2
    max_terms: int = 4


SIZES = {
    name: DemoSize(*dims)
    for name, dims in {
        #          SFT problems  SFT steps  per step  RL problems  test problems  rollout tokens  eval samples
        "full": (3000, 800, 32, 2000, 200, 150_000, 4),
        "smoke": (300, 30, 32, 200, 24, 4_000, 2),
    }.items()
}
SFT_LR = 2e-3
EVAL_TEMPERATURE = 0.5


def pick_threads() -> int:
    """1 or 2 torch threads, whichever multiplies matrices faster right now (on a busy machine two threads can
    be many times slower than one)."""
    import torch

    best, best_t = 1, float("inf")
    a = torch.randn(256, 256)
    for n in (1, 2):
        torch.set_num_threads(n)
        a @ a
        t0 = time.perf_counter()
        for _ in range(30):
            a @ a
        t = time.perf_counter() - t0
        if t < best_t:
            best, best_t = n, t
    return best


def _evaluate(name, solver, bench, params, out_dir) -> dict:
    from ponder.eval.runner import evaluate

    report = evaluate(solver, [bench], params, out_dir, name=name)
    s = report["benchmarks"][bench.name]
    row = {
        "name": name,
        "accuracy": s["accuracy"],
        "mean_tokens": s["mean_tokens"],
        "mean_tokens_correct": s.get("mean_tokens_correct"),
        "truncated_share": s.get("truncated_share"),
    }
    for stage, v in (s.get("mean_stage_tokens") or {}).items():
        row[f"tokens_{stage}"] = v
    return row


def make_data(out: Path, seed: int, dims: DemoSize, cfg) -> list:
    """Disjoint SFT, RL and test sets of digit sums; the SFT texts speak every stage and the QA answer.
    Returns the test problems."""
    from ponder.demos.thinker_data import sft_records, sum_problems

    problems = sum_problems(
        dims.sft_problems + dims.rl_problems + dims.test_problems,
        seed,
        min_terms=dims.min_terms,
        max_terms=dims.max_terms,
    )
    # The generator fills the short sums first (there are only 81 with two digits); shuffle so that the SFT,
    # RL and test sets follow the same mix of lengths.
    random.Random(f"thinker-demo-split:{seed}").shuffle(problems)
    sft_set = problems[: dims.sft_problems]
    rl_set = problems[dims.sft_problems : dims.sft_problems + dims.rl_problems]
    test_set = problems[dims.sft_problems + dims.rl_problems :]
    write_records(out / "data" / "sft.jsonl", sft_records(sft_set, cfg.thinker, cfg.qa, seed=seed))
    write_records(out / "data" / "rl.jsonl", rl_set)
    write_records(out / "data" / "test.jsonl", test_set)
    return test_set


def train_sft(out: Path, seed: int, dims: DemoSize, base: Path) -> dict:
    """SFT on the texts of all stages (the SFT recipe), the rate decaying to a tenth."""
    return tiny_sft(
        base,
        out / "data" / "sft.jsonl",
        out / "sft",
        seed=seed,
        lr=SFT_LR,
        examples_per_step=dims.sft_examples_per_step,
        max_steps=dims.sft_steps,
        min_lr_ratio=0.1,
    )


def train_arm(out: Path, dims: DemoSize, cfg, sft_model: str, arm: str) -> dict:
    """PPO from the SFT model with thinker-tiny.yaml, on ``env`` qa (baseline) or thinker, until it has
    generated the arm's rollout-token budget (the RL recipe)."""
    from ponder.recipes import rl

    arm_cfg = dataclasses.replace(
        cfg,
        model=sft_model,
        data=str(out / "data" / "rl.jsonl"),
        output=str(out / f"rl-{arm}"),
        env="qa" if arm == "baseline" else "thinker",
        max_rollout_tokens=dims.rollout_tokens,
        max_steps=10_000,
        resume=True,
    )
    return rl.run(arm_cfg)


def evaluate_models(out: Path, seed: int, dims: DemoSize, cfg, test_set: list, models: dict) -> list[dict]:
    """Every system on the test problems: the baseline single-turn, Thinker through its inference chain and
    through its fast stage alone; ``models`` maps a row prefix ("" after RL, "sft-" before) to the two arms'
    models."""
    from ponder.eval.runner import Benchmark
    from ponder.eval.thinker_solver import qa_solver, thinker_solver
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams

    bench = Benchmark(
        name="sums-test", path=out / "data" / "test.jsonl", rule=cfg.thinker.grading_rule, problems=test_set
    )
    params = SamplingParams(
        n=dims.eval_samples, temperature=EVAL_TEMPERATURE, seed=seed, max_new_tokens=cfg.qa.budget_tokens
    )
    rows = []
    for prefix, arms in models.items():
        gen = make_generator("hf", arms["baseline"], batch_size=64)
        name = f"{prefix}baseline"
        rows.append(_evaluate(name, qa_solver(gen, cfg.qa), bench, params, out / "eval" / name))
        gen = make_generator("hf", arms["thinker"], batch_size=64)
        for system, fast in (("thinker", False), ("thinker-fast", True)):
            episodes: list = []
            solver = thinker_solver(gen, cfg.thinker, fast_only=fast, keep=episodes)
            name = f"{prefix}{system}"
            rows.append(_evaluate(name, solver, bench, params, out / "eval" / name))
            if not fast:
                rows[-1].update(verification_row(episodes))
    return rows


def run_demo(
    *, seed: int = 0, out: str | Path = "runs/demo-thinker", size: str = "full", threads: int = 0
) -> dict:
    """Run the whole demo; return the report (also written to ``OUT/report.json``)."""
    import torch

    from ponder.models.tiny import build_tiny_model
    from ponder.recipes.rl.config import RLConfig

    dims = size_of(SIZES, size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or pick_threads()
    torch.set_num_threads(threads)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    times: dict[str, float] = {}

    timed = functools.partial(timed_call, times)

    t0 = time.perf_counter()
    base = build_tiny_model(out / "base", "nano", seed)
    cfg = load_config(
        RLConfig, CONFIG, [f"model={base}", "data=-", "output=-", f"seed={seed}", f"threads={threads}"]
    )
    test_set = make_data(out, seed, dims, cfg)
    times["data"] = time.perf_counter() - t0
    sft_summary = timed("sft", train_sft, out, seed, dims, base)
    rl_summaries = {
        arm: timed(f"rl_{arm}", train_arm, out, dims, cfg, sft_summary["model"], arm)
        for arm in ("baseline", "thinker")
    }
    models = {
        "": {arm: s["model"] for arm, s in rl_summaries.items()},
        "sft-": {arm: sft_summary["model"] for arm in rl_summaries},
    }
    rows = timed("eval", evaluate_models, out, seed, dims, cfg, test_set, models)
    settings = {
        "config": str(CONFIG),
        **dataclasses.asdict(dims),
        "eval_temperature": EVAL_TEMPERATURE,
        "threads": threads,
        "model": "nano",
        "task": f"digit sums, {dims.min_terms}-{dims.max_terms} terms",
        "stage_check": cfg.thinker.grading_rule,
    }
    return write_report(
        out, seed, size, rows, sft_summary, rl_summaries, settings, times, t_start, load_start
    )

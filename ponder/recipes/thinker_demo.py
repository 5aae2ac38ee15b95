"""``ponder demo thinker``: Thinker against the single-turn QA baseline on a tiny model, at equal RL tokens.

1. A tiny Qwen2 model (``nano``, seeded) and digit-sum problems (:func:`thinker_data.sum_problems`): disjoint
   SFT, RL and test sets.
2. SFT on texts of all four stages and of the QA answer (:mod:`ponder.recipes.thinker_data`), so that RL has a
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
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

from ponder.config import load_config
from ponder.io import write_json, write_records, write_text

CONFIG = Path(__file__).parent / "configs" / "thinker-tiny.yaml"


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
    "full": DemoSize(
        sft_problems=3000,
        sft_steps=800,
        sft_examples_per_step=32,
        rl_problems=2000,
        test_problems=200,
        rollout_tokens=150_000,
        eval_samples=4,
    ),
    "smoke": DemoSize(
        sft_problems=300,
        sft_steps=30,
        sft_examples_per_step=32,
        rl_problems=200,
        test_problems=24,
        rollout_tokens=4_000,
        eval_samples=2,
    ),
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


def verification_row(episodes: list) -> dict:
    """Inference-mode judgements of the fast answers: the confusion matrix (fast answer right/wrong x verdict
    yes/no/none), the share of Yes, the verification accuracy and how often Slow Thinking ran."""
    from ponder.env.thinker import verification_counts

    counts = verification_counts(episodes)
    total = sum(counts.values())
    if not total:
        return {}
    right = counts["right_yes"] + counts["right_no"] + counts["right_none"]
    wrong = total - right
    return {
        **{f"verify_{k}": v for k, v in counts.items()},
        "said_yes": (counts["right_yes"] + counts["wrong_yes"]) / total,
        "verify_accuracy": (counts["right_yes"] + counts["wrong_no"]) / total,
        "yes_given_right": counts["right_yes"] / right if right else None,
        "no_given_wrong": counts["wrong_no"] / wrong if wrong else None,
        "slow_share": sum(any(t["stage"] == "slow" for t in ep.turns) for ep in episodes) / len(episodes),
    }


TRAIN_KEYS = {
    "baseline": ("answer/accuracy", "answer/tokens"),
    "thinker": (
        "fast/accuracy",
        "episode/final_accuracy",
        "verify/accuracy",
        "slow/accuracy",
        "fast/tokens",
        "episode/tokens",
    ),
}


def training_summary(run_dir: Path, arm: str, last: int = 5) -> dict:
    """Training accuracies and tokens averaged over the first and the last ``last`` RL steps, and (Thinker)
    the verification confusion matrix summed over the last steps (training mode: judgements of the fast
    answers of the rollouts)."""
    from ponder.train.metrics import read_metrics

    rows = read_metrics(run_dir / "metrics.jsonl")

    def mean(part, key):
        vals = [r[key] for r in part if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    out = {
        f"{where}_{key}": mean(part, key)
        for where, part in (("first", rows[:last]), ("last", rows[-last:]))
        for key in TRAIN_KEYS[arm]
    }
    if arm == "thinker":
        out["last_verification"] = {
            k: sum(r.get(f"verify/{k}", 0) for r in rows[-last:])
            for k in ("right_yes", "right_no", "right_none", "wrong_yes", "wrong_no", "wrong_none")
        }
    return out


def _curves(out: Path, runs: dict[str, Path]) -> Path:
    from ponder.eval.report import curve_plot
    from ponder.train.metrics import read_metrics

    series = {}
    keys = {
        "baseline": [("answer/accuracy", "baseline: answer accuracy")],
        "thinker": [
            ("fast/accuracy", "thinker: fast accuracy"),
            ("episode/final_accuracy", "thinker: final accuracy"),
            ("verify/accuracy", "thinker: verification accuracy"),
        ],
    }
    for arm, run_dir in runs.items():
        rows = read_metrics(run_dir / "metrics.jsonl")
        for key, label in keys[arm]:
            series[label] = [(r["rollout_tokens_total"], r[key]) for r in rows if key in r]
    return curve_plot(
        out / "training_curves.png",
        series,
        "rollout tokens",
        "training accuracy",
        title="PPO at equal rollout tokens",
    )


def run_demo(
    *, seed: int = 0, out: str | Path = "runs/demo-thinker", size: str = "full", threads: int = 0
) -> dict:
    """Run the whole demo; return the report (also written to ``OUT/report.json``)."""
    import torch

    from ponder.env.thinker import ThinkerEnv
    from ponder.eval.report import bar_plot, markdown_table
    from ponder.eval.runner import Benchmark
    from ponder.eval.thinker_solver import qa_solver, thinker_solver
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams
    from ponder.models.tiny import build_tiny_model
    from ponder.recipes import rl, sft
    from ponder.recipes.rl_config import RLConfig
    from ponder.recipes.thinker_data import sft_records, sum_problems

    dims = SIZES[size]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or pick_threads()
    torch.set_num_threads(threads)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    times: dict[str, float] = {}

    # ------------------------------------------------------------------ model and data
    t0 = time.perf_counter()
    base = build_tiny_model(out / "base", "nano", seed)
    cfg = load_config(
        RLConfig, CONFIG, [f"model={base}", "data=-", "output=-", f"seed={seed}", f"threads={threads}"]
    )
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
    times["data"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ SFT on all stages
    t0 = time.perf_counter()
    sft_dir = out / "sft"
    sft_summary = sft.run(
        sft.SFTConfig(
            model=str(base),
            data=[str(out / "data" / "sft.jsonl")],
            output=str(sft_dir),
            lr=SFT_LR,
            max_steps=dims.sft_steps,
            examples_per_step=dims.sft_examples_per_step,
            warmup_ratio=0.05,
            min_lr_ratio=0.1,
            seed=seed,
            tensorboard=False,
            resume=True,
        )
    )
    times["sft"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ RL: two arms, equal rollout tokens
    runs: dict[str, Path] = {}
    rl_summaries = {}
    for arm, env in (("baseline", "qa"), ("thinker", "thinker")):
        t0 = time.perf_counter()
        runs[arm] = out / f"rl-{arm}"
        arm_cfg = dataclasses.replace(
            cfg,
            model=sft_summary["model"],
            data=str(out / "data" / "rl.jsonl"),
            output=str(runs[arm]),
            env=env,
            max_rollout_tokens=dims.rollout_tokens,
            max_steps=10_000,
            resume=True,
        )
        rl_summaries[arm] = rl.run(arm_cfg)
        times[f"rl_{arm}"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ evaluation
    t0 = time.perf_counter()
    bench = Benchmark(
        name="sums-test", path=out / "data" / "test.jsonl", rule=cfg.thinker.grading_rule, problems=test_set
    )
    params = SamplingParams(
        n=dims.eval_samples, temperature=EVAL_TEMPERATURE, seed=seed, max_new_tokens=cfg.qa.budget_tokens
    )
    rows = []
    for stage_of_training, models in (
        ("", {"baseline": rl_summaries["baseline"]["model"], "thinker": rl_summaries["thinker"]["model"]}),
        ("sft-", {"baseline": sft_summary["model"], "thinker": sft_summary["model"]}),
    ):
        gen = make_generator("hf", models["baseline"], batch_size=64)
        rows.append(
            _evaluate(
                f"{stage_of_training}baseline",
                qa_solver(gen, cfg.qa),
                bench,
                params,
                out / "eval" / f"{stage_of_training}baseline",
            )
        )
        gen = make_generator("hf", models["thinker"], batch_size=64)
        for name, fast in (("thinker", False), ("thinker-fast", True)):
            episodes: list = []
            solver = thinker_solver(gen, cfg.thinker, fast_only=fast, keep=episodes)
            rows.append(
                _evaluate(
                    f"{stage_of_training}{name}",
                    solver,
                    bench,
                    params,
                    out / "eval" / f"{stage_of_training}{name}",
                )
            )
            if not fast:
                rows[-1].update(verification_row(episodes))
    times["eval"] = time.perf_counter() - t0

    # ------------------------------------------------------------------ report
    for row in rows:
        arm = "thinker" if "thinker" in row["name"] else "baseline"
        row["trained"] = "sft" if row["name"].startswith("sft-") else "sft+rl"
        row["rl_rollout_tokens"] = 0 if row["trained"] == "sft" else rl_summaries[arm]["rollout_tokens"]
    columns = [
        "name",
        "trained",
        "accuracy",
        "mean_tokens",
        "tokens_fast",
        "tokens_verify",
        "tokens_slow",
        "tokens_summary",
        "tokens_answer",
        "truncated_share",
        "rl_rollout_tokens",
    ]
    table = markdown_table(rows, columns)
    verify_columns = [
        "name",
        "verify_right_yes",
        "verify_right_no",
        "verify_wrong_yes",
        "verify_wrong_no",
        "verify_right_none",
        "verify_wrong_none",
        "said_yes",
        "verify_accuracy",
        "slow_share",
    ]
    verify_table = markdown_table([r for r in rows if "said_yes" in r], verify_columns)
    bar_plot(out / "report.png", rows, ["accuracy", "mean_tokens"], title=f"Thinker demo, seed {seed}")
    _curves(out, runs)
    times["total"] = time.perf_counter() - t_start
    report = {
        "demo": "thinker",
        "seed": seed,
        "size": size,
        "rows": rows,
        "table": table,
        "verification_table": verify_table,
        "rl": {
            arm: {
                "steps": s["steps"],
                "rollout_tokens": s["rollout_tokens"],
                "seconds": s["seconds"],
                "stage_seconds": s["stage_seconds"],
                **training_summary(runs[arm], arm),
            }
            for arm, s in rl_summaries.items()
        },
        "sft": {"steps": sft_summary["steps"], "final_loss": (sft_summary.get("final") or {}).get("loss")},
        "settings": {
            "config": str(CONFIG),
            **dataclasses.asdict(dims),
            "eval_temperature": EVAL_TEMPERATURE,
            "threads": threads,
            "model": "nano",
            "task": f"digit sums, {dims.min_terms}-{dims.max_terms} terms",
            "stage_check": ThinkerEnv(cfg.thinker).config.grading_rule,
        },
        "seconds": times,
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
    }
    write_json(out / "report.json", report)
    write_text(
        out / "report.md",
        f"# Thinker demo (seed {seed}, {size})\n\n{table}\n\n"
        "Verification at inference (fast answer right/wrong x judgement):\n\n"
        f"{verify_table}\n",
    )
    return report

"""The PFPO math demo's measurements and controls around the recipe run (:mod:`ponder.demos.pfpo`).

- :func:`sampled_metrics`: greedy accuracy is the recipe's evaluation; this adds pass@1 at the sampling
  temperature and maj@k (the same plurality vote the labels use) on the sampled test set.
- :func:`prompt_headroom`: for iteration 1's training prompts, the SFT model's greedy accuracy against the
  vote of its own samples (:mod:`ponder.feedback.math_headroom`).
- Step-matched controls, each from the SFT model for as many optimizer steps as iteration 1 trained:
  :func:`outcome_only` (outcome pairs only), :func:`gold_labels` (the same samples labelled by the gold
  answer: what perfect labels would give) and :func:`sft_chosen` (SFT on the chosen sides of iteration 1's
  outcome pairs, as many examples per step as pairs per step: what the SFT term alone would give).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

SAMPLES = 8  # samples per problem for pass@1 and maj@k on the sampled test set


def sampled_metrics(cfg, model: str, out: Path, bench: Path) -> dict[str, Any]:
    """``pass1_sampled`` and ``maj_at_k`` of ``model`` on ``bench`` (SAMPLES per problem at the recipe's
    sampling temperature), through the recipe's evaluation (its prompt template)."""
    from ponder.recipes.pfpo import math as pfpo

    ev = dataclasses.replace(
        cfg.eval,
        benchmarks=[str(bench)],
        samples_per_problem=SAMPLES,
        temperature=cfg.sample.temperature,
        top_p=cfg.sample.top_p,
        k=[1, SAMPLES],
    )
    m = pfpo.evaluate(dataclasses.replace(cfg, eval=ev), model, out)["metrics"]
    return {"pass1_sampled": m["pass@1"], "maj_at_k": m[f"maj@{SAMPLES}"], "k": SAMPLES}


def greedy_right(cfg, model: str, problems: Path, out: Path) -> dict[str, bool]:
    """Problem id -> whether ``model``'s greedy answer is right, on a problem file with gold answers."""
    from ponder.recipes.pfpo import math as pfpo
    from ponder.records import Sample, load_records

    ev = dataclasses.replace(
        cfg.eval, benchmarks=[str(problems)], samples_per_problem=1, temperature=0.0, k=[1]
    )
    pfpo.evaluate(dataclasses.replace(cfg, eval=ev), model, out)
    graded = load_records(out / "samples" / f"{problems.stem}.jsonl", Sample)
    return {s.id: bool(s.correct and s.correct[0]) for s in graded}


def prompt_headroom(cfg, model: str, iteration: Path, out: Path) -> dict[str, Any]:
    """Iteration 1's preconditions on its own training prompts (greedy vs the vote of its samples)."""
    from ponder.feedback.math_headroom import math_headroom
    from ponder.io import read_json_lines

    greedy = greedy_right(cfg, model, iteration / "problems.jsonl", out)
    labelled = list(read_json_lines(iteration / "labelled.jsonl"))
    return math_headroom(labelled, greedy)


def trained_model(iteration: Path) -> str:
    """The model an iteration folder's train step wrote."""
    return str(json.loads((iteration / "train.done.json").read_text())["model"])


def iteration_steps(out: Path, index: int = 1) -> int:
    """Optimizer steps iteration ``index`` of the recipe run in ``out`` trained."""
    return int(json.loads((out / f"iter{index}" / "train.done.json").read_text())["steps"])


def _arm(run_recipe: Callable, make_cfg: Callable, out: Path, name: str, steps: int, *more: str) -> dict:
    cfg = make_cfg(
        f"output={out / name}", "iterations=1", "evaluate_start=false", f"train.max_steps={steps}", *more
    )
    return {**run_recipe(cfg)["rows"][1], "name": name, "steps": steps}


def outcome_only(run_recipe: Callable, make_cfg: Callable, out: Path, steps: int) -> dict:
    """Iteration 1 again (same seeded samples, labels and outcome pairs) with process pairs off."""
    return _arm(run_recipe, make_cfg, out, "iter1-outcome-only", steps, "process.enabled=false")


def gold_labels(run_recipe: Callable, make_cfg: Callable, out: Path, steps: int) -> dict:
    """Iteration 1 again with the gold answer as every problem's label (outcome and process pairs)."""
    return _arm(run_recipe, make_cfg, out, "iter1-gold-labels", steps, "label.by=gold")


def sft_chosen(cfg, policy: str, pairs: Path, out: Path, steps: int) -> str:
    """SFT from ``policy`` on the chosen sides of ``pairs`` for ``steps`` steps (see
    :func:`ponder.demos.sft_on_chosen`); returns the model folder."""
    from ponder.demos import sft_on_chosen

    return sft_on_chosen(cfg.train, policy, pairs, out, steps=steps, seed=cfg.seed)["model"]

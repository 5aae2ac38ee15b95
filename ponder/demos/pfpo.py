"""``ponder demo pfpo``: PFPO without labels on a tiny model, offline, in minutes on two CPU cores.

1. **Task.** Sums of single digits written as running totals, one addition per line::

       Add 7 + 3 + 8 + 2 + 9 + 4.
       7 + 3 = 10
       10 + 8 = 18
       ...
       So the answer is \\boxed{33}.

   A tiny model trained on a few thousand such solutions gets many sums right but slips on single steps
   (a wrong total, a skipped or repeated term), and different slips lead to different wrong answers. So the
   model is right more often than it gives any one wrong answer -- the plurality of its samples is usually
   correct -- while single samples are not reliable. That is the situation in which self-consistency labels
   carry signal, and each line is a step that prefix values can tell right from wrong.
2. **SFT** of the nano model (``ponder.recipes.sft``) on gold solutions.
3. **Two PFPO iterations** (``ponder.recipes.pfpo.math`` with ``configs/pfpo-math-tiny.yaml``): each samples fresh
   prompts, labels them by majority vote only (``label.by: vote``), builds outcome and prefix pairs, trains
   DPO + SFT term from the previous model, and evaluates. Gold answers are used by the evaluation alone (and
   to *measure* how often the pseudo labels are right; nothing trains on them).
4. With ``compare``: the same recipe for one iteration with ``process.enabled=false`` -- the same seeded
   samples, labels and outcome pairs as iteration 1, trained on the outcome pairs only -- for an outcome-DPO
   vs outcome + process-DPO row.

Outputs in ``OUT``: ``sft/``, ``data/``, ``pfpo/iterK/`` (every stage file and summary), ``report.json``
(rows ``sft``, ``iter1``, ``iter2`` [, ``iter1-outcome-only``]), ``report.md`` and ``report.png``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ponder.config import load_config
from ponder.demos import size_of, tiny_sft
from ponder.io import write_json, write_records, write_text
from ponder.models.tiny import build_tiny_model
from ponder.records import Problem

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "pfpo-math-tiny.yaml"
ITERATIONS = 2


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is (problem counts are per split)."""

    sft_problems: int
    sft_epochs: int
    prompts_per_iteration: int
    test_problems: int
    overrides: tuple[str, ...] = ()


SIZES = {
    "full": DemoSize(sft_problems=2000, sft_epochs=6, prompts_per_iteration=384, test_problems=1000),
    # A structural run for tests: every stage, minutes less compute.
    "smallest": DemoSize(
        sft_problems=600,
        sft_epochs=3,
        prompts_per_iteration=32,
        test_problems=64,
        overrides=(
            "sample.samples_per_prompt=4",
            "label.min_vote_share=0.0",
            "process.max_prefixes_per_problem=3",
            "train.pairs_per_step=16",
        ),
    ),
}


def sum_problems(
    n: int,
    seed: int,
    *,
    min_terms: int = 5,
    max_terms: int = 7,
    max_digit: int = 9,
    exclude: set[str] | None = None,
) -> list[Problem]:
    """``n`` distinct running-total sums (prompts not in ``exclude``), with gold answer and solution."""
    rng = random.Random(f"pfpo-demo-sums:{seed}")
    seen = set(exclude or ())
    out: list[Problem] = []
    while len(out) < n:
        terms = [rng.randint(1, max_digit) for _ in range(rng.randint(min_terms, max_terms))]
        prompt = "Add " + " + ".join(map(str, terms)) + "."
        if prompt in seen:
            continue
        seen.add(prompt)
        lines, total = [], terms[0]
        for t in terms[1:]:
            lines.append(f"{total} + {t} = {total + t}")
            total += t
        lines.append(f"So the answer is \\boxed{{{total}}}.")
        out.append(
            Problem(
                id=f"sum-{seed}-{len(out)}",
                prompt=prompt,
                answer=str(total),
                source="pfpo-demo/sums",
                meta={"solution": "\n".join(lines), "terms": len(terms)},
            )
        )
    return out


def _data(out: Path, seed: int, size: DemoSize, iterations: int) -> dict[str, Path]:
    """Disjoint SFT, training-prompt and test sets (prompt texts never repeat across them)."""
    sft = sum_problems(size.sft_problems, seed)
    used = {p.prompt for p in sft}
    prompts = sum_problems(size.prompts_per_iteration * iterations, seed + 10_000, exclude=used)
    used |= {p.prompt for p in prompts}
    test = sum_problems(size.test_problems, seed + 20_000, exclude=used)
    data = out / "data"
    paths = {"sft": data / "sft.jsonl", "prompts": data / "prompts.jsonl", "test": data / "test.jsonl"}
    write_records(
        paths["sft"], [{"id": p.id, "prompt": p.prompt, "completion": p.meta["solution"]} for p in sft]
    )
    # Training prompts keep their gold answer only so the label step can *measure* pseudo-label accuracy.
    write_records(paths["prompts"], prompts)
    write_records(paths["test"], test)
    return paths


def _sft(out: Path, base: Path, data: Path, seed: int, size: DemoSize) -> Path:
    s = tiny_sft(base, data, out / "sft", seed=seed, lr=3e-3, examples_per_step=16, epochs=size.sft_epochs)
    return Path(s["model"])


def recipe_config(out: Path, seed: int, sz: DemoSize, paths: dict[str, Path], sft_model: str, *more: str):
    """pfpo-math-tiny.yaml with this demo's data, model, seed and size (``more``: further overrides)."""
    from ponder.recipes.pfpo.math import PFPOConfig

    return load_config(
        PFPOConfig,
        CONFIG,
        [
            f"model={sft_model}",
            f"output={out / 'pfpo'}",
            f"prompts={paths['prompts']}",
            f"seed={seed}",
            f"iterations={ITERATIONS}",
            f"prompts_per_iteration={sz.prompts_per_iteration}",
            f"eval.benchmarks=[{paths['test']}]",
            *sz.overrides,
            *more,
        ],
    )


def run_demo(
    out: str | Path,
    *,
    seed: int = 0,
    size: str = "full",
    compare: bool = True,
    threads: int = 1,
    log: Callable[[str], None] = lambda m: None,
) -> dict:
    """Run the demo into ``out`` (resumable); return the report, also written to ``out/report.json``.

    ``threads``: torch CPU threads. One: the nano model's matrices are too small to gain from more, and on a
    machine shared with other jobs one thread per process was measured 4x faster than two.
    """
    import torch

    from ponder.eval.report import bar_plot, markdown_table
    from ponder.recipes.pfpo import math as pfpo

    torch.set_num_threads(threads)
    start = time.perf_counter()
    out = Path(out)
    sz = size_of(SIZES, size)
    paths = _data(out, seed, sz, ITERATIONS)
    base = out / "base"
    if not (base / "config.json").exists():
        build_tiny_model(base, "nano", seed)
    log("sft ...")
    t0 = time.perf_counter()
    sft_model = _sft(out, base, paths["sft"], seed, sz)
    sft_seconds = time.perf_counter() - t0
    cfg = recipe_config(out, seed, sz, paths, str(sft_model))
    report = pfpo.run(cfg, log=log)
    rows = [dict(r) for r in report["rows"]]
    rows[0]["seconds"] = rows[0].get("seconds", 0.0) + sft_seconds  # SFT + its evaluation
    if compare:
        # The same recipe for one iteration with process pairs off: the seeded sampling, labels and outcome
        # pairs of iteration 1 come out the same, and DPO trains on the outcome pairs alone.
        log("iter1-outcome-only ...")
        arm = recipe_config(
            out,
            seed,
            sz,
            paths,
            str(sft_model),
            f"output={out / 'outcome_only'}",
            "iterations=1",
            "evaluate_start=false",
            "process.enabled=false",
        )
        rows.append({**pfpo.run(arm, log=log)["rows"][1], "name": "iter1-outcome-only"})
    for r in rows:
        r.pop("model", None)
    columns = [c for c in pfpo.TABLE_COLUMNS if any(c in r for r in rows)]
    table = markdown_table(rows, columns)
    result = {
        "seed": seed,
        "size": size,
        "rows": rows,
        "table": table,
        "wall_seconds": time.perf_counter() - start,
        "config": str(CONFIG),
        "pfpo_report": str(out / "pfpo" / "report.json"),
    }
    write_json(out / "report.json", result)
    write_text(out / "report.md", f"# PFPO demo (seed {seed})\n\n{table}\n")
    bar_plot(out / "report.png", rows, ["accuracy", "label_accuracy"], title=f"PFPO demo, seed {seed}")
    return result

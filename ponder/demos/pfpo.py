"""``ponder demo pfpo``: PFPO without labels on a tiny model, offline, in minutes on two CPU cores.

Self-consistency (Jiao et al., ICLR 2025, Sec. 3) can only raise greedy accuracy where the greedy answer is
wrong while the plurality of the samples is right. The miniature builds that in and measures it first:

1. **Task.** Sums of 4 to 6 digits written as running totals that also rewrite what is left to add::

       Add 7 + 3 + 9 + 2.
       7 + 3 = 10. Now: 10 + 9 + 2
       10 + 10 - 1 = 19. Now: 19 + 2
       19 + 2 = 21.
       So the answer is \\boxed{21}.

   A step adding 9 has four correct forms in the SFT data (``a + 9``, ``a + 10 - 1``, ``a - 1 + 10``,
   ``9 + a``), and on a share ``slip_rate`` of them the teacher writes the slip ``a + 9 = a + 8``. The slip
   shares its first tokens with one correct form and is likelier than any single one, so greedy decoding
   follows it; most *samples* take a correct form, and their answers agree, so the vote is right.
2. **SFT** of the nano model (``ponder.recipes.sft``) on the teacher's solutions.
3. **Preconditions**, printed before any PFPO step: greedy accuracy, pass@1 at the sampling temperature and
   maj@k of the SFT model; after the run, each iteration's own numbers on its training prompts (greedy vs
   the vote of the samples it trained on: teachable, harmful, confidently-wrong labels;
   :mod:`ponder.feedback.math_headroom`).
4. **Two PFPO iterations** (``ponder.recipes.pfpo.math`` with ``configs/pfpo-math-tiny.yaml``): fresh prompts,
   vote labels only, outcome and prefix pairs, DPO + SFT term from the previous model, evaluation. Gold
   answers are read only to evaluate and to *measure* the labels.
5. With ``compare``, step-matched controls from the SFT model (:mod:`ponder.demos.pfpo_arms`): iteration 1 on
   outcome pairs only, iteration 1 with gold labels, and SFT on iteration 1's chosen sides.

Outputs in ``OUT``: ``sft/``, ``data/``, ``pfpo/iterK/`` (every stage file and summary), the controls'
folders, ``checks/`` (the extra evaluations), ``report.json`` (``rows`` ``sft``, ``iter1``, ``iter2``,
``iter1-outcome-only``, ``iter1-gold-labels``, ``sft-chosen``, each with ``accuracy`` (greedy),
``pass1_sampled``, ``maj_at_k``, ``mean_tokens``; ``headroom``), ``report.md`` and ``report.png``.
"""

from __future__ import annotations

import dataclasses
import json
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
    """How big the demo is (problem counts are per split) and how its task is made. All chosen on
    development seeds only."""

    sft_problems: int
    sft_epochs: int
    prompts_per_iteration: int
    test_problems: int
    sampled_test_problems: int = 200  # pass@1 at T 1 and maj@k per row: 8 samples each
    sft_examples_per_step: int = 16
    min_terms: int = 4
    max_terms: int = 6
    slip_rate: float = 0.25  # share of the teacher's +9 steps written as the slip (one less)
    nine_share: float = 0.2  # chance that a term is 9 (the other digits share the rest)
    overrides: tuple[str, ...] = ()


SIZES = {
    # 4 epochs (1,500 steps): after 3 the SFT loss was still falling on some seeds, and there the samples
    # were worse than greedy and iteration 2 lost what iteration 1 gained (docs/pfpo.md).
    "full": DemoSize(sft_problems=6000, sft_epochs=4, prompts_per_iteration=384, test_problems=1000),
    # A structural run for tests: every stage, minutes less compute.
    "smallest": DemoSize(
        sft_problems=600,
        sft_epochs=3,
        prompts_per_iteration=32,
        test_problems=64,
        sampled_test_problems=16,
        overrides=(
            "sample.samples_per_prompt=4",
            "label.min_vote_share=0.0",
            "process.max_prefixes_per_problem=3",
            "train.pairs_per_step=16",
        ),
    ),
}
# The teacher's four correct ways to add 9 to a running total ``a`` (``c`` = a + 9), and its slip.
NINE_FORMS = ("{a} + 9 = {c}", "{a} + 10 - 1 = {c}", "{a} - 1 + 10 = {c}", "9 + {a} = {c}")
NINE_SLIP = "{a} + 9 = {c}"  # written with c = a + 8


def sum_problems(
    n: int,
    seed: int,
    *,
    min_terms: int = 5,
    max_terms: int = 7,
    max_digit: int = 9,
    exclude: set[str] | None = None,
    slip_rate: float = 0.0,
    nine_share: float | None = None,
    rewrite: bool = False,
) -> list[Problem]:
    """``n`` distinct running-total sums (prompts not in ``exclude``), with gold answer and solution.

    ``rewrite``: each line also rewrites what is left to add (``7 + 5 = 12. Now: 12 + 9 + 3``), so the next
    term is copied from the line above rather than fetched from the prompt (a tiny model learns that copy
    far sooner). With ``slip_rate`` > 0 a step adding 9 is written in one of :data:`NINE_FORMS`, or -- on that
    share of such steps -- as :data:`NINE_SLIP`, one too low; the slip is carried on to the written answer,
    while the gold ``answer`` stays the true sum. ``nine_share``: the chance that a term is 9 (default:
    uniform digits)."""
    rng = random.Random(f"pfpo-demo-sums:{seed}")
    seen = set(exclude or ())
    out: list[Problem] = []
    while len(out) < n:
        count = rng.randint(min_terms, max_terms)
        terms = [_digit(rng, max_digit, nine_share) for _ in range(count)]
        prompt = "Add " + " + ".join(map(str, terms)) + "."
        if prompt in seen:
            continue
        seen.add(prompt)
        lines, shown = [], terms[0]
        for k, t in enumerate(terms[1:], start=2):
            c = shown + t
            line = f"{shown} + {t} = {c}"
            if slip_rate and t == 9:
                if rng.random() < slip_rate:
                    c -= 1
                    line = NINE_SLIP.format(a=shown, c=c)
                else:
                    line = rng.choice(NINE_FORMS).format(a=shown, c=c)
            if rewrite:
                rest = terms[k:]
                line += ". Now: " + " + ".join(map(str, [c, *rest])) if rest else "."
            lines.append(line)
            shown = c
        lines.append(f"So the answer is \\boxed{{{shown}}}.")
        out.append(
            Problem(
                id=f"sum-{seed}-{len(out)}",
                prompt=prompt,
                answer=str(sum(terms)),
                source="pfpo-demo/sums",
                meta={"solution": "\n".join(lines), "terms": len(terms)},
            )
        )
    return out


def _digit(rng: random.Random, max_digit: int, nine_share: float | None) -> int:
    if nine_share is None or max_digit != 9:
        return rng.randint(1, max_digit)
    return 9 if rng.random() < nine_share else rng.randint(1, 8)


def _data(out: Path, seed: int, size: DemoSize, iterations: int) -> dict[str, Path]:
    """Disjoint SFT, training-prompt and test sets (prompt texts never repeat across them); the first
    ``sampled_test_problems`` test problems also form the sampled-evaluation set."""
    task = {
        "min_terms": size.min_terms,
        "max_terms": size.max_terms,
        "nine_share": size.nine_share,
        "rewrite": True,
    }
    sft = sum_problems(size.sft_problems, seed, slip_rate=size.slip_rate, **task)
    used = {p.prompt for p in sft}
    prompts = sum_problems(size.prompts_per_iteration * iterations, seed + 10_000, exclude=used, **task)
    used |= {p.prompt for p in prompts}
    test = sum_problems(size.test_problems, seed + 20_000, exclude=used, **task)
    data = out / "data"
    paths = {k: data / f"{k}.jsonl" for k in ("sft", "prompts", "test", "sampled")}
    write_records(
        paths["sft"], [{"id": p.id, "prompt": p.prompt, "completion": p.meta["solution"]} for p in sft]
    )
    # Training prompts keep their gold answer only so the label step can *measure* pseudo-label accuracy.
    write_records(paths["prompts"], prompts)
    write_records(paths["test"], test)
    write_records(paths["sampled"], test[: size.sampled_test_problems])
    return paths


def _sft(out: Path, base: Path, data: Path, seed: int, size: DemoSize) -> Path:
    s = tiny_sft(
        base,
        data,
        out / "sft",
        seed=seed,
        lr=3e-3,
        examples_per_step=size.sft_examples_per_step,
        epochs=size.sft_epochs,
    )
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
    ``compare``: also run the step-matched controls (outcome only, gold labels, SFT on the chosen sides).
    """
    import torch

    from ponder.demos import pfpo_arms as arms
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
    sft_model = str(_sft(out, base, paths["sft"], seed, sz))
    sft_seconds = time.perf_counter() - t0
    cfg = recipe_config(out, seed, sz, paths, sft_model)
    # The precondition, measured before any PFPO step: greedy against the vote of the samples.
    greedy = arms.greedy_right(cfg, sft_model, paths["sampled"], out / "checks" / "sft-greedy")
    sampled = {"sft": arms.sampled_metrics(cfg, sft_model, out / "checks" / "sft-sampled", paths["sampled"])}
    pre = {"greedy_accuracy": sum(greedy.values()) / len(greedy), **sampled["sft"]}
    pre["headroom"] = pre["maj_at_k"] - pre["greedy_accuracy"]
    log("preconditions (sampled test set) " + json.dumps(_rounded(pre)))

    report = pfpo.run(cfg, log=log)
    rows = [dict(r) for r in report["rows"]]
    rows[0]["seconds"] = rows[0].get("seconds", 0.0) + sft_seconds  # SFT + its evaluation
    iters = range(1, ITERATIONS + 1)
    models = {"sft": sft_model, **{f"iter{k}": arms.trained_model(out / "pfpo" / f"iter{k}") for k in iters}}
    for r in rows[1:]:
        r["steps"] = arms.iteration_steps(out / "pfpo", int(r["name"].removeprefix("iter")))
    # Each iteration's precondition on its own training prompts: its starting model's greedy answers
    # against the vote of the samples it trained on.
    headroom = {"test_sampled": pre}
    for k in iters:
        start_model = models["sft" if k == 1 else f"iter{k - 1}"]
        folder = out / "pfpo" / f"iter{k}"
        headroom[f"iter{k}_prompts"] = arms.prompt_headroom(
            cfg, start_model, folder, out / "checks" / f"iter{k}-prompts-greedy"
        )
        log(f"preconditions (iteration {k} prompts) " + json.dumps(_rounded(headroom[f"iter{k}_prompts"])))
    if compare:
        steps = arms.iteration_steps(out / "pfpo")

        def make(*more: str):
            return recipe_config(out, seed, sz, paths, sft_model, *more)

        def run_recipe(c):
            return pfpo.run(c, log=log)

        for control in (arms.outcome_only, arms.gold_labels):
            log(f"{control.__name__} ...")
            row = control(run_recipe, make, out, steps)
            models[row["name"]] = arms.trained_model(out / row["name"] / "iter1")
            rows.append(row)
        log("sft-chosen ...")
        chosen = arms.sft_chosen(
            cfg, sft_model, out / "pfpo" / "iter1" / "pairs_outcome.jsonl", out / "sft-chosen", steps
        )
        ev = pfpo.evaluate(cfg, chosen, out / "sft-chosen" / "eval")["metrics"]
        rows.append(
            {
                "name": "sft-chosen",
                "accuracy": ev["accuracy"],
                "mean_tokens": ev["mean_tokens"],
                "steps": steps,
            }
        )
        models["sft-chosen"] = chosen
    for r in rows:
        name, model = r["name"], models.get(r["name"])
        if model and name not in sampled:
            sampled[name] = arms.sampled_metrics(
                cfg, model, out / "checks" / f"{name}-sampled", paths["sampled"]
            )
        r.update(sampled.get(name, {}))
        r.pop("model", None)
    columns = [c for c in [*pfpo.TABLE_COLUMNS, "pass1_sampled", "maj_at_k"] if any(c in r for r in rows)]
    table = markdown_table(rows, columns)
    result = {
        "seed": seed,
        "size": size,
        "settings": dataclasses.asdict(sz),
        "headroom": headroom,
        "rows": rows,
        "table": table,
        "wall_seconds": time.perf_counter() - start,
        "config": str(CONFIG),
        "pfpo_report": str(out / "pfpo" / "report.json"),
    }
    write_json(out / "report.json", result)
    write_text(out / "report.md", f"# PFPO demo (seed {seed})\n\n{table}\n")
    bar_plot(out / "report.png", rows, ["accuracy", "maj_at_k"], title=f"PFPO demo, seed {seed}")
    return result


def _rounded(d: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()}

"""``ponder demo pfpo-code``: one PFPO-code iteration on a code family built to have the paper's headroom.

PFPO for code (Jiao et al., ICLR 2025, Sec. 3.2) ranks a policy's own programs by pseudo tests -- the
per-input majority output of the sampled programs -- and trains DPO on the ranking. It can only raise greedy
pass@1 where greedy decoding is wrong while the vote is right. The miniature builds that in (the pipeline
family, :mod:`ponder.tasks.code_pipeline`): each correct program has 16 written forms, and the SFT teacher
writes a boundary slip (``x >= 12`` for "greater than 12") on a share ``slip_rate`` of its comparison answers.
The slip is the single most likely text, so greedy decoding follows it; the correct mass is split over four
condition forms, so most *sampled* programs are right and outvote the slip on the inputs holding the
boundary. Everything is real and offline:

1. **Data and SFT.** A nano model fine-tuned on the teacher's programs (the SFT recipe).
2. **Preconditions, measured before the method runs** (:mod:`ponder.feedback.code_headroom`): greedy and
   sampled programs for the training prompts, the statement-only input sampler's pseudo tests, the vote
   against the hidden reference (``pseudo_output_accuracy``), and ``headroom`` = vote-best minus greedy.
3. **Pairs** (``pairs code``, settings from ``pfpo-code-tiny.yaml``'s ``outcome`` section): programs ranked
   by pseudo-test passes; the gold control's pairs come from the same programs' hidden-test counts
   (:mod:`ponder.pairs.code_gold`), and both files are cut to the same count (:mod:`ponder.pairs.match`).
4. **Arms**, each from the SFT model with the config's ``train`` section: ``iter1`` (DPO on the pseudo
   pairs), ``dpo-gold-pairs`` (DPO on gold pairs: equal pairs and steps) and ``sft-chosen`` (SFT on the
   chosen sides of the iter1 pairs: equal steps, examples per step, lr and schedule).
5. **Evaluation** (the eval stage): greedy pass@1 and pass@1 at T 1 on held-out problems, per-problem
   gains and losses against SFT, and each DPO arm's likelihood displacement.

Outputs in ``OUT``: ``report.json`` (``rows``, ``headroom``, ``pseudo_output_accuracy``, ``pair_precision``,
``pairs``), ``report.md``, ``report.png`` and every stage's files.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ponder.config import config_to_dict, extend, load_config, option
from ponder.demos import sft_on_chosen, size_of, tiny_sft
from ponder.demos.pfpo_code_report import format_report, plot_report
from ponder.io import read_json_lines, write_json, write_records, write_text
from ponder.train.metrics import read_metrics

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "pfpo-code-tiny.yaml"
ARMS = ("iter1", "dpo-gold-pairs")  # DPO arms: pseudo pairs, and the gold control on equally many pairs


@dataclass(frozen=True)
class DemoSize:
    """Sizes of the demo; the method's settings (sampling, pairs, DPO) are the recipe config's
    (``pfpo-code-tiny.yaml``), with ``overrides`` on top. All chosen on development seeds only."""

    preset: str = option("nano", help="Tiny model preset (0.57M parameters).")
    sft_problems: int = option(8000, help="SFT problems (one teacher response each).")
    slip_rate: float = option(
        0.25,
        help="Share of comparison problems on which the SFT teacher writes its boundary slip: greedy decoding "
        "then follows the slip while most sampled programs are correct (the headroom).",
    )
    sft_steps: int = option(
        1600,
        help="SFT optimizer steps (cosine schedule): enough for the loss to level off on every development "
        "seed (after 1000, some seeds still sampled worse than their greedy program).",
    )
    sft_lr: float = option(3e-3, help="SFT peak learning rate.")
    sft_examples_per_step: int = option(32, help="SFT examples per step.")
    pfpo_problems: int = option(256, help="Problems the iteration samples programs for.")
    test_problems: int = option(500, help="Held-out problems for pass@1 (one problem = 0.2 points).")
    test_samples: int = option(4, help="Programs per held-out problem at T 1 for pass1_sampled.")
    overrides: tuple[str, ...] = option((), help="key=value overrides of the recipe config.")
    threads: int = option(1, help="Torch CPU threads.")
    sandbox_workers: int = option(2, help="Sandbox workers running the programs.")


FULL = DemoSize()
SIZES = {
    "full": FULL,
    # The machinery on every stage in a few CPU-minutes (the slow test): a weaker policy, so looser pair rules.
    "smoke": replace(
        FULL,
        sft_problems=2000,
        sft_steps=450,
        pfpo_problems=16,
        test_problems=16,
        test_samples=2,
        overrides=(
            "sample.samples_per_prompt=8",
            "outcome.min_success=4",
            "outcome.lower_bound=0.5",
            "outcome.margin=1",
            "train.epochs=1",
            "train.pairs_per_step=8",
        ),
    ),
}


def make_data(out: Path, seed: int, z: DemoSize) -> dict[str, Path]:
    """SFT (teacher's responses), training-prompt and test sets of the pipeline family, seeded apart."""
    from ponder.tasks.synthetic import make

    base = seed * 1000
    sft_set = make("pipeline", z.sft_problems, base + 101, slip_rate=z.slip_rate)
    paths = {k: out / f"{k}.jsonl" for k in ("sft", "prompts", "test")}
    write_records(paths["sft"], [{"prompt": p.prompt, "completion": p.meta["long"]} for p in sft_set])
    write_records(paths["prompts"], make("pipeline", z.pfpo_problems, base + 102))
    write_records(paths["test"], make("pipeline", z.test_problems, base + 103))
    return paths


def recipe_config(out: Path, seed: int, z: DemoSize, paths: dict[str, Path], model: str):
    """pfpo-code-tiny.yaml with this demo's data, model, seed and size."""
    from ponder.recipes.pfpo.code import PFPOCodeConfig

    return load_config(
        PFPOCodeConfig,
        CONFIG,
        [
            f"model={model}",
            f"output={out / 'pfpo'}",
            f"prompts={paths['prompts']}",
            f"seed={seed}",
            "iterations=1",
            f"eval.benchmarks=[{paths['test']}:code]",
            f"inputs.sampler_seed={seed * 1000 + 7}",
            *z.overrides,
        ],
    )


def evaluate(cfg, model: str, out: Path, name: str, bench: str, samples: int = 0) -> dict[str, Any]:
    """Greedy pass@1 on ``bench`` (and pass@1 over ``samples`` programs at T 1 when ``samples`` > 0), with
    the per-problem greedy verdicts."""
    from ponder.eval.stage import evaluate_model
    from ponder.records import Sample, load_records

    greedy = replace(cfg.eval, benchmarks=[f"{bench}:code"], samples_per_problem=1, temperature=0.0, k=[1])
    rep = evaluate_model(model, out / "eval" / f"{name}-greedy", greedy, cfg.generation)
    b = Path(bench).stem
    graded = load_records(out / "eval" / f"{name}-greedy" / "samples" / f"{b}.jsonl", Sample)
    row = {
        "accuracy": rep["benchmarks"][b]["accuracy"],
        "mean_tokens": rep["benchmarks"][b]["mean_tokens"],
        "passed": {s.id: bool(s.correct and s.correct[0]) for s in graded},
    }
    if samples:
        t1 = replace(greedy, samples_per_problem=samples, temperature=1.0, seed=cfg.seed + 1)
        rep = evaluate_model(model, out / "eval" / f"{name}-t1", t1, cfg.generation)
        row["pass1_sampled"] = rep["benchmarks"][b]["accuracy"]
    return row


def preconditions(out: Path, cfg, policy: str, pool, log: Callable[[str], None]) -> tuple[dict, dict]:
    """Sampled programs, pseudo tests and pairs for the training prompts; the headroom against the truth."""
    from ponder.feedback.code_headroom import code_headroom
    from ponder.feedback.test_inputs_stage import generate_test_inputs
    from ponder.generation.stage import generate_file
    from ponder.pairs.code_stage import read_scores, run_code_pairs

    generate_test_inputs(out / "prompts.jsonl", out / "with_inputs.jsonl", cfg.inputs)
    greedy = evaluate(cfg, policy, out, "prompts-sft", str(out / "prompts.jsonl"))
    sample = replace(cfg.sample, seed=cfg.seed)
    generate_file(out / "with_inputs.jsonl", out / "samples.jsonl", policy, sample, cfg.generation)
    pairs = dataclasses.asdict(cfg.outcome)
    settings = _code_pair_settings(pairs, seed=cfg.seed, score_gold=True)
    summary = run_code_pairs(
        out / "with_inputs.jsonl", out / "samples.jsonl", out / "pseudo.jsonl", settings, pool=pool
    )
    head = code_headroom(read_scores(out / "pseudo.scores.jsonl"), greedy["passed"])
    log("preconditions " + json.dumps({k: _round(v) for k, v in head.items()}))
    return head, summary


def _code_pair_settings(fields: dict, **more):
    from ponder.pairs.code_stage import CodePairSettings

    names = {f.name for f in dataclasses.fields(CodePairSettings)}
    return CodePairSettings(**{**{k: v for k, v in fields.items() if k in names}, **more})


def matched_pairs(out: Path) -> int:
    """Gold pairs from the same programs' hidden-test counts; both files cut to the same count."""
    from ponder.pairs.code_gold import write_gold_pairs
    from ponder.pairs.code_stage import load_samples_by_id, read_scores
    from ponder.pairs.match import match_counts

    write_gold_pairs(
        read_scores(out / "pseudo.scores.jsonl"),
        load_samples_by_id(out / "samples.jsonl"),
        out / "gold.jsonl",
    )
    return match_counts(
        out / "pseudo.jsonl",
        out / "gold.jsonl",
        out / "iter1.pairs.jsonl",
        out / "dpo-gold-pairs.pairs.jsonl",
    )


def train_arm(out: Path, cfg, policy: str, name: str) -> dict[str, Any]:
    """DPO (+ SFT term) from the SFT model on the arm's pairs (the DPO recipe with the config's train section)."""
    from ponder.recipes import dpo
    from ponder.recipes.dpo.displacement import displacement

    c = extend(
        replace(cfg.train, seed=cfg.seed),
        dpo.DPOConfig,
        model=policy,
        data=[str(out / f"{name}.pairs.jsonl")],
        output=str(out / name),
    )
    s = dpo.run(c)
    metrics = read_metrics(out / name / "metrics.jsonl")
    return {
        "model": s["model"],
        "steps": s["steps"],
        "pairs": s["pairs"][0],
        "likelihood": displacement(metrics, cfg.train.beta),
    }


def train_sft_chosen(out: Path, cfg, policy: str, steps: int) -> dict[str, Any]:
    """SFT from the SFT model on the chosen sides of the iter1 pairs: iter1's steps, examples per step, lr,
    weight decay and schedule (the SFT recipe reads a pair file's chosen sides)."""
    s = sft_on_chosen(
        cfg.train, policy, out / "iter1.pairs.jsonl", out / "sft-chosen", steps=steps, seed=cfg.seed
    )
    return {"model": s["model"], "steps": s["steps"], "likelihood": None}


class Clock:
    """Wall and CPU seconds (this process and its finished children: sandbox pools close per phase) per phase."""

    def __init__(self) -> None:
        self.phases: dict[str, dict[str, float]] = {}
        self.t, self.c = _now()

    def lap(self, name: str) -> None:
        t, c = _now()
        self.phases[name] = {"wall": round(t - self.t, 1), "cpu": round(c - self.c, 1)}
        self.t, self.c = t, c


def _now() -> tuple[float, float]:
    import resource
    import time

    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.perf_counter(), s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def run_pfpo_code_demo(
    out: str | Path, seed: int = 0, *, size: str | DemoSize = "full", log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the demo into ``out``; return the report (also ``out/report.json``)."""
    import torch

    from ponder.models.tiny import build_tiny_model, count_parameters
    from ponder.verify.code import SandboxPool

    z = size_of(SIZES, size) if isinstance(size, str) else size
    torch.set_num_threads(z.threads)
    out = Path(out)
    _clear(out)
    clock = Clock()
    paths = make_data(out, seed, z)
    base = build_tiny_model(out / "base", z.preset, seed)
    policy = tiny_sft(
        base,
        paths["sft"],
        out / "sft",
        seed=seed,
        lr=z.sft_lr,
        examples_per_step=z.sft_examples_per_step,
        max_steps=z.sft_steps,
    )["model"]
    clock.lap("sft")
    cfg = recipe_config(out, seed, z, paths, policy)
    ev = {"sft": evaluate(cfg, policy, out, "sft", str(paths["test"]), z.test_samples)}
    clock.lap("eval_sft")
    with SandboxPool(z.sandbox_workers) as pool:
        head, summary = preconditions(out, cfg, policy, pool, log)
    head["test_greedy_pass"] = ev["sft"]["accuracy"]
    clock.lap("preconditions")
    matched = matched_pairs(out)
    used = list(read_json_lines(out / "iter1.pairs.jsonl"))
    diffs = [p["meta"]["chosen_gold_passed"] - p["meta"]["rejected_gold_passed"] for p in used]
    clock.lap("pairs")

    trained: dict[str, dict] = {}
    if matched:
        for name in ARMS:
            trained[name] = train_arm(out, cfg, policy, name)
            clock.lap(f"train_{name}")
        trained["sft-chosen"] = train_sft_chosen(out, cfg, policy, trained["iter1"]["steps"])
        clock.lap("train_sft-chosen")
    rows = [_row("sft", ev["sft"], ev["sft"], {"pairs": 0, "steps": 0, "likelihood": None})]
    for name, t in trained.items():
        ev[name] = evaluate(cfg, t["model"], out, name, str(paths["test"]), z.test_samples)
        rows.append(_row(name, ev[name], ev["sft"], {"pairs": matched, **t}))
        clock.lap(f"eval_{name}")

    report = {
        "demo": "pfpo-code",
        "seed": seed,
        "size": size if isinstance(size, str) else "custom",
        "settings": dataclasses.asdict(z),
        "recipe": {k: config_to_dict(cfg)[k] for k in ("sample", "inputs", "outcome", "train")},
        "model": {"preset": z.preset, "parameters": count_parameters(z.preset)},
        "headroom": head,
        "pseudo_output_accuracy": summary.get("pseudo_output_accuracy"),
        "pair_precision": {"outcome": sum(d > 0 for d in diffs) / len(diffs) if diffs else None},
        "pairs": {"outcome": summary["pairs"], "gold": _count(out / "gold.jsonl"), "matched": matched},
        "outcome_pairs_all": {
            k: summary.get(k)
            for k in (
                "pair_precision",
                "pair_ties",
                "chosen_correct_share",
                "rejected_correct_share",
                "problems_with_pairs",
            )
        },
        "rows": rows,
        "seconds": clock.phases,
    }
    write_json(out / "report.json", report)
    write_text(out / "report.md", format_report(report) + "\n")
    plot_report(report, out / "report.png")
    return report


def _row(name: str, ev: dict, sft: dict, trained: dict) -> dict[str, Any]:
    """A row of the report: pass@1 and the per-problem change against SFT."""
    before, after = sft["passed"], ev["passed"]
    return {
        "name": name,
        "accuracy": ev["accuracy"],
        "pass1_sampled": ev.get("pass1_sampled"),
        "mean_tokens": ev["mean_tokens"],
        "pairs": trained["pairs"],
        "steps": trained["steps"],
        "gained": sum(after[k] and not before[k] for k in after),
        "lost": sum(before[k] and not after[k] for k in after),
        "likelihood": trained["likelihood"],
    }


def _count(path: Path) -> int:
    return sum(1 for _ in read_json_lines(path))


def _round(v: Any) -> Any:
    return round(v, 3) if isinstance(v, float) else v


def _clear(out: Path) -> None:
    """A fresh run every time (the training stages refuse folders holding another run)."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for name in ("base", "sft", "pfpo", "eval", *ARMS, "sft-chosen"):
        shutil.rmtree(out / name, ignore_errors=True)
    for f in [*out.glob("*.jsonl*"), *out.glob("*.summary.json")]:
        f.unlink()

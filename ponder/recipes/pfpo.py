"""PFPO for math (Jiao et al., ICLR 2025): iterated preference optimisation on pseudo feedback.

Each iteration k (``OUT/iterK``) starts from model k-1 and runs, top to bottom:

1. ``sample``  -- fresh prompts (its own slice of the prompt file), ``samples_per_prompt`` solutions each;
2. ``label``   -- self-consistency labels (``vote``: the plurality answer, kept when its share of all samples
   is strictly above ``min_vote_share``) or gold answers (``gold``);
3. ``pairs_outcome`` -- outcome pairs: responses reaching the label against the others;
4. ``pairs_process`` -- pDPO pairs: solution prefixes valued by sampled completions;
5. ``train``   -- DPO (sigmoid) + SFT term on the chosen side from model k-1, reference = model k-1, on the
   pair files mixed at their ratios (the authors mix prefix pairs with outcome pairs at a replay ratio);
6. ``eval``    -- greedy accuracy on the benchmark files.

Iteration 0 only evaluates the starting (SFT) model. The loop (:mod:`ponder.recipes.iterate`) resumes after
a crash at any step. ``run(cfg)`` returns the per-iteration table (``OUT/report.json``, ``report.md`` and
``accuracy.png``), like the paper's tables: accuracy per iteration with the data each one was trained on.

The steps are plain functions of the config (``sample_step``, ``train_step``, ``eval_step``, ...), so a
variant (PFPO for code) builds its own step list from the same parts.

Deviations from the paper are listed in docs/pfpo.md: pairs are redrawn per epoch by writing ``epochs``
drawings and training one pass over them; identical prefixes are merged before the cap.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from ponder.config import config_to_dict
from ponder.errors import PonderError
from ponder.feedback.labels import label_file
from ponder.io import write_records
from ponder.pairs.outcome import build_outcome_pairs
from ponder.pairs.process import ProcessSettings, build_process_pairs
from ponder.recipes import iterate
from ponder.recipes.iterate import Iteration, Step, check_same_config, pair_sources, run_iterations
from ponder.recipes.pfpo_config import PFPOConfig, check_iterations, iteration_config
from ponder.records import Problem, load_records

__all__ = ["PFPOConfig", "eval_step", "math_steps", "run", "sample_step", "train_step"]

# --------------------------------------------------------------------------- steps


def open_generator(cfg: PFPOConfig, model: str):
    from ponder.generation.stage import open_backend

    g = cfg.generation
    return open_backend(g.backend, model, dtype=g.dtype, batch_size=g.batch_size, base_url=g.base_url)


def iteration_prompts(cfg: PFPOConfig, index: int) -> list[Problem]:
    """The fresh prompts of iteration ``index`` (1-based), with the prompt template applied."""
    problems = load_records(cfg.prompts, Problem)
    m = cfg.prompts_per_iteration
    if m is not None:
        if index * m > len(problems):
            raise PonderError(
                f"{cfg.prompts}: {len(problems)} prompts are too few for iteration {index} of "
                f"{m} fresh prompts each (need {index * m})"
            )
        problems = problems[(index - 1) * m : index * m]
    return [_templated(cfg, p) for p in problems]


def sample_step(cfg: PFPOConfig) -> Step:
    """Fresh prompts of the iteration, ``samples_per_prompt`` solutions each from the iteration's model."""

    def run(it: Iteration) -> dict:
        from ponder.generation.base import SamplingParams
        from ponder.generation.stage import load_prompts, run_generate

        c = iteration_config(cfg, it.index)
        problems = it.folder / "problems.jsonl"
        if not problems.exists():
            write_records(problems, iteration_prompts(c, it.index))
        s = c.sample
        params = SamplingParams(
            n=s.samples_per_prompt,
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=s.max_new_tokens,
            seed=c.seed * 1000 + it.index,
        )
        with open_generator(c, it.model) as generator:
            summary = run_generate(generator, load_prompts(problems), it.folder / "samples.jsonl", params)
        return {"samples_file": str(it.folder / "samples.jsonl"), **summary}

    return Step("sample", run)


def label_step(cfg: PFPOConfig) -> Step:
    """Self-consistency (or gold) labels of the sampled solutions."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        out = it.folder / "labelled.jsonl"
        s = label_file(
            it.results["sample"]["samples_file"],
            out,
            by=c.label.by,
            min_vote_share=c.label.min_vote_share,
            rule=c.label.rule,
            workers=1,
        )
        return {"labelled_file": str(out), **s.to_dict()}

    return Step("label", run)


def outcome_step(cfg: PFPOConfig) -> Step:
    """Outcome pairs, one fresh random pairing per training epoch."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        if not c.outcome.enabled:
            return {"pairs": 0, "skipped": "outcome pairs disabled"}
        out = it.folder / "pairs_outcome.jsonl"
        s = build_outcome_pairs(
            it.results["label"]["labelled_file"],
            out,
            pairing=c.outcome.pairing,
            draws=c.train.epochs,
            seed=c.seed * 1000 + it.index,
        )
        return {
            "pairs_file": str(out),
            "ratio": c.outcome.ratio,
            "pairs": s.stages.get("pairs", 0),
            **s.to_dict(),
        }

    return Step("pairs_outcome", run)


def process_settings(cfg: PFPOConfig, index: int) -> ProcessSettings:
    """The process pair builder's settings in iteration ``index`` (``cfg`` already for that iteration)."""
    p = cfg.process
    return ProcessSettings(
        upper_step_ratio=p.upper_step_ratio,
        sample_ratio=p.sample_ratio,
        max_prefixes_per_problem=p.max_prefixes_per_problem,
        min_steps=p.min_steps,
        filter_all_same=p.filter_all_same,
        completions_per_prefix=p.completions_per_prefix,
        temperature=p.temperature,
        top_p=p.top_p,
        max_new_tokens=p.max_new_tokens,
        value_threshold=p.value_threshold,
        pairing=p.pairing,
        closest_k=p.closest_k,
        draws=cfg.train.epochs,
        rule=cfg.label.rule,
        seed=cfg.seed * 1000 + index,
        chunk_problems=max(1, 2048 // max(1, p.max_prefixes_per_problem)),
    )


def process_step(cfg: PFPOConfig) -> Step:
    """pDPO pairs: prefixes of the sampled solutions, completed by the iteration's model and valued."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        if not c.process.enabled:
            return {"pairs": 0, "skipped": "process pairs disabled"}
        out = it.folder / "pairs_process.jsonl"
        with open_generator(c, it.model) as generator:
            tokenizer = _tokenizer(c, generator, it.model)
            s = build_process_pairs(
                it.results["label"]["labelled_file"], out, generator, tokenizer, process_settings(c, it.index)
            )
        return {
            "pairs_file": str(out),
            "ratio": c.process.ratio,
            "pairs": s.stages.get("pairs", 0),
            **s.to_dict(),
        }

    return Step("pairs_process", run)


def _tokenizer(cfg: PFPOConfig, generator, model: str):
    if cfg.generation.tokenizer is None and getattr(generator, "tokenizer", None) is not None:
        return generator.tokenizer
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(cfg.generation.tokenizer or model)


def dpo_config(cfg: PFPOConfig, it: Iteration, sources: list[tuple[str, float]]):
    """The trainer's config for iteration ``it``: from the iteration's model, which is also the reference."""
    from ponder.recipes import dpo

    t = cfg.train
    return dpo.DPOConfig(
        model=it.model,
        data=[f"{path}:{ratio}" for path, ratio in sources],
        output=str(it.folder / "train"),
        loss_type=t.loss_type,
        beta=t.beta,
        sft_loss_weight=t.sft_loss_weight,
        lr=t.lr,
        lr_schedule=t.lr_schedule,
        warmup_ratio=t.warmup_ratio,
        weight_decay=t.weight_decay,
        adam_betas=list(t.adam_betas),
        adam_eps=t.adam_eps,
        max_grad_norm=t.max_grad_norm,
        epochs=1,  # the pair files already hold one fresh drawing per epoch
        pairs_per_step=t.pairs_per_step,
        tokens_per_microbatch=t.tokens_per_microbatch,
        max_length=t.max_length,
        bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        precompute_ref=t.precompute_ref,
        save_every=t.save_every,
        seed=cfg.seed * 1000 + it.index,
        resume=True,
        tensorboard=False,
    )


def train_step(cfg: PFPOConfig) -> Step:
    """DPO + SFT term on every pair file of the iteration, mixed at their ratios."""

    def run(it: Iteration) -> dict:
        from ponder.recipes import dpo

        c = iteration_config(cfg, it.index)
        sources = pair_sources(it)
        if not sources:
            raise PonderError(
                f"{it.folder}: no pairs to train on in iteration {it.index}; see the pair summaries"
            )
        summary = dpo.run(dpo_config(c, it, sources))
        return {
            "model": summary["model"],
            "steps": summary["steps"],
            "data": sources,
            "seconds": summary["seconds"],
            "final": summary.get("final") or {},
        }

    return Step("train", run)


def evaluate(cfg: PFPOConfig, model: str, out: Path) -> dict:
    """Greedy (by default) accuracy of ``model`` on the benchmark files through the evaluation runner, with
    the prompt template of training applied. Returns ``{"metrics": flat metrics, "benchmarks": ...}``: the
    first benchmark's accuracy and lengths, and ``BENCH.accuracy`` for every benchmark."""
    from ponder.eval import runner
    from ponder.generation.base import SamplingParams

    e = cfg.eval
    if not e.benchmarks:
        return {"metrics": {}, "skipped": "no benchmarks configured"}
    benches = []
    for spec in e.benchmarks:
        b = runner.load_benchmark(spec, default_rule=cfg.label.rule)
        b.problems = [_templated(cfg, p) for p in b.problems]
        benches.append(b)
    params = SamplingParams(
        n=e.samples_per_problem,
        temperature=e.temperature,
        top_p=e.top_p,
        max_new_tokens=e.max_new_tokens,
        seed=cfg.seed,
    )
    with open_generator(cfg, model) as generator:
        report = runner.evaluate(
            runner.chat_solver(generator), benches, params, out, ks=e.ks, name=str(model)
        )
    first = report["benchmarks"][benches[0].name]
    metrics = {k: v for k, v in first.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if len(benches) > 1:
        for b in benches:
            metrics[f"{b.name}.accuracy"] = report["benchmarks"][b.name]["accuracy"]
    return {"metrics": metrics, "benchmarks": report["benchmarks"], "report": str(out / "report.json")}


def _templated(cfg: PFPOConfig, p: Problem) -> Problem:
    if isinstance(p.prompt, str):
        return dataclasses.replace(p, prompt=cfg.prompt_template.replace("{question}", p.prompt))
    return p


def eval_step(cfg: PFPOConfig) -> Step:
    """Accuracy of the iteration's resulting model (iteration 0: the starting model) on the benchmarks."""

    def run(it: Iteration) -> dict:
        model = it.results["train"]["model"] if "train" in it.results else it.model
        return evaluate(iteration_config(cfg, it.index), model, it.folder / "eval")

    return Step("eval", run)


def math_steps(cfg: PFPOConfig) -> list[Step]:
    """The steps of one PFPO math iteration, in order. A builder disabled in some iteration returns no pairs."""
    return [
        sample_step(cfg),
        label_step(cfg),
        outcome_step(cfg),
        process_step(cfg),
        train_step(cfg),
        eval_step(cfg),
    ]


# --------------------------------------------------------------------------- the run


def iteration_row(it: Iteration) -> dict:
    """One row of the per-iteration table."""
    r = it.results
    row: dict = {"name": "sft" if it.index == 0 else it.name, "model": it.model}
    row.update(r.get("eval", {}).get("metrics", {}))
    if "label" in r:
        row["prompts"] = r["label"]["problems"]
        row["labelled"] = r["label"]["kept"]
        row["label_accuracy"] = r["label"]["label_accuracy"]
    for key, name in (("pairs_outcome", "outcome_pairs"), ("pairs_process", "process_pairs")):
        if key in r:
            row[name] = r[key]["pairs"]
    row["seconds"] = sum(s.get("step_seconds", 0.0) for s in r.values())
    return row


TABLE_COLUMNS = [
    "name",
    "accuracy",
    "mean_tokens",
    "prompts",
    "labelled",
    "label_accuracy",
    "outcome_pairs",
    "process_pairs",
    "seconds",
]


def write_report(out: Path, rows: list[dict], title: str = "PFPO") -> dict:
    """``report.json`` (rows), ``report.md`` (the table) and ``accuracy.png``."""
    return iterate.write_report(
        out,
        rows,
        TABLE_COLUMNS,
        title=title,
        metric="accuracy",
        plot="accuracy.png",
        extra=lambda k: k.startswith(("maj@", "pass@")),
    )


def run(cfg: PFPOConfig, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    out = Path(cfg.output)
    check_iterations(cfg)
    check_same_config(out, config_to_dict(cfg))
    history = run_iterations(
        out,
        start_model=cfg.model,
        iterations=cfg.iterations,
        steps=math_steps(cfg),
        baseline=[eval_step(cfg)],
        log=log,
    )
    return write_report(out, [iteration_row(it) for it in history])

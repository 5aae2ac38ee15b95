"""``ponder run pfpo-code-*.yaml``: the PFPO-code iterations on the generic loop (:mod:`ponder.recipes.iterate`).

Iteration k (``OUT/iterK``) starts from model k-1 and runs the steps

    inputs -> sample -> pairs_code -> pairs_code_process -> train -> eval

(the code-specific ones are in :mod:`ponder.recipes.pfpo_code`). Iteration 0 only evaluates the starting
model. A crash anywhere resumes at the step that was running, and inside it at the last finished record
(every stage writes through ``StageWriter``; training resumes from its checkpoints). ``run(cfg)`` writes the
per-iteration table (``OUT/report.json``, ``report.md``, ``pass_at_1.png``): pass@1 per iteration with the
pseudo tests and pairs each iteration was trained on.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ponder.config import config_to_dict
from ponder.errors import PonderError
from ponder.io import write_records
from ponder.recipes import iterate
from ponder.recipes.iterate import Iteration, Step, check_same_config, pair_sources, run_iterations
from ponder.recipes.pfpo_code import (
    PFPOCodeConfig,
    code_pairs_step,
    code_process_step,
    inputs_step,
)
from ponder.records import Problem, load_records

__all__ = ["PFPOCodeConfig", "code_steps", "run"]


def iteration_problems(cfg: PFPOCodeConfig, index: int) -> list[Problem]:
    """The problems of iteration ``index`` (1-based): its own slice, or the whole file."""
    problems = load_records(cfg.prompts, Problem)
    m = cfg.prompts_per_iteration
    if m is None:
        return problems
    if index * m > len(problems):
        raise PonderError(
            f"{cfg.prompts}: {len(problems)} problems are too few for iteration {index} of {m} fresh "
            f"problems each (need {index * m})"
        )
    return problems[(index - 1) * m : index * m]


def _open_generator(cfg: PFPOCodeConfig, model: str):
    from ponder.generation.stage import open_backend

    g = cfg.generation
    return open_backend(g.backend, model, dtype=g.dtype, batch_size=g.batch_size, base_url=g.base_url)


def _inputs(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        if cfg.prompts_per_iteration is None and it.index > 1:
            # Same problems every iteration: their test inputs are written once, in iteration 1.
            first = next(h for h in it.history if h.index == 1)
            return {**first.results["inputs"], "reused_from": first.name}
        problems = it.folder / "problems.jsonl"
        if not problems.exists():
            write_records(problems, iteration_problems(cfg, it.index))
        return inputs_step(cfg, problems, it.folder / "with_inputs.jsonl")

    return Step("inputs", run)


def _sample(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        from ponder.generation.base import SamplingParams
        from ponder.generation.stage import load_prompts, run_generate

        s = cfg.sample
        params = SamplingParams(
            n=s.samples_per_prompt,
            temperature=s.temperature,
            top_p=s.top_p,
            max_new_tokens=s.max_new_tokens,
            seed=cfg.seed * 1000 + it.index,
        )
        out = it.folder / "samples.jsonl"
        with _open_generator(cfg, it.model) as gen:
            summary = run_generate(gen, load_prompts(it.results["inputs"]["inputs_file"]), out, params)
        return {"samples_file": str(out), **summary}

    return Step("sample", run)


def _pairs_code(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        out = it.folder / "pairs_code.jsonl"
        s = code_pairs_step(
            cfg, Path(it.results["inputs"]["inputs_file"]), Path(it.results["sample"]["samples_file"]), out
        )
        if not cfg.outcome.enabled:
            # Still scored: the pseudo tests value the prefixes of code pDPO; the pairs are not trained on.
            s.pop("pairs_file")
            s.update(pairs=0, skipped="outcome pairs disabled (programs scored for the prefix values)")
        return s

    return Step("pairs_code", run)


def _pairs_code_process(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        if not cfg.process.enabled:
            return {"pairs": 0, "skipped": "code pDPO pairs disabled"}
        return code_process_step(
            cfg,
            it.model,
            Path(it.results["inputs"]["inputs_file"]),
            Path(it.results["sample"]["samples_file"]),
            Path(it.results["pairs_code"]["scores"]),
            it.folder / "pairs_code_process.jsonl",
        )

    return Step("pairs_code_process", run)


def dpo_config(cfg: PFPOCodeConfig, it: Iteration, sources: list[tuple[str, float]]):
    """The trainer's config for iteration ``it``: from the iteration's model, which is also the reference."""
    from ponder.recipes import dpo

    t = cfg.train
    return dpo.DPOConfig(
        model=it.model,
        data=[f"{path}:{ratio}" for path, ratio in sources],
        output=str(it.folder / "train"),
        beta=t.beta,
        sft_loss_weight=t.sft_loss_weight,
        lr=t.lr,
        lr_schedule=t.lr_schedule,
        warmup_ratio=t.warmup_ratio,
        epochs=t.epochs,
        pairs_per_step=t.pairs_per_step,
        tokens_per_microbatch=t.tokens_per_microbatch,
        max_length=t.max_length,
        bf16=t.bf16,
        gradient_checkpointing=t.gradient_checkpointing,
        save_every=t.save_every,
        seed=cfg.seed * 1000 + it.index,
        resume=True,
        tensorboard=False,
    )


def _train(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        from ponder.recipes import dpo

        sources = pair_sources(it)
        if not sources:
            raise PonderError(
                f"{it.folder}: no pairs to train on in iteration {it.index}; see the pair summaries "
                "(pairs_code.done.json, pairs_code_process.done.json)"
            )
        summary = dpo.run(dpo_config(cfg, it, sources))
        return {
            "model": summary["model"],
            "steps": summary["steps"],
            "data": sources,
            "seconds": summary["seconds"],
            "final": summary.get("final") or {},
        }

    return Step("train", run)


def evaluate(cfg: PFPOCodeConfig, model: str, out: Path) -> dict:
    """pass@1 (greedy by default) and pass@k of ``model`` on the code benchmarks. Returns ``{"metrics": ...}``:
    the first benchmark's numbers, and ``BENCH.pass@1`` for every benchmark when there are several."""
    from ponder.eval import runner
    from ponder.generation.base import SamplingParams

    e = cfg.eval
    if not e.benchmarks:
        return {"metrics": {}, "skipped": "no benchmarks configured"}
    benches = [runner.load_benchmark(spec, default_rule="code") for spec in e.benchmarks]
    params = SamplingParams(
        n=e.samples_per_problem, temperature=e.temperature, max_new_tokens=e.max_new_tokens, seed=cfg.seed
    )
    with _open_generator(cfg, model) as gen:
        report = runner.evaluate(runner.chat_solver(gen), benches, params, out, ks=e.ks, name=str(model))
    first = report["benchmarks"][benches[0].name]
    metrics = {k: v for k, v in first.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    metrics.setdefault("pass@1", metrics.get("accuracy"))
    if len(benches) > 1:
        for b in benches:
            metrics[f"{b.name}.pass@1"] = report["benchmarks"][b.name]["accuracy"]
    return {"metrics": metrics, "benchmarks": report["benchmarks"], "report": str(out / "report.json")}


def _eval(cfg: PFPOCodeConfig) -> Step:
    def run(it: Iteration) -> dict:
        model = it.results["train"]["model"] if "train" in it.results else it.model
        return evaluate(cfg, model, it.folder / "eval")

    return Step("eval", run)


def code_steps(cfg: PFPOCodeConfig) -> list[Step]:
    """The steps of one PFPO-code iteration, in order."""
    return [
        _inputs(cfg),
        _sample(cfg),
        _pairs_code(cfg),
        _pairs_code_process(cfg),
        _train(cfg),
        _eval(cfg),
    ]


# --------------------------------------------------------------------------- the table


def iteration_row(it: Iteration) -> dict:
    """One row of the per-iteration table."""
    r = it.results
    row: dict = {"name": "sft" if it.index == 0 else it.name, "model": it.model}
    metrics = r.get("eval", {}).get("metrics", {})
    # "problems"/"samples" of the benchmark stay in eval.done.json; the row's "problems" are the trained ones.
    row.update({k: v for k, v in metrics.items() if k not in ("accuracy", "problems", "samples")})
    if "pairs_code" in r:
        pc = r["pairs_code"]
        row["problems"] = pc.get("problems")
        if "kept_test_share" in pc:
            row["kept_test_share"] = pc["kept_test_share"]
        row["outcome_pairs"] = pc.get("pairs", 0)
    if "pairs_code_process" in r:
        row["process_pairs"] = r["pairs_code_process"].get("pairs", 0)
    row["seconds"] = sum(s.get("step_seconds", 0.0) for s in r.values())
    return row


TABLE_COLUMNS = [
    "name",
    "pass@1",
    "mean_tokens",
    "problems",
    "kept_test_share",
    "outcome_pairs",
    "process_pairs",
    "seconds",
]


def write_report(out: Path, rows: list[dict], title: str = "PFPO-code") -> dict:
    """``report.json`` (rows), ``report.md`` (the table) and ``pass_at_1.png``."""
    return iterate.write_report(
        out,
        rows,
        TABLE_COLUMNS,
        title=title,
        metric="pass@1",
        plot="pass_at_1.png",
        extra=lambda k: k.startswith("pass@") or k.endswith(".pass@1"),
    )


def run(cfg: PFPOCodeConfig, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    out = Path(cfg.output)
    if not Path(cfg.prompts).is_file():
        raise PonderError(f"{cfg.prompts}: no such problem file (prompts)")
    if cfg.prompts_per_iteration is not None:
        iteration_problems(cfg, cfg.iterations)  # fail before any work when the file is too short
    check_same_config(out, config_to_dict(cfg))
    history = run_iterations(
        out,
        start_model=cfg.model,
        iterations=cfg.iterations,
        steps=code_steps(cfg),
        baseline=[_eval(cfg)],
        log=log,
    )
    return write_report(out, [iteration_row(it) for it in history])

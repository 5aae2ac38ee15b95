"""The one PFPO iteration engine, for math and for code: sample -> the task's feedback and pairs -> train -> eval.

Iteration k (``OUT/iterK``) starts from model k-1 and runs, top to bottom:

1. the task's preparation steps (code: ``inputs``, test inputs for its problems);
2. ``sample``  -- the iteration's prompts (its own slice of the prompt file, or all of them), sampled with
   the ``sample`` settings from model k-1 (the generate stage);
3. the task's feedback and pair steps (math: ``label``, ``pairs_outcome``, ``pairs_process``; code:
   ``pairs_code``, ``pairs_code_process``), each returning ``{"pairs_file", "ratio", "pairs", "draws"}``;
4. ``train``   -- DPO (+ SFT term) from model k-1, which is also the reference, on every pair file of the
   iteration mixed at its ratio (the train stage);
5. ``eval``    -- the iteration's model on the benchmarks (the eval stage).

Iteration 0 only evaluates the starting model (``evaluate_start``). The loop (:mod:`ponder.recipes.iterate`) resumes after a crash
at the step that was running, and each step is itself resumable. A task (:class:`Task`) supplies only what
differs between math and code: its config's extra sections, its steps, its table. With ``backend: vllm`` the
generating stages of every iteration share one engine, each new policy reloaded into it (``warm_engine``;
:mod:`ponder.generation.warm`).

Epochs: a pair builder that redraws its random pairing every epoch writes one drawing per epoch (``draws``);
DPO then passes ``train.epochs / draws`` times over the files, so ``train.epochs`` means epochs either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from ponder.config import config_to_dict, extend
from ponder.errors import PonderError
from ponder.generation.warm import warm_engines
from ponder.io import write_records
from ponder.ranks import on_main
from ponder.recipes import iterate
from ponder.recipes.dpo import DPOConfig
from ponder.recipes.iterate import Iteration, Step, check_same_config, run_iterations
from ponder.recipes.pfpo.config import IterationConfig, check_iterations, iteration_config, iteration_seed
from ponder.records import Problem, load_records, validate_file


class Task:
    """What a PFPO task plugs into the engine (math: :mod:`~ponder.recipes.pfpo.math`; code:
    :mod:`~ponder.recipes.pfpo.code`)."""

    title = "PFPO"
    metric = "accuracy"  # the column plotted, and the per-benchmark key with several benchmarks
    plot = "accuracy.png"
    columns: Sequence[str] = ()

    def check(self, cfg: IterationConfig) -> None:
        """Refuse a config that cannot run, before any work."""

    def prepare_steps(self, cfg: IterationConfig) -> list[Step]:
        return []

    def prompts_file(self, cfg: IterationConfig, it: Iteration) -> Path:
        """The problems the iteration samples (written by the task when needed)."""
        raise NotImplementedError

    def pair_steps(self, cfg: IterationConfig) -> list[Step]:
        raise NotImplementedError

    def prompt(self, cfg: IterationConfig) -> Callable[[Problem], Problem] | None:
        """How a benchmark problem is prompted (the template of training), or None: as it is."""
        return None

    def row(self, it: Iteration) -> dict:
        raise NotImplementedError

    def extra(self, key: str) -> bool:
        """Columns beyond ``columns`` that the table shows when some row has them."""
        return key.startswith(("maj@", "pass@")) or key.endswith(f".{self.metric}")


# --------------------------------------------------------------------------- the shared steps


def iteration_problems(cfg: IterationConfig, index: int) -> list[Problem]:
    """The problems of iteration ``index`` (1-based): its own slice of the prompt file, or the whole file."""
    problems = load_records(cfg.prompts, Problem)
    m = cfg.prompts_per_iteration
    if m is None:
        return problems
    if index * m > len(problems):
        raise PonderError(
            f"{cfg.prompts}: {len(problems)} prompts are too few for iteration {index} of {m} fresh "
            f"prompts each (need {index * m})"
        )
    return problems[(index - 1) * m : index * m]


def write_once(path: Path, records: Callable[[], list]) -> Path:
    """``path``, holding ``records()`` unless it already exists (written by process 0 alone)."""

    def write() -> None:
        if not path.exists():
            write_records(path, records())

    on_main(write)
    return path


def sample_step(cfg: IterationConfig, task: Task) -> Step:
    """The iteration's problems, sampled from the iteration's model."""

    def run(it: Iteration) -> dict:
        from ponder.generation.stage import generate_file

        c = iteration_config(cfg, it.index)
        out = it.folder / "samples.jsonl"
        sample = dataclasses.replace(c.sample, seed=iteration_seed(c, it.index))
        summary = generate_file(task.prompts_file(c, it), out, it.model, sample, c.generation)
        return {"samples_file": str(out), **summary}

    return Step("sample", run)


def pair_step(
    cfg: IterationConfig,
    name: str,
    section: str,
    build: Callable[[IterationConfig, Iteration, Path], tuple[dict, int]],
    *,
    always: bool = False,
) -> Step:
    """A pair step: ``build(iteration's config, iteration, OUT/iterK/NAME.jsonl) -> (summary with "pairs",
    drawings per file)`` runs when the ``section``'s pairs are enabled (``always``: also when they are not,
    for what else it measures; its pairs are then not trained on)."""

    def run(it: Iteration) -> dict:
        c = iteration_config(cfg, it.index)
        source = getattr(c, section)
        if not (source.enabled or always):
            return {"pairs": 0, "skipped": f"{section} pairs disabled"}
        out = it.folder / f"{name}.jsonl"
        summary, draws = build(c, it, out)
        if not source.enabled:
            return {**summary, "pairs": 0, "skipped": f"{section} pairs disabled (only measured)"}
        return {"pairs_file": str(out), "ratio": source.ratio, "draws": draws, **summary}

    return Step(name, run)


def train_step(cfg: IterationConfig) -> Step:
    """DPO + SFT term on every pair file of the iteration, mixed at their ratios."""

    def run(it: Iteration) -> dict:
        from ponder.recipes import dpo

        c = iteration_config(cfg, it.index)
        sources = iterate.pair_sources(it)
        if not sources:
            names = ", ".join(f"{name}.done.json" for name in it.results)
            raise PonderError(f"{it.folder}: no pairs to train on in iteration {it.index}; see {names}")
        summary = dpo.run(dpo_config(c, it, sources))
        return {
            "model": summary["model"],
            "steps": summary["steps"],
            "data": sources,
            "seconds": summary["seconds"],
            "final": summary.get("final") or {},
        }

    return Step("train", run)


def dpo_config(cfg: IterationConfig, it: Iteration, sources: list[tuple[str, float]]) -> DPOConfig:
    """The trainer's config for iteration ``it``: from the iteration's model, which is also the reference."""
    draws = {s.get("draws", 1) for s in it.results.values() if s.get("pairs_file") and s.get("pairs", 1) > 0}
    if len(draws) > 1 or cfg.train.epochs % max(draws) != 0:
        raise PonderError(
            f"pair files of iteration {it.index} hold {sorted(draws)} drawings for {cfg.train.epochs} epochs"
        )
    train = dataclasses.replace(
        cfg.train, seed=iteration_seed(cfg, it.index), epochs=cfg.train.epochs // max(draws)
    )
    return extend(
        train,
        DPOConfig,
        model=it.model,
        data=[f"{path}:{ratio}" for path, ratio in sources],
        output=str(it.folder / "train"),
        resume=True,
    )


def evaluate(cfg: IterationConfig, task: Task, model: str, out: Path) -> dict:
    """``model`` on the benchmarks; ``{"metrics": ...}`` holds the first benchmark's numbers and, with several,
    ``BENCH.<metric>`` for each."""
    from ponder.eval.stage import evaluate_model

    if not cfg.eval.benchmarks:
        return {"metrics": {}, "skipped": "no benchmarks configured"}
    settings = dataclasses.replace(cfg.eval, seed=cfg.seed)
    report = evaluate_model(model, out, settings, cfg.generation, prompt=task.prompt(cfg))
    benches = report["benchmarks"]
    first = next(iter(benches.values()))
    metrics = {k: v for k, v in first.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    if len(benches) > 1:
        for name, b in benches.items():
            metrics[f"{name}.{task.metric}"] = b["accuracy"]
    return {"metrics": metrics, "benchmarks": benches, "report": str(out / "report.json")}


def eval_step(cfg: IterationConfig, task: Task) -> Step:
    """The iteration's resulting model (iteration 0: the starting model) on the benchmarks."""

    def run(it: Iteration) -> dict:
        model = it.results["train"]["model"] if "train" in it.results else it.model
        return evaluate(iteration_config(cfg, it.index), task, model, it.folder / "eval")

    return Step("eval", run)


def steps(cfg: IterationConfig, task: Task) -> list[Step]:
    """The steps of one iteration, in order."""
    return [
        *task.prepare_steps(cfg),
        sample_step(cfg, task),
        *task.pair_steps(cfg),
        train_step(cfg),
        eval_step(cfg, task),
    ]


# --------------------------------------------------------------------------- the run


def write_report(out: Path, rows: list[dict], task: Task) -> dict:
    """``report.json`` (rows), ``report.md`` (the table) and the plot of the task's metric."""
    return iterate.write_report(
        out, rows, task.columns, title=task.title, metric=task.metric, plot=task.plot, extra=task.extra
    )


def run(cfg: IterationConfig, task: Task, log: Callable[[str], None] = lambda m: None) -> dict:
    """Run every iteration (resuming a run in ``cfg.output``); return the report."""
    out = Path(cfg.output)
    validate_file(cfg.prompts, Problem)  # a file, dataset folder or hf:NAME; bad input fails before any work
    check_iterations(cfg)
    task.check(cfg)
    if cfg.prompts_per_iteration is not None:
        iteration_problems(cfg, cfg.iterations)  # fail before any work when the file is too short
    check_same_config(out, config_to_dict(cfg))
    with warm_engines(cfg.warm_engine):  # backend=vllm: one engine for every stage and iteration
        history = run_iterations(
            out,
            start_model=cfg.model,
            iterations=cfg.iterations,
            steps=steps(cfg, task),
            baseline=[eval_step(cfg, task)] if cfg.evaluate_start else [],
            log=log,
        )
    return write_report(out, [task.row(it) for it in history], task)

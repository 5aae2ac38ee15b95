"""The ``eval`` stage: one model on benchmark files, through the runner (:mod:`ponder.eval.runner`).

:class:`EvalSettings` is what ``ponder eval`` takes and what recipes nest as their ``eval:`` section;
:func:`evaluate_model` checks it, opens the model, picks the solver (one chat turn, or Thinker's inference
chain) and writes ``OUT/report.json``, ``report.md`` and ``report.png``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import option
from ponder.errors import PonderError
from ponder.eval.runner import Benchmark, chat_solver, evaluate, load_benchmark
from ponder.generation.backend import BackendSettings, model_name
from ponder.generation.base import SamplingParams
from ponder.records import Problem


@dataclass(frozen=True)
class EvalSettings:
    """What ``ponder eval`` measures and how answers are sampled."""

    benchmarks: list[str] = option(
        [],
        short="-b",
        help="Comma-separated FILE[:RULE] (rules: math, boxed, number, choice, code).",
    )
    samples_per_problem: int = option(
        4, flag="--n", short="-n", help="Samples per problem; accuracy is pass@1 averaged over them."
    )
    temperature: float = option(0.7, help="Sampling temperature; 0 means greedy.")
    top_p: float = option(1.0, help="Nucleus sampling mass.")
    max_new_tokens: int = option(2048, help="Token budget per answer.")
    seed: int = option(0, help="Sampling seed.")
    k: list[int] = option([1], help="Comma-separated k for pass@k and maj@k (each <= n).")
    rule: Literal["math", "boxed", "number", "choice", "code"] = option(
        "math", help="Grading rule for files without a :RULE suffix."
    )
    system: str | None = option(None, help="System message before each prompt.")
    name: str | None = option(
        None, help="Name of this run in reports (default: the model folder name; runs/X/model gives X)."
    )
    thinker: bool = option(False, help="Answer through the Thinker inference chain (tokens per stage).")
    thinker_fast: bool = option(False, help="Answer with Thinker's Fast Thinking stage alone.")
    thinker_config: str | None = option(
        None, help="YAML with the Thinker task fields (budgets, prompts) for --thinker/--thinker-fast."
    )

    def __post_init__(self) -> None:
        n = self.samples_per_problem
        if not self.k or min(self.k) < 1 or max(self.k) > n:
            raise ValueError(f"k: every k must be between 1 and samples_per_problem ({n}), got {self.k}")
        if self.thinker and self.thinker_fast:
            raise ValueError("choose one of thinker and thinker_fast")
        self.sampling()

    def sampling(self) -> SamplingParams:
        try:
            return SamplingParams.of(self, self.samples_per_problem)
        except ValueError as e:
            raise ValueError(str(e).replace("n must", "samples_per_problem must", 1)) from None

    def load(self, prompt: Callable[[Problem], Problem] | None = None) -> list[Benchmark]:
        """The benchmark files, each problem's prompt passed through ``prompt`` (e.g. a recipe's template)."""
        if not self.benchmarks:
            raise PonderError("no benchmark to evaluate on (--benchmarks FILE[:RULE],...)")
        benches = [load_benchmark(spec.strip(), self.rule) for spec in self.benchmarks if spec.strip()]
        if prompt is not None:
            for b in benches:
                b.problems = [prompt(p) for p in b.problems]
        return benches


def evaluate_model(
    model: str | None,
    out: str | Path | None,
    settings: EvalSettings = EvalSettings(),
    backend: BackendSettings = BackendSettings(),
    *,
    prompt: Callable[[Problem], Problem] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``settings.benchmarks`` into ``out`` (resumable); return the report."""
    if model is None or out is None or not settings.benchmarks:
        raise PonderError("ponder eval needs --model, --benchmarks and --out (or a subcommand: compare)")
    benches = settings.load(prompt)
    backend.check(model)
    generator = backend.open(model)
    if settings.thinker or settings.thinker_fast:
        from ponder.env.thinker import load_env_config
        from ponder.eval.thinker_solver import thinker_solver

        env = load_env_config(settings.thinker_config)
        solver = thinker_solver(generator, env, fast_only=settings.thinker_fast)
    else:
        solver = chat_solver(generator, system=settings.system)
    with generator:
        return evaluate(
            solver,
            benches,
            settings.sampling(),
            Path(out),
            ks=settings.k,
            name=settings.name or model_name(model),
        )

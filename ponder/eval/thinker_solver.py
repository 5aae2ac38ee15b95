"""Thinker's inference chain as a solver of the evaluation runner (``ponder eval --thinker``/``--thinker-fast``).

For each problem, ``params.n`` dialogues in inference mode (:func:`ponder.env.infer.run_chain`); the graded text
of an attempt is the dialogue's final answer -- the fast answer when Verification said Yes, else the
summary (the slow answer if the summary gives none) -- its tokens are those of every stage it ran, and
``stages`` reports them per stage, so the report shows tokens per stage. ``fast_only`` stops after Fast
Thinking (Thinker-Fast). The stage budgets come from the :class:`ThinkerEnvConfig`, not from
``params.max_new_tokens``. :func:`qa_solver` runs the single-turn baseline through its environment the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

from ponder.env.infer import run_chain
from ponder.env.qa import QAEnvConfig
from ponder.env.thinker import ThinkerEnvConfig
from ponder.eval.runner import Attempt, Solver
from ponder.generation.base import Generator, SamplingParams
from ponder.generation.stage import model_identity
from ponder.records import Episode, Problem


def attempt_of(ep: Episode) -> Attempt:
    by_stage = {t["stage"]: t for t in ep.turns}
    final = by_stage[ep.meta["final_stage"]] if ep.meta.get("final_stage") else ep.turns[-1]
    stages = {t["stage"]: int(t.get("num_tokens") or 0) for t in ep.turns}
    return Attempt(
        text=final["response"],
        num_tokens=sum(stages.values()),
        finish_reason=final["finish_reason"],
        stages=stages,
    )


def thinker_solver(
    generator: Generator,
    config: ThinkerEnvConfig | None = None,
    *,
    fast_only: bool = False,
    keep: list[Episode] | None = None,
) -> Solver:
    """Thinker's inference chain as a solver; every dialogue it runs is also appended to ``keep`` if given
    (e.g. for the verification confusion matrix, :func:`ponder.env.thinker.verification_counts`)."""
    config = config or ThinkerEnvConfig()

    def solve(problems: Sequence[Problem], params: SamplingParams) -> list[list[Attempt]]:
        eps = run_chain(
            generator,
            problems,
            n=params.n,
            task="thinker",
            thinker=config,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            fast_only=fast_only,
        )
        if keep is not None:
            keep.extend(eps)
        # run_chain keeps problem order with the n dialogues of a problem next to each other
        return [
            [attempt_of(ep) for ep in eps[i * params.n : (i + 1) * params.n]] for i in range(len(problems))
        ]

    solve.identity = {  # type: ignore[attr-defined]
        "solver": "thinker",
        "config": config,
        "fast_only": fast_only,
        "model": model_identity(generator),
    }
    return solve


def qa_solver(generator: Generator, config: QAEnvConfig | None = None) -> Solver:
    """The single-turn baseline through its environment (its ``qa`` prompt and budget), as a solver."""
    config = config or QAEnvConfig()

    def solve(problems: Sequence[Problem], params: SamplingParams) -> list[list[Attempt]]:
        eps = run_chain(
            generator,
            problems,
            n=params.n,
            task="qa",
            qa=config,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
        )
        return [
            [attempt_of(ep) for ep in eps[i * params.n : (i + 1) * params.n]] for i in range(len(problems))
        ]

    solve.identity = {"solver": "qa", "config": config, "model": model_identity(generator)}  # type: ignore[attr-defined]
    return solve

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

from ponder.env.infer import InferSettings, run_chain
from ponder.env.qa import QAEnvConfig
from ponder.env.thinker import ThinkerEnvConfig
from ponder.eval.runner import Attempt, Solver
from ponder.generation.backend import model_identity
from ponder.generation.base import Generator, SamplingParams
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


def chain_solver(
    generator: Generator,
    env: ThinkerEnvConfig | QAEnvConfig,
    *,
    fast_only: bool = False,
    keep: list[Episode] | None = None,
) -> Solver:
    """The inference chain of the task ``env`` configures as a solver (Thinker's four stages, or the single-turn
    baseline); every dialogue it runs is also appended to ``keep`` if given (e.g. for the verification
    confusion matrix, :func:`ponder.env.thinker.verification_counts`)."""

    def solve(problems: Sequence[Problem], params: SamplingParams) -> list[list[Attempt]]:
        settings = InferSettings(
            samples_per_problem=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            fast_only=fast_only,
        )
        eps = run_chain(generator, problems, settings, env=env)
        if keep is not None:
            keep.extend(eps)
        # run_chain keeps problem order with the n dialogues of a problem next to each other
        return [
            [attempt_of(ep) for ep in eps[i * params.n : (i + 1) * params.n]] for i in range(len(problems))
        ]

    # what names this solver's attempts (the evaluation's resume fingerprint)
    if isinstance(env, QAEnvConfig):
        solve.identity = {"solver": "qa", "config": env, "model": model_identity(generator)}  # type: ignore[attr-defined]
    else:
        solve.identity = {  # type: ignore[attr-defined]
            "solver": "thinker",
            "config": env,
            "fast_only": fast_only,
            "model": model_identity(generator),
        }
    return solve


def thinker_solver(
    generator: Generator,
    config: ThinkerEnvConfig | None = None,
    *,
    fast_only: bool = False,
    keep: list[Episode] | None = None,
) -> Solver:
    """Thinker's inference chain as a solver (``fast_only``: Thinker-Fast)."""
    return chain_solver(generator, config or ThinkerEnvConfig(), fast_only=fast_only, keep=keep)


def qa_solver(generator: Generator, config: QAEnvConfig | None = None) -> Solver:
    """The single-turn baseline through its environment (its ``qa`` prompt and budget), as a solver."""
    return chain_solver(generator, config or QAEnvConfig())

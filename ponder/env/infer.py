"""The Thinker inference chain over a problem file (``ponder thinker infer``): episodes out, resumable.

Each problem gets ``n`` dialogues in inference mode (the model's own Yes/No decides whether Slow Thinking
and Summarization run); each finished dialogue is one :class:`~ponder.records.Episode` record written through
:class:`~ponder.io.StageWriter`, so a killed run started again skips the episodes already written. With
``fast_only`` the chain stops after Fast Thinking (Thinker-Fast). The summary gives the accuracy of the final
answers (when the problems have gold answers) and the mean tokens of every stage.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ponder.config import option
from ponder.env.qa import QAEnv, QAEnvConfig
from ponder.env.runner import run_episodes, stage_tokens
from ponder.env.thinker import ThinkerEnv, ThinkerEnvConfig, verification_counts
from ponder.generation.backend import BackendSettings, model_identity
from ponder.generation.base import Generator
from ponder.io import StageWriter
from ponder.ranks import main_only
from ponder.records import Episode, Problem, load_records, read_records


@dataclass(frozen=True)
class InferSettings:
    """How ``ponder thinker infer`` samples its dialogues."""

    samples_per_problem: int = option(1, flag="--n", short="-n", help="Dialogues per problem.")
    temperature: float = option(0.7, help="Sampling temperature; 0 means greedy.")
    top_p: float = option(1.0, help="Nucleus sampling mass.")
    seed: int | None = option(
        0, help="Sampling seed (dialogue k of a problem depends on it, the problem and k)."
    )
    fast_only: bool = option(False, help="Stop after Fast Thinking (Thinker-Fast).")

    def __post_init__(self) -> None:
        if self.samples_per_problem < 1:
            raise ValueError(f"samples_per_problem must be >= 1, got {self.samples_per_problem}")


def episode_ids(problem: Problem, n: int) -> list[str]:
    return [problem.id] if n == 1 else [f"{problem.id}#{k}" for k in range(n)]


TaskConfig = ThinkerEnvConfig | QAEnvConfig


def make_infer_env(env: TaskConfig | None = None):
    """An inference-mode environment of the task ``env`` configures (default: Thinker's)."""
    if isinstance(env, QAEnvConfig):
        return QAEnv(env, mode="infer")
    return ThinkerEnv(env or ThinkerEnvConfig(), mode="infer")


def run_chain(
    generator: Generator,
    problems: Sequence[Problem],
    settings: InferSettings = InferSettings(),
    *,
    env: TaskConfig | None = None,
    desc: str = "",
) -> list[Episode]:
    """``samples_per_problem`` inference dialogues per problem of the task ``env`` configures (Thinker's or
    the single-turn baseline's), in problem order (episode ids ``id`` or ``id#k``)."""
    n = settings.samples_per_problem
    todo = [(p, i) for p in problems for i in episode_ids(p, n)]
    rollout = run_episodes(
        generator,
        [make_infer_env(env) for _ in todo],
        [p for p, _ in todo],
        temperature=settings.temperature,
        top_p=settings.top_p,
        seed=settings.seed,
        ids=[i for _, i in todo],
        desc=desc,
        max_stages=1 if settings.fast_only else None,
    )
    return rollout.episodes


def summarize_episodes(episodes: Sequence[Episode]) -> dict:
    """Accuracy of final answers (over episodes with a gold answer), tokens per stage, stage reach, verdicts."""
    graded = [ep for ep in episodes if ep.answer]
    reach: dict[str, int] = {}
    for ep in episodes:
        for t in ep.turns:
            reach[t["stage"]] = reach.get(t["stage"], 0) + 1
    out = {
        "episodes": len(episodes),
        "accuracy": sum(bool(ep.meta.get("final_correct")) for ep in graded) / len(graded)
        if graded
        else None,
        "mean_tokens": stage_tokens(episodes).get("total"),
        "tokens_per_stage": {k: v for k, v in stage_tokens(episodes).items() if k != "total"},
        "stage_reached": reach,
    }
    if "verify" in reach:
        out["verification"] = verification_counts(list(episodes))
        verdicts = [t.get("verdict") for ep in episodes for t in ep.turns if t["stage"] == "verify"]
        out["said_yes"] = sum(v == "yes" for v in verdicts) / len(verdicts)
    return out


@main_only
def infer_file(
    input_path: str | Path,
    output: str | Path,
    model: str | Generator,
    settings: InferSettings = InferSettings(),
    *,
    env: TaskConfig | None = None,
    backend: BackendSettings = BackendSettings(),
    problems_per_batch: int = 64,
) -> dict:
    """The ``thinker infer`` stage: the episodes of every problem of ``input_path`` to ``output`` (resumable),
    from ``model`` (a name, opened with ``backend``, or a Generator); returns the summary."""
    problems = load_records(input_path, Problem)  # validated in full before any output exists
    n = settings.samples_per_problem
    task = "qa" if isinstance(env, QAEnvConfig) else "thinker"
    t0 = time.perf_counter()
    with backend.use(model) as generator:
        identity = {"settings": settings, "task": task, "env": env, "model": model_identity(generator)}
        with StageWriter(output, settings=identity) as w:
            # Every episode id is asked about (not only until the first missing one): has() marks stale records.
            missing = {p.id: [not w.has(i, p) for i in episode_ids(p, n)] for p in problems}
            todo = [p for p in problems if any(missing[p.id])]
            resumed = sum(len(m) - sum(m) for m in missing.values())
            for start in range(0, len(todo), problems_per_batch):
                chunk = todo[start : start + problems_per_batch]
                desc = f"{task} {start + len(chunk)}/{len(todo)} problems"
                for ep in run_chain(generator, chunk, settings, env=env, desc=desc):
                    if ep.id not in w.done:
                        w.write(ep)
    summary = summarize_episodes(list(read_records(output, Episode)))
    summary.update(resumed=resumed, seconds=time.perf_counter() - t0, output=str(output))
    return summary

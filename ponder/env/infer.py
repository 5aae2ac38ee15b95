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
from pathlib import Path

from ponder.env.qa import QAEnv, QAEnvConfig
from ponder.env.runner import run_episodes, stage_tokens
from ponder.env.thinker import ThinkerEnv, ThinkerEnvConfig, verification_counts
from ponder.generation.base import Generator
from ponder.generation.stage import model_identity
from ponder.io import StageWriter
from ponder.records import Episode, Problem, load_records, read_records


def episode_ids(problem: Problem, n: int) -> list[str]:
    return [problem.id] if n == 1 else [f"{problem.id}#{k}" for k in range(n)]


def make_infer_env(task: str, thinker: ThinkerEnvConfig | None = None, qa: QAEnvConfig | None = None):
    if task == "thinker":
        return ThinkerEnv(thinker or ThinkerEnvConfig(), mode="infer")
    if task == "qa":
        return QAEnv(qa or QAEnvConfig(), mode="infer")
    raise ValueError(f"task must be 'thinker' or 'qa', got {task!r}")


def run_chain(
    generator: Generator,
    problems: Sequence[Problem],
    *,
    n: int = 1,
    task: str = "thinker",
    thinker: ThinkerEnvConfig | None = None,
    qa: QAEnvConfig | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    fast_only: bool = False,
    desc: str = "",
) -> list[Episode]:
    """``n`` inference dialogues per problem, in problem order (episode ids ``id`` or ``id#k``)."""
    todo = [(p, i) for p in problems for i in episode_ids(p, n)]
    envs = [make_infer_env(task, thinker, qa) for _ in todo]
    rollout = run_episodes(
        generator,
        envs,
        [p for p, _ in todo],
        temperature=temperature,
        top_p=top_p,
        seed=seed,
        ids=[i for _, i in todo],
        desc=desc,
        max_stages=1 if fast_only else None,
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


def infer_file(
    input_path: str | Path,
    output: str | Path,
    generator: Generator,
    *,
    n: int = 1,
    task: str = "thinker",
    thinker: ThinkerEnvConfig | None = None,
    qa: QAEnvConfig | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = 0,
    fast_only: bool = False,
    problems_per_batch: int = 64,
) -> dict:
    """Write the episodes of every problem of ``input_path`` to ``output`` (resumable); return the summary."""
    problems = load_records(input_path, Problem)  # validated in full before any output exists
    t0 = time.perf_counter()
    settings = {
        "n": n,
        "task": task,
        "thinker": thinker,
        "qa": qa,
        "temperature": temperature,
        "top_p": top_p,
        "seed": seed,
        "fast_only": fast_only,
        "model": model_identity(generator),
    }
    with StageWriter(output, settings=settings) as w:
        # Every episode id is asked about (not only until the first missing one): has() marks stale records.
        missing = {p.id: [not w.has(i, p) for i in episode_ids(p, n)] for p in problems}
        todo = [p for p in problems if any(missing[p.id])]
        resumed = sum(len(m) - sum(m) for m in missing.values())
        for start in range(0, len(todo), problems_per_batch):
            chunk = todo[start : start + problems_per_batch]
            eps = run_chain(
                generator,
                chunk,
                n=n,
                task=task,
                thinker=thinker,
                qa=qa,
                temperature=temperature,
                top_p=top_p,
                seed=seed,
                fast_only=fast_only,
                desc=f"{task} {start + len(chunk)}/{len(todo)} problems",
            )
            for ep in eps:
                if ep.id not in w.done:
                    w.write(ep)
    summary = summarize_episodes(list(read_records(output, Episode)))
    summary.update(resumed=resumed, seconds=time.perf_counter() - t0, output=str(output))
    return summary

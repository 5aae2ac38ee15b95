"""Iterated training: a sequence of iterations, each a list of named steps, resumable after any crash.

An iteration starts from a model, runs its steps in order (for PFPO: sample -> label -> pairs -> train ->
eval) in its own folder ``OUT/iterK``, and hands the model its train step wrote to the next iteration.
Iteration 0 is the starting model itself: it runs only the ``baseline`` steps (usually the evaluation), so
the per-iteration table has the row every later row is compared with.

Resuming: when a step finishes, its summary is saved as ``iterK/NAME.done.json``; a later run loads the
summaries of finished steps and skips them, so a crash costs at most the step that was running -- and each
step is itself resumable (stage files through ``StageWriter``, training from its checkpoints), so even that
step continues where it stopped.

The loop knows nothing about PFPO: a method supplies its steps (:class:`Step`), and a step reads what the
earlier steps of its iteration returned from ``it.results``. A pair step returns ``{"pairs_file": PATH,
"ratio": R, ...}``; :func:`pair_sources` collects them for the train step, so pair builders plug in and out
without the loop or the train step changing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ponder.errors import PonderError
from ponder.io import write_json, write_text
from ponder.ranks import broadcast, main_only, on_main
from ponder.train.steps import changed_fields


@dataclass
class Iteration:
    """One iteration: its number (0 = the starting model), folder, the model it starts from, the
    summaries of its finished steps, and the iterations before it."""

    index: int
    folder: Path
    model: str
    results: dict[str, dict] = field(default_factory=dict)
    history: list[Iteration] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"iter{self.index}"


@dataclass(frozen=True)
class Step:
    """A named step of an iteration: ``run(iteration) -> summary`` (a JSON-serialisable dict)."""

    name: str
    run: Callable[[Iteration], dict]


def pair_sources(it: Iteration) -> list[tuple[str, float]]:
    """``(pairs file, mixing ratio)`` of every pair step of the iteration so far, in step order."""
    out = []
    for summary in it.results.values():
        if summary.get("pairs_file") and summary.get("pairs", 1) > 0:
            out.append((summary["pairs_file"], float(summary.get("ratio", 1.0))))
    return out


def _done_path(folder: Path, step: str) -> Path:
    return folder / f"{step}.done.json"


def _run_steps(it: Iteration, steps: Sequence[Step], log: Callable[[str], None]) -> None:
    it.folder.mkdir(parents=True, exist_ok=True)
    for step in steps:
        done = _done_path(it.folder, step.name)
        if broadcast(done.exists()):  # every process skips the same steps
            it.results[step.name] = json.loads(done.read_text(encoding="utf-8"))
            log(f"{it.name}: {step.name} already done")
            continue
        log(f"{it.name}: {step.name}")
        start = time.perf_counter()
        summary = step.run(it)
        if not isinstance(summary, dict):
            raise TypeError(f"step {step.name!r} returned {type(summary).__name__}, expected a dict")
        summary = {**summary, "step_seconds": time.perf_counter() - start}
        on_main(write_json, done, summary)
        it.results[step.name] = summary


def run_iterations(
    out: str | Path,
    *,
    start_model: str,
    iterations: int,
    steps: Sequence[Step],
    baseline: Sequence[Step] = (),
    model_of: Callable[[Iteration], str] = lambda it: it.results["train"]["model"],
    log: Callable[[str], None] = lambda msg: None,
) -> list[Iteration]:
    """Run iteration 0 (``baseline`` steps on ``start_model``) and iterations 1..``iterations`` (``steps``),
    each starting from the model the previous one produced (``model_of``). Returns every iteration."""
    names = [s.name for s in steps] + [s.name for s in baseline]
    if len(set(s.name for s in steps)) != len(steps) or len(set(s.name for s in baseline)) != len(baseline):
        raise PonderError(f"step names must be unique within an iteration, got {names}")
    if iterations < 0:
        raise PonderError(f"iterations must be >= 0, got {iterations}")
    out = Path(out)
    history: list[Iteration] = []
    model = start_model
    for k in range(iterations + 1):
        it = Iteration(index=k, folder=out / f"iter{k}", model=model, history=list(history))
        _run_steps(it, baseline if k == 0 else steps, log)
        history.append(it)
        if k > 0:
            model = model_of(it)
    return history


@main_only
def check_same_config(out: str | Path, config: dict) -> None:
    """Save ``config`` as ``OUT/config.json``, or refuse to resume a run made with a different config
    (fields in :data:`ponder.train.steps.RESUME_FREE`, such as ``warm_engine``, may change)."""
    path = Path(out) / "config.json"
    if path.exists():
        changed = changed_fields(json.loads(path.read_text(encoding="utf-8")), config)
        if changed:
            raise PonderError(
                f"{path}: this folder holds a run with another config (differs in: {', '.join(changed)}); "
                "use a new output folder, or the same config to resume"
            )
        return
    write_json(path, config)


@main_only
def write_report(
    out: Path,
    rows: list[dict],
    columns: Sequence[str],
    *,
    title: str,
    metric: str,
    plot: str,
    extra: Callable[[str], bool] = lambda key: False,
) -> dict:
    """The per-iteration table of an iterated recipe: ``report.json`` (rows and table), ``report.md``, and a bar
    plot ``plot`` of ``metric`` and mean tokens. The table has the ``columns`` some row holds, then any
    other key for which ``extra`` is true."""
    from ponder.eval.report import bar_plot, markdown_table

    shown = [c for c in columns if any(c in r for r in rows)]
    shown += [k for k in dict.fromkeys(k for r in rows for k in r if extra(k)) if k not in shown]
    table = markdown_table(rows, shown)
    report = {"rows": rows, "table": table}
    write_json(out / "report.json", report)
    write_text(out / "report.md", f"# {title}\n\n{table}\n")
    if any(metric in r for r in rows):
        bar_plot(out / plot, rows, [metric, "mean_tokens"], title=title)
    return report

"""The ``ponder grade`` stage: add predictions, correctness and the majority vote to Sample records.

For each sample: ``preds[i]`` is the answer read from ``responses[i]`` by the rule (None when there is
none); ``correct[i]`` says whether it equals the gold ``answer`` (only when the sample has one);
``vote_answer`` / ``vote_share`` are the majority vote over ``preds`` (PFPO's pseudo label and its
share of all responses, unextractable ones included).

The input is validated in full before any output is written, so a bad file leaves no output and
gives one line naming the file, line and field. Output goes through ``StageWriter``: a killed run
resumes where it stopped without losing or duplicating records, and a sample whose record or grading
rule changed since it was graded is graded again. Samples are graded by a pool of processes in input order.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ponder.config import option
from ponder.errors import PonderError
from ponder.io import StageWriter
from ponder.progress import progress
from ponder.ranks import main_only
from ponder.records import Sample, read_samples, validate_file
from ponder.verify import math as vmath
from ponder.verify.answers import limits
from ponder.verify.rules import RULES, extract_with, get_rule, grade_with

BATCH_SAMPLES = 256


@dataclass(frozen=True)
class GradeSettings:
    """How ``ponder grade`` reads and compares answers."""

    rule: Literal["math", "boxed", "number", "choice"] = option(
        "math", help="Grading rule: math, boxed, number or choice."
    )
    workers: int = option(0, help="Processes to grade with (0: one per CPU core).")

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")


@dataclass
class GradeSummary:
    samples: int = 0
    resumed: int = 0
    responses_with_gold: int = 0
    correct: int = 0
    samples_with_gold: int = 0
    vote_correct: int = 0

    @property
    def accuracy(self) -> float:
        return self.correct / self.responses_with_gold if self.responses_with_gold else 0.0

    @property
    def vote_accuracy(self) -> float:
        return self.vote_correct / self.samples_with_gold if self.samples_with_gold else 0.0


def grade_sample(sample: Sample, rule: str = "math") -> tuple[Sample, bool | None]:
    """The sample with ``preds``, ``correct`` (when it has a gold answer) and the vote filled in.

    Also returns whether the vote equals the gold (None without gold), for the summary.
    """
    if sample.answer is not None:
        verdicts = [grade_with(rule, r, sample.answer) for r in sample.responses]
        sample.preds = [v.pred for v in verdicts]
        sample.correct = [v.correct for v in verdicts]
    else:
        sample.preds = [extract_with(rule, r) for r in sample.responses]
        sample.correct = None
    vote = vmath.majority_vote(sample.preds)
    sample.vote_answer = vote.answer
    sample.vote_share = vote.share
    vote_ok = None
    if sample.answer is not None:
        target = get_rule(rule).gold(sample.answer)
        vote_ok = vote.answer is not None and target is not None and vmath.is_equivalent(vote.answer, target)
    return sample, vote_ok


def _warm() -> None:
    # Each grading process starts its symbolic worker before its first sample, not inside a time limit.
    limits.POOL.warm()


def _grade_dict(job: tuple[dict, str]) -> tuple[dict, bool | None]:
    d, rule = job
    sample, vote_ok = grade_sample(Sample.from_dict(d), rule)
    return sample.to_dict(), vote_ok


@main_only
def grade_file(
    input_path: str | Path, output_path: str | Path, *, rule: str = "math", workers: int = 0
) -> GradeSummary:
    """Grade every sample of ``input_path`` into ``output_path`` (resumable). ``workers=0``: one per core."""
    if rule not in RULES:
        raise PonderError(f"--rule: unknown grading rule {rule!r}; choose one of {', '.join(RULES)}")
    total = validate_file(input_path, Sample)
    workers = workers or os.cpu_count() or 1
    summary = GradeSummary()
    with StageWriter(output_path, settings={"rule": rule}) as writer:
        graded = {s.id for s in read_samples(input_path) if writer.has(s.id, s)}
        summary.resumed = len(graded)
        todo = (s for s in read_samples(input_path) if s.id not in graded)
        bar = progress(total=max(0, total - summary.resumed), desc="grade", unit="sample")
        try:
            for d, vote_ok in _run(todo, rule, workers):
                writer.write(d)
                _count(summary, d, vote_ok)
                bar.update(1)
        finally:
            bar.close()
    return summary


def _run(samples, rule: str, workers: int):
    if workers <= 1:
        _warm()
        for s in samples:
            sample, vote_ok = grade_sample(s, rule)
            yield sample.to_dict(), vote_ok
        return
    # fork keeps start-up cheap and needs no re-import of the caller's main module.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers, initializer=_warm) as pool:
        batch: list[tuple[dict, str]] = []
        for s in samples:
            batch.append((s.to_dict(), rule))
            if len(batch) >= BATCH_SAMPLES:
                yield from pool.imap(_grade_dict, batch, chunksize=4)
                batch = []
        if batch:
            yield from pool.imap(_grade_dict, batch, chunksize=4)


def _count(summary: GradeSummary, d: dict, vote_ok: bool | None) -> None:
    summary.samples += 1
    correct = d.get("correct")
    if correct is not None:
        summary.responses_with_gold += len(correct)
        summary.correct += sum(correct)
    if vote_ok is not None:
        summary.samples_with_gold += 1
        summary.vote_correct += int(vote_ok)


def grade_command(
    settings: GradeSettings,
    input_path: Path | None,
    output: Path | None,
    pred: str | None = None,
    gold: str | None = None,
) -> str:
    """``ponder grade``: one ``pred`` against ``gold`` (the verdict as JSON), or a whole samples file (the
    summary line)."""
    import json

    if pred is not None or gold is not None:
        if pred is None or gold is None or input_path is not None or output is not None:
            raise PonderError("--pred and --gold go together, without --input/--output")
        return json.dumps(grade_with(settings.rule, pred, gold).to_dict(), ensure_ascii=False)
    if input_path is None or output is None:
        raise PonderError("give --input and --output (or --pred and --gold)")
    s = grade_file(input_path, output, rule=settings.rule, workers=settings.workers)
    line = f"graded {s.samples} samples to {output}"
    if s.resumed:
        line += f" ({s.resumed} already done)"
    if s.responses_with_gold:
        line += f"; accuracy {s.accuracy:.4f} over {s.responses_with_gold} responses"
        line += f", vote accuracy {s.vote_accuracy:.4f} over {s.samples_with_gold} samples"
    return line

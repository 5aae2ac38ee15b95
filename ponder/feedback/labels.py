"""Labels for sampled solutions: the gold answer, or the self-consistency vote of the samples (PFPO, §3).

A *labelled sample* is a :class:`~ponder.records.Sample` with these extra keys:

- ``label``: the answer the responses are judged against (the gold answer, or the plurality answer of the
  samples), or ``null`` when the problem is not kept (see ``drop_reason``);
- ``label_by``: ``"gold"`` or ``"vote"``;
- ``positive[i]``: response ``i`` reaches the label (its answer is equivalent to it);
- ``drop_reason``: why a problem has no label (``"vote share 0.375 <= 0.5"``, ``"no answer"``,
  ``"no gold answer"``); absent for kept problems;
- ``label_correct``: for vote labels of problems that carry a gold ``answer``, whether the label equals it --
  only for measuring pseudo-label accuracy; nothing downstream reads the gold answer.

plus ``preds``, ``vote_answer`` and ``vote_share`` (and ``correct`` when a gold answer is present), as
``ponder grade`` writes them.

Self-consistency (the paper's "PFPO-Self"): the label is the plurality answer among *all* n samples, and
the problem is kept only if that answer's share -- its count divided by n, responses without an answer
included -- is strictly above ``min_vote_share`` (the authors used 0, 0.2, 0.5 and 0.6). With
``min_vote_share = 0`` every problem where some response has an answer is kept.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.io import StageWriter, write_json
from ponder.progress import progress
from ponder.ranks import main_only
from ponder.records import Sample, iter_json_objects, read_samples, validate_file
from ponder.verify import math as vmath
from ponder.verify.grade_stage import grade_sample
from ponder.verify.rules import get_rule

LABEL_BY = ("gold", "vote")
SHARE_BINS = 10  # histogram of vote shares in tenths


@dataclass(frozen=True)
class LabelSettings:
    """Where labels come from and how answers are read (``ponder label``; PFPO's ``label:`` section)."""

    by: Literal["vote", "gold"] = option(
        "vote", help="vote: self-consistency pseudo labels; gold: the problems' answers."
    )
    min_vote_share: float = option(
        0.5,
        help="vote: keep a problem only if its plurality answer's share of all samples (no-answer ones "
        "included) is strictly above this.",
    )
    rule: Literal["math", "boxed", "number", "choice"] = option(
        "boxed", help="How answers are read and compared: math, boxed, number or choice."
    )
    workers: int = option(1, help="Processes to label with (0: one per CPU core).")

    def __post_init__(self) -> None:
        if not 0 <= self.min_vote_share < 1:
            raise ValueError(f"min_vote_share must be in [0, 1), got {self.min_vote_share}")
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")


@dataclass
class Labelled:
    """A labelled sample as the pair builders see it (read with :func:`read_labelled`)."""

    sample: Sample
    label: str
    positive: list[bool]

    @property
    def id(self) -> str:
        return self.sample.id


def vote_label(preds: list[str | None], min_vote_share: float) -> tuple[str | None, float, str | None]:
    """``(label, share, drop_reason)`` of a self-consistency vote over the answers ``preds``.

    ``share`` counts every response in the denominator, those without an answer (None or blank) too.
    The label is kept only when ``share > min_vote_share`` (strictly); otherwise ``label`` is None and
    ``drop_reason`` says why.
    """
    vote = vmath.majority_vote(preds)
    if vote.answer is None:
        return None, 0.0, "no answer"
    if not vote.share > min_vote_share:
        return None, vote.share, f"vote share {vote.share:.4g} <= {min_vote_share:g}"
    return vote.answer, vote.share, None


def matches(pred: str | None, label: str) -> bool:
    """Whether an extracted answer reaches the label (equivalent answers count)."""
    if pred is None or not pred.strip():
        return False
    if vmath.answer_key(pred) == vmath.answer_key(label):
        return True
    return vmath.is_equivalent(pred, label)


def label_sample(sample: Sample, by: str, *, min_vote_share: float = 0.5, rule: str = "boxed") -> Sample:
    """The sample with its label, ``positive[]`` and the vote filled in (see the module docstring)."""
    if by not in LABEL_BY:
        raise ValueError(f"unknown label source {by!r}; choose one of {', '.join(LABEL_BY)}")
    sample, _ = grade_sample(sample, rule)  # preds, correct (with gold), vote_answer, vote_share
    extra = dict(sample.extra or {})
    for key in ("label", "positive", "drop_reason", "label_correct"):
        extra.pop(key, None)
    extra["label_by"] = by
    gold = get_rule(rule).gold(sample.answer) if sample.answer is not None else None
    if by == "gold":
        if gold is None:
            label, reason = None, "no gold answer"
        else:
            label, reason = gold, None
        positive = list(sample.correct) if label is not None and sample.correct is not None else None
    else:
        label, _, reason = vote_label(sample.preds or [], min_vote_share)
        positive = [matches(p, label) for p in sample.preds] if label is not None else None
        if label is not None and gold is not None:
            extra["label_correct"] = vmath.is_equivalent(label, gold)
    extra["label"] = label
    if positive is not None:
        extra["positive"] = positive
    if reason is not None:
        extra["drop_reason"] = reason
    sample.extra = extra
    return sample


# --------------------------------------------------------------------------- the stage


@dataclass
class LabelSummary:
    """Counts of one ``ponder label`` run (over the whole output, resumed records included)."""

    by: str
    min_vote_share: float
    problems: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    responses: int = 0
    positive_responses: int = 0
    with_gold: int = 0
    label_correct: int = 0
    vote_share_histogram: list[int] = field(default_factory=lambda: [0] * SHARE_BINS)

    def add(self, d: dict) -> None:
        self.problems += 1
        share = d.get("vote_share") or 0.0
        self.vote_share_histogram[min(int(share * SHARE_BINS), SHARE_BINS - 1)] += 1
        if d.get("label") is None:
            reason = str(d.get("drop_reason", "unknown"))
            key = "vote share too low" if reason.startswith("vote share") else reason
            self.dropped[key] = self.dropped.get(key, 0) + 1
            return
        self.kept += 1
        positive = d.get("positive") or []
        self.responses += len(positive)
        self.positive_responses += sum(bool(p) for p in positive)
        if "label_correct" in d:
            self.with_gold += 1
            self.label_correct += bool(d["label_correct"])

    @property
    def label_accuracy(self) -> float | None:
        """Share of kept vote labels equal to the gold answer (None without gold answers)."""
        return self.label_correct / self.with_gold if self.with_gold else None

    def to_dict(self) -> dict:
        return {
            "by": self.by,
            "min_vote_share": self.min_vote_share,
            "problems": self.problems,
            "kept": self.kept,
            "dropped": dict(self.dropped),
            "responses": self.responses,
            "positive_responses": self.positive_responses,
            "positive_share": self.positive_responses / self.responses if self.responses else None,
            "label_accuracy": self.label_accuracy,
            "labels_checked_against_gold": self.with_gold,
            "vote_share_histogram": {
                f"{i / SHARE_BINS:.1f}-{(i + 1) / SHARE_BINS:.1f}": c
                for i, c in enumerate(self.vote_share_histogram)
            },
        }

    def lines(self) -> list[str]:
        out = [f"labelled {self.problems} problems by {self.by}: kept {self.kept}"]
        for reason, n in sorted(self.dropped.items()):
            out.append(f"  dropped ({reason}): {n}")
        if self.responses:
            out.append(f"  positive responses: {self.positive_responses} of {self.responses}")
        if self.label_accuracy is not None:
            out.append(
                f"  label accuracy against gold: {self.label_accuracy:.4f} over {self.with_gold} labels"
            )
        return out


def summary_path(output: str | Path) -> Path:
    """Where a stage writing ``output`` saves its summary: ``NAME.summary.json`` next to it."""
    output = Path(output)
    return output.with_name(f"{output.stem}.summary.json")


def _label_dict(job: tuple[dict, str, float, str]) -> dict:
    d, by, min_share, rule = job
    return label_sample(Sample.from_dict(d), by, min_vote_share=min_share, rule=rule).to_dict()


def _run(samples: Iterator[Sample], by: str, min_share: float, rule: str, workers: int) -> Iterator[dict]:
    if workers <= 1:
        for s in samples:
            yield label_sample(s, by, min_vote_share=min_share, rule=rule).to_dict()
        return
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with multiprocessing.get_context(method).Pool(workers) as pool:
        jobs = ((s.to_dict(), by, min_share, rule) for s in samples)
        yield from pool.imap(_label_dict, jobs, chunksize=8)


@main_only
def label_file(
    input_path: str | Path, output_path: str | Path, settings: LabelSettings = LabelSettings()
) -> LabelSummary:
    """Label every sample of ``input_path`` into ``output_path`` (resumable); save and return the summary.

    Every problem is written, kept or not (``label: null`` with a ``drop_reason`` when not), so the file
    and its summary account for all of them; pair builders use only labelled problems.
    """
    by, min_vote_share, rule = settings.by, settings.min_vote_share, settings.rule
    if Path(output_path).resolve() == Path(input_path).resolve():
        raise PonderError("--output must differ from --input")
    total = validate_file(input_path, Sample)
    workers = settings.workers or os.cpu_count() or 1
    # workers change how fast, not what: they are no part of the settings a record was made with
    with StageWriter(
        output_path, settings={"by": by, "min_vote_share": min_vote_share, "rule": rule}
    ) as writer:
        labelled = {s.id for s in read_samples(input_path) if writer.has(s.id, s)}
        todo = (s for s in read_samples(input_path) if s.id not in labelled)
        bar = progress(total=total, initial=len(labelled), desc=f"label ({by})", unit="sample")
        try:
            for d in _run(todo, by, min_vote_share, rule, workers):
                writer.write(d)
                bar.update(1)
        finally:
            bar.close()
    summary = LabelSummary(by=by, min_vote_share=min_vote_share)
    for _, d in iter_json_objects(output_path):
        summary.add(d)
    write_json(summary_path(output_path), summary.to_dict())
    return summary


# --------------------------------------------------------------------------- reading labelled samples


def read_labelled(path: str | Path) -> Iterator[Labelled]:
    """Stream the *kept* problems of a labelled file; a record without ``label`` / ``positive`` (or with
    ``positive`` of the wrong length) is an InputError naming the file, line and field."""
    seen = False
    for lineno, obj in iter_json_objects(path):
        sample = Sample.from_dict(obj, path=path, line=lineno)
        extra = sample.extra or {}
        if "label" not in extra:
            raise InputError(
                path, "missing (label the samples first: ponder label)", line=lineno, field="label"
            )
        seen = True
        label = extra["label"]
        if label is None:
            continue
        if not isinstance(label, str) or not label.strip():
            raise InputError(path, "expected a non-empty string or null", line=lineno, field="label")
        positive = extra.get("positive")
        if not isinstance(positive, list) or not all(isinstance(p, bool) for p in positive):
            raise InputError(path, "expected a list of true/false", line=lineno, field="positive")
        if len(positive) != len(sample.responses):
            raise InputError(
                path,
                f"has {len(positive)} items but 'responses' has {len(sample.responses)}",
                line=lineno,
                field="positive",
            )
        yield Labelled(sample, label, positive)
    if not seen:  # pragma: no cover - iter_json_objects already refuses empty files
        raise InputError(path, "file is empty (no records)")

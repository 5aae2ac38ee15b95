"""Typed records for every stage boundary, and their JSONL/Parquet I/O.

Shapes on disk (extra keys are kept and written back unchanged, so stages never lose data):

- ``Problem``  ``{id, prompt, answer?, tests?, source?, meta?}``
- ``Sample``   ``{id, prompt, responses[], finish_reasons[], num_tokens[], answer?, preds[]?, correct[]?,
  vote_answer?, vote_share?, meta?}``
- ``Pair``     ``{id, prompt, chosen, rejected, meta?}`` -- TRL's preference format; ``prompt``, ``chosen`` and
  ``rejected`` are strings or lists of chat messages ``{"role", "content"}``.
- ``Verdict``  ``{correct, pred, reason}`` -- a grader's answer about one response.
- ``Episode``  ``{id, prompt, turns[], answer?, meta?}`` -- a multi-stage dialogue (Thinker).

A record without ``id`` (most public data sets and TRL files) is named by the hash of its content
(:func:`ponder.jsonl.content_hash`): the same in every run, so stages resume on such files. A ``Pair``
without ``prompt`` is TRL's implicit-prompt format: ``chosen`` and ``rejected`` are split at their shared
prompt (:func:`ponder.record_fields.split_shared_prefix`).

Reading streams one line (or one Parquet batch) at a time, so memory stays flat for any file size.
Bad input raises :class:`~ponder.errors.InputError` naming the file, the line and the field (wrong types
here; broken JSON, deep nesting, huge integers and lone surrogates in :mod:`ponder.jsonl`).
Writing lives in :mod:`ponder.io` (atomic files, resumable stage output).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ponder import record_fields as rf
from ponder import sources
from ponder.errors import InputError
from ponder.jsonl import content_hash, iter_lines, valid_text

Message = rf.Message  # a chat message: {"role", "content"}
PromptLike = rf.PromptLike  # a text prompt or a list of chat messages

PARQUET_SUFFIXES = (".parquet", ".pq")


def _is_parquet(path: str | Path) -> bool:
    return str(path).endswith(PARQUET_SUFFIXES)


# --------------------------------------------------------------------------- records


class Record:
    """Base of every record: validation from a dict and conversion back, keeping unknown keys in ``extra``."""

    SPEC: dict[str, tuple[Callable[[Any], Any], bool]] = {}

    @classmethod
    def from_dict(cls, d: Any, *, path: str | Path = "<memory>", line: int | None = None):
        if not isinstance(d, dict):
            raise InputError(path, f"expected a JSON object, got {rf.type_name(d)}", line=line)
        if "id" in cls.SPEC and d.get("id") is None:
            # Public data sets (TRL pair files, Hub sets) rarely carry ids; stages resume by id, so a record
            # without one is named by its content: the same record gets the same id in every run.
            d = {"id": content_hash({k: v for k, v in d.items() if k != "id"}), **d}
        try:
            d = cls.prepare(d)
        except ValueError as e:
            msg, _, fld = str(e).partition("|")
            raise InputError(path, msg, line=line, field=fld or None) from None
        kwargs: dict[str, Any] = {}
        for name, (check, required) in cls.SPEC.items():
            if name not in d or (d[name] is None and not required):
                if required:
                    raise InputError(path, "missing", line=line, field=name)
                continue
            try:
                kwargs[name] = check(d[name])
            except ValueError as e:
                raise InputError(path, str(e), line=line, field=name) from None
        extra = {k: v for k, v in d.items() if k not in cls.SPEC}
        rec = cls(**kwargs)
        if extra:
            rec.extra = extra
        try:
            rec.check()
        except ValueError as e:
            msg, _, fld = str(e).partition("|")
            raise InputError(path, msg, line=line, field=fld or None) from None
        return rec

    @classmethod
    def prepare(cls, d: dict) -> dict:
        """The dict in this record's own shape (before its fields are checked); raise
        ``ValueError("message|field")``."""
        return d

    def check(self) -> None:
        """Cross-field checks; raise ``ValueError("message|field")``."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            v = getattr(self, f.name)
            if v is None or (f.name == "meta" and not v):
                continue
            out[f.name] = v
        out.update(getattr(self, "extra", None) or {})
        return out


# Fields of every record about one problem (all but Verdict): checked first (``id``, ``prompt``) and
# last (``meta``).
ID_AND_PROMPT = {"id": (rf.record_id, True), "prompt": (rf.text_or_messages, True)}
META = {"meta": (rf.mapping, False)}


@dataclass
class Problem(Record):
    """A question to answer; ``answer`` is the gold answer when known, ``tests`` the code tests when any."""

    id: str
    prompt: PromptLike
    answer: str | None = None
    tests: list[dict] | None = None
    source: str | None = None
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {
        **ID_AND_PROMPT,
        "answer": (rf.answer, False),
        "tests": (rf.list_of(rf.test), False),
        "source": (rf.string, False),
        **META,
    }


@dataclass
class Sample(Record):
    """n responses to one prompt; after grading also ``preds``, ``correct`` and the vote."""

    id: str
    prompt: PromptLike
    responses: list[str]
    finish_reasons: list[str]
    num_tokens: list[int]
    answer: str | None = None
    preds: list[str | None] | None = None
    correct: list[bool] | None = None
    vote_answer: str | None = None
    vote_share: float | None = None
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {
        **ID_AND_PROMPT,
        "responses": (rf.list_of(rf.string), True),
        "finish_reasons": (rf.list_of(rf.finish_reason), True),
        "num_tokens": (rf.list_of(rf.integer), True),
        "answer": (rf.answer, False),
        "preds": (rf.list_of(rf.pred), False),
        "correct": (rf.list_of(rf.boolean), False),
        "vote_answer": (rf.string, False),
        "vote_share": (rf.number, False),
        **META,
    }

    def check(self) -> None:
        n = len(self.responses)
        for name in ("finish_reasons", "num_tokens", "preds", "correct"):
            v = getattr(self, name)
            if v is not None and len(v) != n:
                raise ValueError(f"has {len(v)} items but 'responses' has {n}|{name}")


@dataclass
class Pair(Record):
    """A preference pair in TRL's format (plain text or conversational)."""

    id: str
    prompt: PromptLike
    chosen: PromptLike
    rejected: PromptLike
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {
        **ID_AND_PROMPT,
        "chosen": (rf.text_or_messages, True),
        "rejected": (rf.text_or_messages, True),
        **META,
    }

    @classmethod
    def prepare(cls, d: dict) -> dict:
        # TRL's implicit prompt: chosen and rejected are whole texts or conversations sharing the prompt.
        if d.get("prompt") is None and "chosen" in d and "rejected" in d:
            prompt, chosen, rejected = rf.split_shared_prefix(d["chosen"], d["rejected"])
            return {**d, "prompt": prompt, "chosen": chosen, "rejected": rejected}
        return d


@dataclass
class Verdict(Record):
    """A grader's judgement of one response: ``correct``, the extracted ``pred`` and a short ``reason``."""

    correct: bool
    pred: str | None
    reason: str
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {"correct": (rf.boolean, True), "pred": (rf.pred, False), "reason": (rf.string, True)}


@dataclass
class Episode(Record):
    """One multi-stage dialogue: ``turns`` holds ``{stage, prompt, response, reward, ...}`` per stage."""

    id: str
    prompt: PromptLike
    turns: list[dict]
    answer: str | None = None
    meta: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict, repr=False)

    SPEC = {
        **ID_AND_PROMPT,
        "turns": (rf.list_of(rf.mapping), True),
        "answer": (rf.answer, False),
        **META,
    }


R = TypeVar("R", bound=Record)


# --------------------------------------------------------------------------- reading


def iter_json_objects(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_value)`` for each non-blank line of a JSONL file, or each Parquet row;
    ``path`` may also be a dataset folder or ``hf:NAME`` (:mod:`ponder.sources`, which also renames
    columns).

    Streams: one line (or one Parquet batch) is in memory at a time. Raises InputError for a missing or
    empty file, invalid UTF-8, broken JSON, nesting deeper than ``MAX_DEPTH``, integers too long to convert
    and lone surrogates, naming the line (and the top-level field when there is one).
    """
    table = sources.iter_table_rows(path)
    if table is not None:  # a dataset folder or name (see ponder.sources)
        yield from table
        return
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file")
    if _is_parquet(path):
        yield from _iter_parquet(path)
        return
    seen_any = False
    for lineno, value in iter_lines(path):
        seen_any = True
        yield lineno, sources.renamed(value)
    if not seen_any:
        raise InputError(path, "file is empty (no records)")


def _iter_parquet(path: Path) -> Iterator[tuple[int, Any]]:
    from ponder import parquet

    row = 0
    for row, rec in enumerate(parquet.iter_rows(path), start=1):
        yield row, sources.renamed(rec)
    if row == 0:
        raise InputError(path, "file is empty (no records)")


def read_records(path: str | Path, kind: type[R]) -> Iterator[R]:
    """Stream typed records of ``kind`` from a JSONL or Parquet file, validating each one."""
    for lineno, obj in iter_json_objects(path):
        yield kind.from_dict(obj, path=path, line=lineno)


def read_problems(path: str | Path) -> Iterator[Problem]:
    return read_records(path, Problem)


def read_samples(path: str | Path) -> Iterator[Sample]:
    return read_records(path, Sample)


def read_pairs(path: str | Path) -> Iterator[Pair]:
    return read_records(path, Pair)


def iter_unique(path: str | Path, kind: type[R], *, unique_ids: bool = True) -> Iterator[tuple[int, R]]:
    """``(line, record)`` of every record of a file, checking each one and that ids are unique (stages rely
    on ids to resume); a repeated id is an InputError naming both lines."""
    first_line: dict[str, int] = {}
    for lineno, obj in iter_json_objects(path):
        rec = kind.from_dict(obj, path=path, line=lineno)
        rid = getattr(rec, "id", None)
        if unique_ids and rid is not None:
            if rid in first_line:
                why = (
                    f"duplicate id {rid!r} (first on line {first_line[rid]})"
                    if obj.get("id") is not None
                    else f"same content as line {first_line[rid]} (records without an id are named by "
                    "their content, so they must differ)"
                )
                raise InputError(path, why, line=lineno, field="id")
            first_line[rid] = lineno
        yield lineno, rec


def load_records(path: str | Path, kind: type[R], *, unique_ids: bool = True) -> list[R]:
    """Read a whole file into a list, checking that ids are unique (stages rely on ids to resume)."""
    return [rec for _, rec in iter_unique(path, kind, unique_ids=unique_ids)]


def validate_file(path: str | Path, kind: type[Record], *, unique_ids: bool = True) -> int:
    """Check every record of a file without keeping them; return the count. Memory: the set of ids only."""
    return sum(1 for _ in iter_unique(path, kind, unique_ids=unique_ids))


def load_dataset(path: str | Path, kind: type[Record] = Problem):
    """Load a record file as an HF ``datasets.Dataset`` (validated first, so errors name the line)."""
    import datasets

    validate_file(path, kind)
    if _is_parquet(path):
        # Rows are decoded by ponder (JSON columns back to lists and objects) before datasets sees them.
        rows = [obj for _, obj in iter_json_objects(path)]
        keys = list(
            dict.fromkeys(k for r in rows for k in r)
        )  # from_list would keep the first row's keys only
        return datasets.Dataset.from_list([{k: r.get(k) for k in keys} for r in rows])
    return datasets.load_dataset("json", data_files=str(path), split="train")


def dumps(rec: Record | dict) -> str:
    """One JSONL line (no newline) for a record; always encodable as UTF-8 (see :func:`valid_text`)."""
    return valid_text(
        json.dumps(
            rec.to_dict() if isinstance(rec, Record) else rec, ensure_ascii=False, separators=(",", ":")
        )
    )

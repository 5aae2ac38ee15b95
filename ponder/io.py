"""Atomic output files and resumable stage output.

Every file ponder writes appears complete or not at all: data goes to a temporary name in the same
folder and is renamed over the target (``os.replace``) when complete. Stages that produce one record
per input id write through :class:`StageWriter`, which survives ``kill -9`` and resumes without losing
or duplicating records.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ponder import parquet
from ponder.records import Record, _is_parquet, dumps, iter_json_objects


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_records(path: str | Path, records: Iterable[Record | dict]) -> int:
    """Write records atomically as JSONL, or Parquet when ``path`` ends in ``.parquet``. Returns the count."""
    dicts = (r.to_dict() if isinstance(r, Record) else r for r in records)
    with atomic_path(path) as tmp:
        if _is_parquet(path):
            return parquet.write_rows(tmp, dicts)
        n = 0
        with open(tmp, "w", encoding="utf-8") as fh:
            for d in dicts:
                fh.write(dumps(d) + "\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        return n


def write_json(path: str | Path, obj: Any) -> None:
    """Write one JSON document atomically (reports, summaries)."""
    write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


def write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _iter_lines(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


class StageWriter:
    """Resumable, atomic output of a stage.

    Records are appended to ``OUT.partial``, one ``write(2)`` per line; ``commit()`` renames it to ``OUT``
    (converting to Parquet when ``OUT`` ends in ``.parquet``). Started again after a crash (even ``kill -9``),
    it cuts a torn last line, and ``done`` holds the ids already written so the stage skips them.
    If ``OUT`` already exists, its records count as done and new ones are added to a copy of it.

    Usage::

        with StageWriter(out) as w:
            for p in problems:
                if p.id in w.done:
                    continue
                w.write(make_sample(p))
        # committed on normal exit; left as OUT.partial (resumable) on an exception
    """

    def __init__(self, path: str | Path, *, key: str = "id", fsync_every: int = 64):
        self.path = Path(path)
        self.key = key
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.fsync_every = fsync_every
        self.done: set[str] = set()
        self.written = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.partial.exists():
            self._repair_tail()
        elif self.path.exists():
            self._copy_existing()
        self._load_done()
        self.resumed = len(self.done)
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _repair_tail(self) -> None:
        # A line is complete only when its newline is on disk; cut anything after the last newline.
        with open(self.partial, "rb+") as fh:
            pos = fh.seek(0, os.SEEK_END)
            while pos > 0:
                start = max(0, pos - (1 << 16))
                fh.seek(start)
                idx = fh.read(pos - start).rfind(b"\n")
                if idx >= 0:
                    fh.truncate(start + idx + 1)
                    return
                pos = start
            fh.truncate(0)

    def _copy_existing(self) -> None:
        if _is_parquet(self.path):
            with open(self.partial, "w", encoding="utf-8") as fh:
                for _, obj in iter_json_objects(self.path):
                    fh.write(dumps(obj) + "\n")
        else:
            shutil.copyfile(self.path, self.partial)

    def _load_done(self) -> None:
        if not self.partial.exists():
            return
        with open(self.partial, "rb") as fh:
            for raw in fh:
                try:
                    obj = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # not possible after _repair_tail; never fail a resume on it
                if isinstance(obj, dict) and self.key in obj:
                    self.done.add(str(obj[self.key]))

    def write(self, rec: Record | dict) -> None:
        d = rec.to_dict() if isinstance(rec, Record) else rec
        view = memoryview((dumps(d) + "\n").encode("utf-8"))
        while view:  # os.write may write less than asked; the line is complete only with its newline
            view = view[os.write(self._fd, view) :]
        self.done.add(str(d.get(self.key)))
        self.written += 1
        if self.fsync_every and self.written % self.fsync_every == 0:
            os.fsync(self._fd)

    def commit(self) -> Path:
        """Make the output final: rename ``OUT.partial`` to ``OUT`` (or convert it to Parquet)."""
        os.fsync(self._fd)
        self.close()
        if _is_parquet(self.path):
            write_records(self.path, _iter_lines(self.partial))
            self.partial.unlink()
        else:
            os.replace(self.partial, self.path)
        return self.path

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StageWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.close()

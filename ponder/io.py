"""Atomic output files and resumable stage output.

Every file ponder writes appears complete or not at all: data goes to a temporary name in the same
folder and is renamed over the target (``os.replace``) when complete. Stages that produce one record
per input id write through :class:`StageWriter`, which survives ``kill -9``, resumes without losing
or duplicating records, recomputes records whose input or settings changed, and lets one run at a time
write an output.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ponder import parquet
from ponder.errors import InputError, PonderError
from ponder.jsonl import content_hash, decode_json
from ponder.records import Record, _is_parquet, dumps, iter_json_objects

FINGERPRINT = "fingerprint"  # the key of a record's job fingerprint (see StageWriter)


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


def read_json_lines(path: str | Path) -> Iterator[dict]:
    """The objects of a JSON-lines file, blank lines skipped. Lines end at newlines only: ``str.splitlines``
    would also break at U+2028 or U+0085, which JSON written with ``ensure_ascii=False`` keeps raw in a string."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def fingerprint(value: Any) -> str:
    """16 hex digits identifying ``value`` (records, dicts, lists, dataclasses of settings, paths).

    Canonical JSON (sorted keys, ASCII) hashed with BLAKE2b: equal values give equal fingerprints in
    every process and on every machine.
    """
    return content_hash(value, default=_plain)


def _plain(v: Any) -> Any:
    if isinstance(v, Record):
        return v.to_dict()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return dataclasses.asdict(v)
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, set | frozenset):
        return sorted(v, key=repr)
    raise TypeError(f"cannot fingerprint a {type(v).__name__}")


class OutputLock:
    """An exclusive lock on an output file, held by one run at a time (``fcntl.flock`` on ``.OUT.lock``).

    A second run on the same output fails at once with a PonderError naming the file and the holder's
    process id. The kernel releases the lock when its holder dies (even by ``kill -9``); a lock file left
    behind then is simply taken over.
    """

    def __init__(self, output: Path):
        self.output = output
        self.path = output.with_name(f".{output.name}.lock")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode("ascii", "replace").strip()
                os.close(fd)
                raise PonderError(
                    f"{output}: another run (process {holder or '?'}) is writing this output; "
                    "wait for it to finish or write to another file"
                ) from None
            # The holder before us may have removed the file between our open and our lock.
            if self._same_file(fd):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fd >= 0:
            if self._same_file(self.fd):
                self.path.unlink(missing_ok=True)
            os.close(self.fd)
            self.fd = -1


class StageWriter:
    """Resumable, atomic, exclusive output of a stage.

    Records are appended to ``OUT.partial``, one ``write(2)`` per line; ``commit()`` renames it to ``OUT``
    (converting to Parquet when ``OUT`` ends in ``.parquet``). One run at a time: a second writer on the
    same output fails at once (:class:`OutputLock`).

    Resume: started again after a crash (even ``kill -9``) it cuts a torn last line; if ``OUT`` already
    exists its records are kept and new ones added to a copy of it. Each record stores the *fingerprint*
    of the job that made it (``"fingerprint": "SETTINGS.INPUT"``: of ``settings`` and of the job's input,
    see :meth:`has`). A record whose fingerprint differs from its job's now -- the settings or its input
    changed since it was written -- is recomputed: ``has`` says False, and at commit the old record is
    dropped (the new one written in its place). So a resumed output equals a fresh run with today's
    settings and input. ``changed`` counts the records recomputed this way, by what changed, and the
    writer prints one line naming the file and what changed.

    No committed file holds an invalid line: lines of ``OUT.partial`` that are not JSON objects with the key
    (a corrupted middle line) are dropped at commit, and their jobs, not being done, are recomputed.

    Usage::

        with StageWriter(out, settings=cfg) as w:
            for p in problems:
                if w.has(p.id, p):  # done with this input and these settings
                    continue
                w.write(make_sample(p))
        # committed on normal exit; left as OUT.partial (resumable) on an exception

    ``done`` (the ids of every record present, whatever its fingerprint) serves stages that resume by id only.
    Records of ids this run never asks about are kept (an output extended with a second input file keeps
    the first file's records), unless ``drop_unchecked``: for outputs made in full from one input (pair
    files), where a record the current input no longer produces must go.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        key: str = "id",
        settings: Any = None,
        drop_unchecked: bool = False,
        fsync_every: int = 64,
    ):
        self.path = Path(path)
        self.key = key
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.fsync_every = fsync_every
        self.settings_fp = fingerprint(settings)
        self.drop_unchecked = drop_unchecked
        self.done: set[str] = set()
        self.changed = {"settings": 0, "input": 0, "no fingerprint": 0}
        self.written = 0
        self._stored: dict[str, str | None] = {}  # id -> fingerprint of its record on disk
        self._expected: dict[str, str] = {}  # id -> fingerprint of its job now (from has())
        self._stale: set[str] = set()  # ids whose record on disk is replaced
        self._untidy = False  # OUT.partial holds invalid or repeated lines: rewrite it at commit
        self._loaded = 0  # lines of OUT.partial from earlier runs
        self._fd = -1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = OutputLock(self.path)
        try:
            if self.partial.exists():
                self._repair_tail()
            elif self.path.exists():
                self._copy_existing()
            self._load_done()
            self.resumed = len(self.done)
            self._fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        except BaseException:
            self._lock.release()
            raise

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

    def _record_of(self, raw: bytes) -> dict | None:
        """The record on a line of OUT.partial, or None when the line is not a valid record."""
        try:
            obj = decode_json(raw.decode("utf-8"), self.partial, None)
        except (InputError, UnicodeDecodeError):
            return None
        return obj if isinstance(obj, dict) and self.key in obj else None

    def _load_done(self) -> None:
        if not self.partial.exists():
            return
        with open(self.partial, "rb") as fh:
            for raw in fh:
                self._loaded += 1
                obj = self._record_of(raw)
                if obj is None:
                    self._untidy = self._untidy or bool(raw.strip())
                    continue
                rid = str(obj[self.key])
                if rid in self._stored:
                    self._untidy = True  # a record replaced by a later run: the last one counts
                self.done.add(rid)
                fp = obj.get(FINGERPRINT)
                self._stored[rid] = fp if isinstance(fp, str) else None

    def has(self, rid: Any, job: Any) -> bool:
        """True when OUT holds the record of ``rid`` made from ``job`` (its input) with these settings.

        Remembers the fingerprint that :meth:`write` stores with the record of ``rid``. A record made from
        another input or other settings is marked for replacement and counted in ``changed``.
        """
        rid = str(rid)
        fp = f"{self.settings_fp}.{fingerprint(job)}"
        self._expected[rid] = fp
        if rid not in self.done:
            return False
        old = self._stored.get(rid)
        if old == fp:
            return True
        if rid not in self._stale:
            self._stale.add(rid)
            if old is None or "." not in old:
                self.changed["no fingerprint"] += 1
            elif old.split(".", 1)[0] != self.settings_fp:
                self.changed["settings"] += 1
            else:
                self.changed["input"] += 1
        self.done.discard(rid)
        return False

    def write(self, rec: Record | dict) -> None:
        d = rec.to_dict() if isinstance(rec, Record) else rec
        rid = str(d.get(self.key))
        fp = self._expected.get(rid)
        if fp is not None:
            d = {**d, FINGERPRINT: fp}
        view = memoryview((dumps(d) + "\n").encode("utf-8"))
        while view:  # os.write may write less than asked; the line is complete only with its newline
            view = view[os.write(self._fd, view) :]
        self.done.add(rid)
        self._stored[rid] = fp
        self.written += 1
        if self.fsync_every and self.written % self.fsync_every == 0:
            os.fsync(self._fd)

    def commit(self) -> Path:
        """Make the output final: rename ``OUT.partial`` to ``OUT`` (or convert it to Parquet)."""
        os.fsync(self._fd)
        self._close_fd()
        try:
            if (
                self._untidy
                or self._stale
                or (self.drop_unchecked and self._stored.keys() - self._expected.keys())
            ):
                self._tidy()
            if _is_parquet(self.path):
                write_records(self.path, read_json_lines(self.partial))
                self.partial.unlink()
            else:
                os.replace(self.partial, self.path)
        finally:
            self._lock.release()
        return self.path

    def _tidy(self) -> None:
        """Rewrite OUT.partial without invalid lines, without records replaced since (by a later line of
        an earlier run, or by this run after a fingerprint mismatch) and, with ``drop_unchecked``, without
        records of ids this run did not ask about."""
        last: dict[str, int] = {}
        with open(self.partial, "rb") as fh:
            for i, raw in enumerate(fh):
                obj = self._record_of(raw) if i < self._loaded else None
                if obj is not None:
                    last[str(obj[self.key])] = i
        with atomic_path(self.partial) as tmp, open(self.partial, "rb") as src, open(tmp, "wb") as out:
            for i, raw in enumerate(src):
                if i >= self._loaded:
                    out.write(raw)  # written by this run
                    continue
                obj = self._record_of(raw)
                if obj is None:
                    continue
                rid = str(obj[self.key])
                unchecked = self.drop_unchecked and rid not in self._expected
                if last[rid] == i and rid not in self._stale and not unchecked:
                    out.write(raw)
            out.flush()
            os.fsync(out.fileno())

    def _report_changes(self) -> None:
        parts = [
            f"{n} whose {what} changed" for what, n in self.changed.items() if n and what != "no fingerprint"
        ]
        if self.changed["no fingerprint"]:
            parts.append(f"{self.changed['no fingerprint']} written without a fingerprint")
        if parts:
            print(f"ponder: {self.path}: recomputed records: {', '.join(parts)}", file=sys.stderr)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._report_changes()

    def close(self) -> None:
        """Stop writing without committing (``OUT.partial`` stays, resumable) and release the output."""
        self._close_fd()
        self._lock.release()

    def __enter__(self) -> StageWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.close()

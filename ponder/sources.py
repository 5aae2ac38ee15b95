"""Where records come from: a file, a local dataset folder or a data set name, with renamed columns.

Every stage reads its input through :func:`iter_rows`, so each of these works wherever a record file does:

- ``FILE.jsonl`` / ``FILE.parquet``: a record file;
- ``FOLDER``: a folder written by ``datasets``' ``save_to_disk``, or a folder of ``.parquet`` / ``.jsonl``
  shards (read in the order of their paths; HF's ``data/train-00000-of-00002.parquet`` layout included);
- ``hf:NAME[:CONFIG]``: a data set loaded by ``datasets.load_dataset(NAME, CONFIG)`` (a Hub name, or a local
  folder or script it understands; offline once it is cached).

A folder or data set holding several splits needs one named: ``SOURCE@SPLIT`` (``hf:openai/gsm8k:main@test``).

Columns are renamed by a mapping ``{field: column}`` (``--columns prompt=question,answer=solution``) set for
the whole command with :func:`columns`: a row having ``column`` and no ``field`` gets it under the field's
name. Rows that already have the field (ponder's own files read back) are left alone, so one mapping serves
every file a command reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ponder.errors import InputError, PonderError

DATASET_PREFIX = "hf:"
RECORD_SUFFIXES = (".jsonl", ".parquet", ".pq")
_MAPPING: dict[str, str] = {}  # field -> column, for the running command


def parse_columns(text: str) -> dict[str, str]:
    """``"prompt=question,answer=solution"`` -> ``{"prompt": "question", "answer": "solution"}``."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        field, sep, column = (s.strip() for s in item.partition("="))
        if not sep or not field or not column:
            raise PonderError(f"--columns: expected FIELD=COLUMN items separated by commas, got {item!r}")
        if field in out:
            raise PonderError(f"--columns: field {field!r} is mapped twice")
        out[field] = column
    return out


def set_columns(mapping: dict[str, str]) -> None:
    """Rename columns of every row read from now on (``{field: column}``; empty: none)."""
    _MAPPING.clear()
    _MAPPING.update(mapping)


@contextmanager
def columns(mapping: dict[str, str]) -> Iterator[None]:
    """Rename columns of every row read inside the block (see the module docstring)."""
    before = dict(_MAPPING)
    set_columns(mapping)
    try:
        yield
    finally:
        set_columns(before)


def renamed(row: Any) -> Any:
    """``row`` with the mapped columns under their fields' names (rows that are not objects unchanged)."""
    if not _MAPPING or not isinstance(row, dict):
        return row
    out = dict(row)
    for field, column in _MAPPING.items():
        if field not in out and column in out:
            out[field] = out.pop(column)
    return out


def is_dataset_name(source: str | Path) -> bool:
    return str(source).startswith(DATASET_PREFIX)


def _split_of(source: str | Path) -> tuple[str, str | None]:
    text = str(source)
    if "@" in text and not Path(text).exists():
        base, _, split = text.rpartition("@")
        return base, split or None
    return text, None


def iter_table_rows(source: str | Path) -> Iterator[tuple[int, Any]] | None:
    """``(row, value)`` for a folder or data set name (``None`` for a plain file, read by the caller)."""
    base, split = _split_of(source)
    if is_dataset_name(base):
        return _iter_dataset(source, _load_named(source, base[len(DATASET_PREFIX) :], split))
    path = Path(base)
    if not path.is_dir():
        if split is not None and not path.exists():
            raise InputError(source, "no such file or folder")
        return None
    if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
        import datasets

        return _iter_dataset(source, _one_split(source, datasets.load_from_disk(str(path)), split))
    return _iter_shards(source, path, split)


def _load_named(source: str | Path, name: str, split: str | None):
    import datasets

    name, _, config = name.partition(":")
    try:
        ds = datasets.load_dataset(name, config or None)
    except Exception as e:  # datasets raises many kinds (not found, offline, bad config)
        raise InputError(source, f"cannot load the data set ({type(e).__name__}: {e})") from None
    return _one_split(source, ds, split)


def _one_split(source: str | Path, ds: Any, split: str | None):
    if not hasattr(ds, "keys"):  # a Dataset: one split
        if split is not None:
            raise InputError(source, f"holds a single split; drop '@{split}'")
        return ds
    names = list(ds.keys())
    if split is None and len(names) == 1:
        return ds[names[0]]
    if split in names:
        return ds[split]
    where = str(source).rpartition("@")[0] if split else str(source)
    raise InputError(source, f"holds splits {', '.join(names)}; name one as {where}@{names[0]}")


def _iter_dataset(source: str | Path, ds: Any) -> Iterator[tuple[int, Any]]:
    from ponder import parquet

    n = 0
    for n, row in enumerate(ds, start=1):
        yield n, renamed(parquet.plain_row(row, source, n))
    if n == 0:
        raise InputError(source, "data set is empty (no records)")


def _shards(path: Path, split: str | None) -> list[Path]:
    files = sorted(
        p for p in path.rglob("*") if p.is_file() and p.name.endswith(RECORD_SUFFIXES) and "." != p.name[0]
    )
    if split is not None:
        files = [p for p in files if p.name.startswith(split) or split in p.relative_to(path).parts[:-1]]
    return files


def _iter_shards(source: str | Path, path: Path, split: str | None) -> Iterator[tuple[int, Any]]:
    from ponder import parquet
    from ponder.jsonl import iter_lines

    files = _shards(path, split)
    if not files:
        what = f" of split {split!r}" if split else ""
        raise InputError(source, f"folder holds no .jsonl or .parquet files{what}")
    n = 0
    for f in files:
        rows = parquet.iter_rows(f) if not f.name.endswith(".jsonl") else (v for _, v in iter_lines(f))
        for row in rows:
            n += 1
            yield n, renamed(row)
    if n == 0:
        raise InputError(source, "folder holds no records")

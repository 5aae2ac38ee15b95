"""Parquet encoding of records: exact round trip, readable by other tools.

A column whose values are all strings, all integers, all numbers or all booleans is stored natively
(so ``id``, ``answer`` or a plain-text ``prompt`` read naturally in pandas, DuckDB or ``datasets``), and so is
a column of lists of one such kind (``responses``: list of strings, ``num_tokens``: list of integers) or of
lists of objects with string values and the same keys (conversations: list of ``{role, content}`` structs),
so ``datasets`` and TRL read message columns as conversations. Any other column (``meta`` objects, mixed
types, messages with other keys or values) is stored as JSON text and listed in the schema metadata key
``ponder.json_columns``, so reading gives back exactly the dicts that were written. Files written before
nested columns were native (with JSON text for every list) read the same way.

Writing makes two streaming passes over a spooled JSONL copy (one to learn the columns and their kinds,
one to write), so memory stays flat for any number of rows. Text is written as valid UTF-8 (lone surrogates
become U+FFFD, see :func:`ponder.jsonl.valid_text`); JSON columns are checked on reading like JSONL lines.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ponder.jsonl import decode_json, valid_text

JSON_COLUMNS_KEY = b"ponder.json_columns"
BATCH_ROWS = 8192


def iter_rows(path: str | Path) -> Iterator[dict]:
    """Yield each row of a Parquet file as a dict, decoding ponder's JSON columns. Raises ValueError."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        from ponder.errors import InputError

        raise InputError(path, f"not a readable Parquet file ({type(e).__name__}: {e})") from None
    meta = pf.schema_arrow.metadata or {}
    json_cols = set(json.loads(meta.get(JSON_COLUMNS_KEY, b"[]")))
    n = 0
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            n += 1
            out = plain_row({k: v for k, v in row.items() if k not in json_cols}, path, n)
            for k in json_cols:
                if row.get(k) is not None:
                    out[k] = decode_json(row[k], path, n, field=k)
            yield {k: out[k] for k in row if k in out}


def plain_row(row: dict, path: str | Path = "<table>", line: int | None = None) -> dict:
    """A row of a columnar table as a record: absent values (null) dropped, at the top level (a key absent
    from this record) and in the objects of a list (a struct column fills keys a message lacks with null);
    dates and times as ISO text, decimals as text. Other values no record holds (bytes: images, audio)
    raise InputError naming the column."""
    out = {}
    for k, v in row.items():
        if v is None:
            continue
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            v = [{a: b for a, b in x.items() if b is not None} for x in v]
        try:
            out[k] = _json_value(v)
        except TypeError as e:
            from ponder.errors import InputError

            raise InputError(
                path, f"{e}; records hold text, numbers, lists and objects", line=line, field=k
            ) from None
    return out


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    if isinstance(v, list | tuple):
        return [_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, datetime.date | datetime.time):
        return v.isoformat()
    if isinstance(v, decimal.Decimal | datetime.timedelta):
        return str(v)
    raise TypeError(f"a {type(v).__name__} value")


def _scalar_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int" if -(2**63) <= v < 2**63 else "json"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "json"


def _item_kind(v: Any) -> str | None:
    """The kind of a list item: a scalar kind, ``struct:K1,K2`` for an object whose values are all strings
    (a chat message), else json; None for null (fits any kind)."""
    if v is None:
        return None
    if isinstance(v, dict):
        ok = v and all(isinstance(k, str) and "," not in k and isinstance(x, str) for k, x in v.items())
        keys = sorted(v, key=lambda k: (k != "role", k != "content", k))  # a message reads role first
        return "struct:" + ",".join(keys) if ok else "json"
    return _scalar_kind(v)


def _kind(v: Any) -> str:
    """``str``, ``int``, ``float``, ``bool``, ``list:ITEM`` (``list:`` while the items are unknown) or json."""
    if not isinstance(v, list):
        return _scalar_kind(v)
    item: str | None = None
    for x in v:
        k = _item_kind(x)
        if k is None or k == item:
            continue
        if k == "json" or item is not None:
            return "json"  # mixed items (3 and 3.0 too: ints stay ints only in a column of their own)
        item = k
    return "list:" + (item or "")


def _merge(a: str | None, b: str) -> str:
    if a is None or a == b:
        return b
    if {a, b} == {"int", "float"}:
        return "float"
    if a.startswith("list:") and b.startswith("list:") and "" in (a[5:], b[5:]):
        return a if a[5:] else b  # empty lists fit any list column
    return "json"


def _arrow_type(kind: str | None):
    import pyarrow as pa

    scalars = {"bool": pa.bool_(), "int": pa.int64(), "float": pa.float64(), "str": pa.string()}
    if kind is None or not kind.startswith("list:"):
        return scalars.get(kind or "str", pa.string())
    item = kind[5:] or "str"
    if item.startswith("struct:"):
        return pa.list_(pa.struct([(k, pa.string()) for k in item[7:].split(",")]))
    return pa.list_(scalars[item])


def write_rows(path: str | Path, rows: Iterable[dict]) -> int:
    """Write dict rows to a Parquet file at ``path`` (not atomic by itself; see ``ponder.io``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    fd, spool = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".spool.jsonl", dir=path.parent)
    kinds: dict[str, str | None] = {}
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for r in rows:
                for k, v in r.items():
                    if v is not None:
                        kinds[k] = _merge(kinds.get(k), _kind(v))
                    else:
                        kinds.setdefault(k, None)
                fh.write(valid_text(json.dumps(r, ensure_ascii=False)) + "\n")
                n += 1
        fields = [pa.field(k, _arrow_type(kind)) for k, kind in kinds.items()]
        json_cols = [k for k, kind in kinds.items() if kind == "json"]
        schema = pa.schema(fields, metadata={JSON_COLUMNS_KEY: json.dumps(json_cols).encode()})
        with pq.ParquetWriter(path, schema) as writer, open(spool, encoding="utf-8") as fh:
            batch: list[dict] = []
            for line in fh:
                batch.append(json.loads(line))
                if len(batch) >= BATCH_ROWS:
                    writer.write_table(_table(batch, schema, json_cols))
                    batch.clear()
            if batch or n == 0:
                writer.write_table(_table(batch, schema, json_cols))
    finally:
        Path(spool).unlink(missing_ok=True)
    return n


def _table(batch: list[dict], schema, json_cols: list[str]):
    import pyarrow as pa

    cols = {}
    for f in schema:
        vals = [r.get(f.name) for r in batch]
        if f.name in json_cols:
            vals = [None if v is None else json.dumps(v, ensure_ascii=False) for v in vals]
        cols[f.name] = pa.array(vals, type=f.type)
    return pa.table(cols, schema=schema)

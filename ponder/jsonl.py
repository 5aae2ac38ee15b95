"""JSON values of record files, read and written safely.

Reading: :func:`iter_lines` streams a JSONL file and :func:`decode_json` decodes one line; both raise
:class:`~ponder.errors.InputError` naming the file, line and top-level field for anything a record may not
hold -- broken JSON, invalid UTF-8, nesting deeper than ``MAX_DEPTH`` levels (a line of 100,000 nested
lists would otherwise end in RecursionError), integers longer than Python converts (4,300 digits) and lone
surrogates (``"\\ud800"``: valid JSON syntax, not valid Unicode, and not writable as UTF-8).

Writing: :func:`valid_text` makes any text encodable as UTF-8 (a lone surrogate, which only program
output or a remote server can produce, becomes U+FFFD), so no record crashes its writer and every
written file reads back.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ponder.errors import InputError

MAX_DEPTH = 100  # nesting of lists and objects in one record (records need a handful of levels)
_SURROGATE = re.compile("[\ud800-\udfff]")


def iter_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(line_number, value)`` for each non-blank line of a JSONL file (a BOM on line 1 is skipped)."""
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InputError(path, f"invalid UTF-8 at byte {e.start} of the line", line=lineno) from None
            if lineno == 1 and text.startswith("\ufeff"):
                text = text[1:]
            if text.strip():
                yield lineno, decode_json(text, path, lineno)


class _LongInt:
    """Stands for an integer literal too long for ``int()`` while the field holding it is found."""

    def __init__(self, digits: int):
        self.digits = digits


def decode_json(text: str, path: str | Path, line: int | None, field: str | None = None) -> Any:
    """One JSON value, checked by :func:`check_value`; InputError naming ``path``, ``line`` and the field."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(path, f"broken JSON: {e.msg} (column {e.colno})", line=line, field=field) from None
    except RecursionError:
        where = field or _deep_field(text)
        raise InputError(path, f"nested deeper than {MAX_DEPTH} levels", line=line, field=where) from None
    except ValueError:
        # An integer literal beyond the digits Python converts: parse again to find where it is.
        value = json.loads(text, parse_int=lambda s: int(s) if len(s) <= _max_digits() else _LongInt(len(s)))
    problem = check_value(value)
    if problem is not None:
        where, message = problem
        raise InputError(path, message, line=line, field=field or where)
    return value


def _max_digits() -> int:
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 0
    return limit or 1 << 62


def check_value(value: Any) -> tuple[str | None, str] | None:
    """``(top-level field, message)`` for the first thing in ``value`` no record may hold, else None:
    nesting deeper than MAX_DEPTH, a lone surrogate in a string or key, an integer too long to convert."""
    stack: list[tuple[Any, int, str | None]] = [(value, 0, None)]
    while stack:
        v, depth, top = stack.pop()
        if isinstance(v, str):
            if not v.isascii() and (m := _SURROGATE.search(v)):
                return top, f"lone surrogate U+{ord(m.group()):04X} in a string (not valid Unicode)"
        elif isinstance(v, dict | list):
            if depth >= MAX_DEPTH:
                return top, f"nested deeper than {MAX_DEPTH} levels"
            if isinstance(v, dict):
                for k, x in v.items():
                    name = k if depth == 0 else top
                    if not k.isascii() and (m := _SURROGATE.search(k)):
                        return name, f"lone surrogate U+{ord(m.group()):04X} in a key (not valid Unicode)"
                    stack.append((x, depth + 1, name))
            else:
                stack.extend((x, depth + 1, top) for x in v)
        elif isinstance(v, _LongInt):
            return top, f"integer with {v.digits} digits (at most {_max_digits()} can be read)"
    return None


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}:]')


def _deep_field(text: str) -> str | None:
    """The top-level field in which ``text`` nests deeper than MAX_DEPTH (for the error message)."""
    depth, key, last = 0, None, None
    for m in _TOKENS.finditer(text):
        t = m.group()
        if t in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return key
        elif t in ("]", "}"):
            depth -= 1
        elif t == ":":
            if depth == 1 and last is not None:
                key = json.loads(last)
        elif depth == 1:
            last = t
    return key


def content_hash(value: Any, default: Callable[[Any], Any] | None = None) -> str:
    """16 hex digits identifying a JSON value: BLAKE2b of its canonical JSON (sorted keys, ASCII), so equal
    values give equal hashes in every process and on every machine. ``default`` converts other types."""
    text = json.dumps(value, sort_keys=True, ensure_ascii=True, separators=(",", ":"), default=default)
    return hashlib.blake2b(text.encode("ascii"), digest_size=8).hexdigest()


def valid_text(s: str) -> str:
    """``s`` with lone surrogates replaced by U+FFFD, so it encodes as UTF-8 (a file stays readable).

    Records read from files never hold them (readers refuse them); text made by programs or received
    from servers can, and must not crash the writer of the record holding it.
    """
    if s.isascii():
        return s
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", s)

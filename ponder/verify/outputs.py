"""Output comparison and canonical values, as code judges and the peers' runners do it.

- stdio: the whole output is stripped, split into lines, each line stripped; equal line lists pass. Lines that
  differ pass when they split into the same number of whitespace-separated tokens and every differing token
  pair is two numbers that agree: integers exactly (``3`` and ``+3``), otherwise within ``rel_tol``/``abs_tol``
  (``0.3333333`` and ``0.33333333``).
- call: the return value is turned into canonical JSON (tuples become lists, sets sorted lists, floats rounded
  to 12 significant digits and integral floats written as integers) and compared with the expected value:
  numbers within the tolerance, booleans only with booleans, lists in order, dicts by key. An expected value
  given as a string is also tried as JSON text (the LiveCodeBench convention of storing outputs as JSON).

:func:`canonical_json` also gives the string that run_inputs reports, so outputs of different programs can be
compared as strings (PFPO votes on them). Standard library only: the sandbox loads this module too.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

REL_TOL = 1e-6
ABS_TOL = 1e-6

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_MAX_DEPTH = 200


def stdout_lines(text: str) -> list[str]:
    """Lines of an output after stripping the whole text and each line."""
    return [line.strip() for line in text.strip().split("\n")]


def _numbers_close(a: str, b: str, rel_tol: float, abs_tol: float) -> bool:
    if not (_NUMBER.fullmatch(a) and _NUMBER.fullmatch(b)):
        return False
    if _INT.fullmatch(a) and _INT.fullmatch(b):
        return int(a) == int(b)
    return math.isclose(float(a), float(b), rel_tol=rel_tol, abs_tol=abs_tol)


def first_stdout_difference(
    got: str, expected: str, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL
) -> str | None:
    """``None`` when the outputs agree, else a short description of the first difference."""
    a, b = stdout_lines(got), stdout_lines(expected)
    if a == b:
        return None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x == y:
            continue
        tx, ty = x.split(), y.split()
        if len(tx) == len(ty) and all(
            s == t or _numbers_close(s, t, rel_tol, abs_tol) for s, t in zip(tx, ty, strict=True)
        ):
            continue
        return f"line {i + 1}: expected {_clip(y)!r}, got {_clip(x)!r}"
    if len(a) != len(b):
        return f"expected {len(b)} lines, got {len(a)}"
    return None


def stdout_equal(got: str, expected: str, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    return first_stdout_difference(got, expected, rel_tol=rel_tol, abs_tol=abs_tol) is None


def _norm_token(tok: str) -> str:
    if _INT.fullmatch(tok):
        return str(int(tok))
    if _NUMBER.fullmatch(tok):
        return _float_text(float(tok))
    return tok


def _float_text(x: float) -> str:
    return json.dumps(_round_float(x))


def stdout_key(text: str) -> str:
    """A normal form of an output for voting: stripped lines, single spaces, numbers written one way
    (``3``/``+3``/``3.0`` alike, floats to 12 significant digits)."""
    return "\n".join(" ".join(_norm_token(t) for t in line.split()) for line in stdout_lines(text))


def _clip(s: str, n: int = 80) -> str:
    return s if len(s) <= n else s[:n] + "..."


# --------------------------------------------------------------------------- call-mode values


def _round_float(x: float) -> float | int:
    if not math.isfinite(x):
        return x
    r = float(f"{x:.12g}")
    if r.is_integer() and abs(r) < 2**53:
        return int(r)
    return r


def canonical(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of a return value; raises TypeError for values JSON cannot hold."""
    if _depth > _MAX_DEPTH:
        raise TypeError("return value nests deeper than 200 levels")
    # Subclasses are read through the base type's own methods, so an overridden __eq__ or __str__ changes nothing.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return _round_float(float.__float__(value))
    if isinstance(value, list | tuple):
        return [canonical(v, _depth + 1) for v in value]
    if isinstance(value, set | frozenset):
        items = [canonical(v, _depth + 1) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str):
                key = str.__str__(k)
            elif k is None or isinstance(k, bool | int | float):
                key = json.dumps(canonical(k, _depth + 1))  # as json.dumps writes non-string keys
            else:
                raise TypeError(f"dict key of type {type(k).__name__} is not JSON-serializable")
            out[key] = canonical(v, _depth + 1)
        return out
    raise TypeError(f"return value of type {type(value).__name__} is not JSON-serializable")


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a return value (sorted keys, no spaces); equal values give equal text."""
    text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them, as \u escapes, so the text is valid UTF-8
        text = json.dumps(canonical(value), sort_keys=True, separators=(",", ":"))
    return text


def values_equal(
    got: Any, expected: Any, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL, _depth: int = 0
) -> bool:
    """Compare two JSON values (already canonical): numbers within tolerance, bools only with bools."""
    if _depth > _MAX_DEPTH:
        return False
    if isinstance(got, bool) or isinstance(expected, bool):
        return isinstance(got, bool) and isinstance(expected, bool) and got == expected
    if isinstance(got, int | float) and isinstance(expected, int | float):
        if isinstance(got, int) and isinstance(expected, int):
            return got == expected
        if math.isnan(got) and math.isnan(expected):
            return True
        return math.isclose(got, expected, rel_tol=rel_tol, abs_tol=abs_tol)
    if isinstance(got, list) and isinstance(expected, list):
        return len(got) == len(expected) and all(
            values_equal(g, e, rel_tol=rel_tol, abs_tol=abs_tol, _depth=_depth + 1)
            for g, e in zip(got, expected, strict=True)
        )
    if isinstance(got, dict) and isinstance(expected, dict):
        return got.keys() == expected.keys() and all(
            values_equal(got[k], expected[k], rel_tol=rel_tol, abs_tol=abs_tol, _depth=_depth + 1)
            for k in got
        )
    return type(got) is type(expected) and got == expected


def call_output_equal(
    got_json: str, expected: Any, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL
) -> bool:
    """Whether a canonical JSON return value matches an expected value (a value, or JSON text of one)."""
    got = json.loads(got_json)
    try:
        want = canonical(expected)
    except TypeError:
        return False
    if values_equal(got, want, rel_tol=rel_tol, abs_tol=abs_tol):
        return True
    if isinstance(expected, str):
        try:
            parsed = json.loads(expected)
        except (ValueError, RecursionError):
            return False
        return values_equal(got, canonical(parsed), rel_tol=rel_tol, abs_tol=abs_tol)
    return False

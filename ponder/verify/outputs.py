"""Output comparison and canonical values, as code judges and the peers' runners do it.

- stdio: the whole output is stripped, split into lines, each line stripped; equal line lists pass. Lines that
  differ pass when they split into the same number of whitespace-separated tokens and every differing token
  pair is two numbers that agree: integers exactly (``3`` and ``+3``, compared as text, so any number of
  digits), otherwise within ``rel_tol``/``abs_tol`` (``0.3333333`` and ``0.33333333``; numbers past a float's
  range, such as ``1e400``, exactly in Decimal arithmetic).
- call: the return value is turned into canonical JSON (tuples become lists, sets sorted lists, floats rounded
  to 12 significant digits and integral floats written as integers) and compared with the expected value:
  numbers within the tolerance, booleans only with booleans, lists in order, dicts by key. An expected value
  given as a string is also tried as JSON text (the LiveCodeBench convention of storing outputs as JSON).

:func:`canonical_json` also gives the string that run_inputs reports, so outputs of different programs can be
compared as strings (PFPO votes on them). Every comparison gives a verdict for any program output -- integers
past ``int()``'s 4,300-digit limit, ``10**400`` against a float, NaN, infinities, deep nesting, text that is
not JSON -- and never raises. Standard library only: the sandbox loads this module too.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from typing import Any

REL_TOL = 1e-6
ABS_TOL = 1e-6

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_INT = re.compile(r"[+-]?\d+")
_MAX_DEPTH = 200
_INT_DIGITS = 4300  # CPython's default limit for int <-> decimal text; longer integers stay Decimal here
# Exact wide arithmetic for numbers a float cannot hold (1e400, a 5,000-digit integer): no overflow, no traps.
_NUMBERS = (int, float, decimal.Decimal)
_WIDE = decimal.Context(prec=40, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN, traps=[])


def stdout_lines(text: str) -> list[str]:
    """Lines of an output after stripping the whole text and each line."""
    return [line.strip() for line in text.strip().split("\n")]


def _int_text(tok: str) -> str:
    """An integer token written one way (no sign for positives, no leading zeros), without ``int()``: a
    program may print more digits than ``int()`` accepts, and converting them costs quadratic time."""
    digits = tok.lstrip("+-").lstrip("0") or "0"
    return "-" + digits if tok.startswith("-") and digits != "0" else digits


def _int_str(n: int) -> str:
    """Decimal text of any int (``str`` refuses more than 4,300 digits; Decimal does not)."""
    try:
        return str(n)
    except ValueError:
        return str(decimal.Decimal(n))


def numbers_close(a: Any, b: Any, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> bool:
    """``math.isclose`` for ints, floats and Decimals of any size: never raises (``10**400`` against ``1.5``
    overflows a float), exact for values a float cannot hold. NaN is close to nothing, infinities only to
    themselves."""
    try:
        if not isinstance(a, decimal.Decimal) and not isinstance(b, decimal.Decimal):
            return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    except OverflowError:
        pass
    x, y = _WIDE.create_decimal(a), _WIDE.create_decimal(b)  # exact for ints and floats
    if x.is_nan() or y.is_nan():
        return False
    if x.is_infinite() or y.is_infinite():
        return x == y
    w = _WIDE
    bound = w.max(w.multiply(w.create_decimal(rel_tol), w.max(w.abs(x), w.abs(y))), w.create_decimal(abs_tol))
    return w.compare(w.abs(w.subtract(x, y)), bound) <= 0


def _numbers_close(a: str, b: str, rel_tol: float, abs_tol: float) -> bool:
    if not (_NUMBER.fullmatch(a) and _NUMBER.fullmatch(b)):
        return False
    if _INT.fullmatch(a) and _INT.fullmatch(b):
        return _int_text(a) == _int_text(b)
    x, y = float(a), float(b)
    if math.isfinite(x) and math.isfinite(y):
        return math.isclose(x, y, rel_tol=rel_tol, abs_tol=abs_tol)
    return numbers_close(_WIDE.create_decimal(a), _WIDE.create_decimal(b), rel_tol, abs_tol)


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
        return _int_text(tok)
    if _NUMBER.fullmatch(tok):
        x = float(tok)
        if math.isfinite(x):
            return _float_text(x)
        return format(_WIDE.create_decimal(tok).normalize(_WIDE), ".12g")  # past float's range: still exact
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


class BigInt(decimal.Decimal):
    """An integer read from JSON text with more digits than ``int()`` accepts (kept exact, compared exactly)."""


def _parse_int(text: str) -> int | BigInt:
    return int(text) if len(text) <= _INT_DIGITS else BigInt(text)


def parse_value(text: Any) -> Any:
    """The value of JSON text a program produced (canonical JSON of a return value). Raises ``ValueError``
    and nothing else when the text is not usable: not a string, not JSON, nested too deeply."""
    if not isinstance(text, str):
        raise ValueError(f"expected JSON text, got {type(text).__name__}")
    try:
        try:
            return json.loads(text)
        except ValueError:  # perhaps an integer past int()'s digit limit: read those as BigInt
            return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("the value nests too deeply") from None


def canonical(value: Any, _depth: int = 0) -> Any:
    """A JSON-ready copy of a return value; raises TypeError for values JSON cannot hold."""
    if _depth > _MAX_DEPTH:
        raise TypeError("return value nests deeper than 200 levels")
    # Subclasses are read through the base type's own methods, so an overridden __eq__ or __str__ changes nothing.
    if value is None or isinstance(value, bool) or type(value) is BigInt:
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
        return sorted(items, key=_dumps)
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(k, str):
                key = str.__str__(k)
            elif k is None or isinstance(k, bool | int | float):
                key = _dumps(canonical(k, _depth + 1))  # as json.dumps writes non-string keys
            else:
                raise TypeError(f"dict key of type {type(k).__name__} is not JSON-serializable")
            out[key] = canonical(v, _depth + 1)
        return out
    raise TypeError(f"return value of type {type(value).__name__} is not JSON-serializable")


def _dumps(v: Any, ascii: bool = False) -> str:
    """JSON text of a canonical value, sorted keys, no spaces; integers of any length."""
    try:
        return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=ascii)
    except ValueError:  # an integer past int()'s digit limit: write the value ourselves
        return _write(v, ascii)


def _write(v: Any, ascii: bool) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        return _int_str(v)
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, list):
        return "[" + ",".join(_write(x, ascii) for x in v) + "]"
    if isinstance(v, dict):
        return (
            "{"
            + ",".join(f"{json.dumps(k, ensure_ascii=ascii)}:{_write(v[k], ascii)}" for k in sorted(v))
            + "}"
        )
    return json.dumps(v, ensure_ascii=ascii)


def canonical_json(value: Any) -> str:
    """Canonical JSON text of a return value (sorted keys, no spaces); equal values give equal text."""
    value = canonical(value)
    text = _dumps(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them, as \u escapes, so the text is valid UTF-8
        text = _dumps(value, ascii=True)
    return text


def short_json(value: Any, n: int = 200) -> str:
    """JSON text of any value for a message, cut to ``n`` characters; never raises."""
    try:
        text = _dumps(canonical(value))
    except (TypeError, ValueError, RecursionError):
        text = f"<a {type(value).__name__} that JSON cannot hold>"
    return text if len(text) <= n else f"{text[:n]}...[{len(text) - n} more chars]"


def values_equal(
    got: Any, expected: Any, *, rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL, _depth: int = 0
) -> bool:
    """Compare two JSON values (already canonical): numbers within tolerance, bools only with bools."""
    if _depth > _MAX_DEPTH:
        return False
    if isinstance(got, bool) or isinstance(expected, bool):
        return isinstance(got, bool) and isinstance(expected, bool) and got == expected
    if isinstance(got, _NUMBERS) and isinstance(expected, _NUMBERS):
        if not isinstance(got, float) and not isinstance(expected, float):
            return got == expected  # integers exactly, whatever their size
        if (
            isinstance(got, float)
            and isinstance(expected, float)
            and math.isnan(got)
            and math.isnan(expected)
        ):
            return True
        return numbers_close(got, expected, rel_tol, abs_tol)
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
    """Whether a canonical JSON return value matches an expected value (a value, or JSON text of one).
    Never raises: text that is not JSON, or an expected value JSON cannot hold, compares unequal."""
    try:
        got = parse_value(got_json)
        want = canonical(expected)
    except (TypeError, ValueError, RecursionError):
        return False
    if values_equal(got, want, rel_tol=rel_tol, abs_tol=abs_tol):
        return True
    if isinstance(expected, str):
        try:
            return values_equal(got, canonical(parse_value(expected)), rel_tol=rel_tol, abs_tol=abs_tol)
        except (TypeError, ValueError, RecursionError):
            return False
    return False

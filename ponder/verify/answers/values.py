"""Numeric values of answers: exact rationals or 60-digit mpmath numbers, matrices, and their comparison.

Shared by the evaluator (:mod:`ponder.verify.answers.numeric`) and its function table (:mod:`ponder.verify.answers.functions`).
mpmath runs in private contexts of fixed precision, one per thread: its functions raise the working
precision while they run, which must not leak into another thread's computation.
"""

from __future__ import annotations

import math
import threading
import zlib
from fractions import Fraction

import mpmath

DIGITS = 60
_LOCAL = threading.local()


def _context() -> mpmath.MPContext:
    ctx = getattr(_LOCAL, "ctx", None)
    if ctx is None:
        ctx = _LOCAL.ctx = mpmath.MPContext()
        ctx.dps = DIGITS
    return ctx


class _ThreadContext:
    """Forwards to this thread's mpmath context (``CTX.sqrt(x)``, ``CTX.pi``, ...)."""

    def __getattr__(self, name: str):
        return getattr(_context(), name)


CTX = _ThreadContext()
MAX_BITS = 100_000
MAX_EXP_LOG2 = 40  # results need at most 2^40 bits of exponent
MAX_TERMS = 10_000  # terms of one sum or product
MAX_TOTAL_TERMS = 20_000  # terms of all sums of one evaluation: nested sums multiply their terms
# Periodic functions reduce their argument modulo pi with as many bits as the argument has before its
# point: sin(10^{10^{11}}) would need 3.3e11 bits of pi. Arguments beyond 2^1024 (about 10^308) are refused.
MAX_PERIODIC_LOG2 = 1024
# exp(x) has about 1.44 x bits of exponent: beyond 2^39 that exceeds MAX_EXP_LOG2.
MAX_EXP_ARG_LOG2 = MAX_EXP_LOG2 - 1
TOL = CTX.mpf(10) ** -40  # two values computed to 60 digits agree to this relative tolerance
ZERO_TOL = CTX.mpf(10) ** -45


class Unevaluable(Exception):
    """The node has no numeric value here (structure, unknown construct, domain error)."""


class Overflow(Unevaluable):
    """The value is too large to compute (and would be too large for a symbolic engine too)."""


class FreeSymbol(Unevaluable):
    """The node depends on a variable that has no value."""


class Timeout(Exception):
    """The deadline passed during evaluation."""


class Mat:
    """A matrix value: ``rows`` is a tuple of tuples of scalars."""

    __slots__ = ("rows",)

    def __init__(self, rows):
        self.rows = tuple(tuple(r) for r in rows)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.rows[0])


def is_exact(v) -> bool:
    return isinstance(v, Fraction)


def to_mp(v):
    if isinstance(v, Fraction):
        return CTX.mpf(v.numerator) / v.denominator
    return v


def mag(v) -> int:
    """log2 of the magnitude of a number (rounded up); very negative for zero."""
    if isinstance(v, Fraction):
        if v == 0:
            return -(1 << 62)
        return v.numerator.bit_length() - v.denominator.bit_length() + 1
    return -(1 << 62) if v == 0 else int(CTX.mag(v))


def _cap(x, limit: int, what: str) -> None:
    if (isinstance(x, Fraction) or CTX.isfinite(x)) and mag(x) > limit:
        raise Overflow(f"argument of {what} too large")


def check_periodic(x) -> None:
    """Raise Overflow for an argument of sin/cos/tan too large to reduce modulo pi (MAX_PERIODIC_LOG2);
    for a complex argument, its imaginary part is the argument of an exponential."""
    if type(x).__name__ == "mpc":
        _cap(x.imag, MAX_EXP_ARG_LOG2, "an exponential")
        x = x.real
    _cap(x, MAX_PERIODIC_LOG2, "a periodic function")


def check_exp(x) -> None:
    """Raise Overflow for an argument of exp/sinh/cosh/... whose result is too large to represent
    (MAX_EXP_ARG_LOG2); for a complex argument, its imaginary part is the argument of sin and cos."""
    if type(x).__name__ == "mpc":
        _cap(x.imag, MAX_PERIODIC_LOG2, "a periodic function")
        x = x.real
    _cap(x, MAX_EXP_ARG_LOG2, "an exponential")


def big(v: Fraction) -> bool:
    return v.numerator.bit_length() + v.denominator.bit_length() > MAX_BITS


def real(v):
    """v as a real mpf (or Fraction); raises Unevaluable for a non-real complex value."""
    if isinstance(v, Fraction):
        return v
    if isinstance(v, Mat):
        raise Unevaluable("matrix where a number is needed")
    if type(v).__name__ == "mpc":
        if abs(v.imag) > ZERO_TOL * max(1, abs(v.real)):
            raise Unevaluable("complex value where a real one is needed")
        return v.real
    return v


def as_int(v) -> int | None:
    """``v`` as an int when it is one (exactly, or to 40 digits for computed values below 2^64)."""
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else None
    try:
        r = real(v)
    except Unevaluable:
        return None
    if not CTX.isfinite(r) or (r != 0 and CTX.mag(r) > 64):
        return None  # a computed value this large has no trustworthy last digit
    n = int(CTX.nint(r))
    return n if abs(r - n) <= TOL * max(1, abs(r)) else None


def norm(v):
    """Collapse complex values with a negligible imaginary part; reject NaN."""
    if isinstance(v, Fraction | Mat):
        return v
    if CTX.isnan(v):
        raise Unevaluable("not a number")
    if type(v).__name__ == "mpc" and abs(v.imag) <= ZERO_TOL * max(1, abs(v.real)):
        return v.real
    return v


def exact_power(base: Fraction, exp: Fraction) -> Fraction | None:
    if exp.denominator == 1:
        n = exp.numerator
        if base == 0:
            if n > 0:
                return Fraction(0)
            raise Unevaluable("zero to a non-positive power")
        bits = base.numerator.bit_length() + base.denominator.bit_length()
        if abs(n) * max(bits - 1, 1) > MAX_BITS:
            return None
        return base**n
    q = exp.denominator
    if q > 64 or base < 0:
        return None
    rn = _iroot(base.numerator, q)
    rd = _iroot(base.denominator, q)
    if rn is None or rd is None:
        return None
    return exact_power(Fraction(rn, rd), Fraction(exp.numerator))


def _iroot(n: int, q: int) -> int | None:
    if n.bit_length() > 4000:
        return None
    r = math.isqrt(n) if q == 2 else int(round(n ** (1.0 / q))) if n < 2**1000 else None
    if r is None:
        return None
    for c in (r - 1, r, r + 1):
        if c >= 0 and c**q == n:
            return c
    return None


def inf_power(b, e):
    if CTX.isinf(e):
        raise Unevaluable("infinite exponent")
    if CTX.isinf(b) and real(e) > 0:
        return b
    if CTX.isinf(b) and real(e) < 0:
        return Fraction(0)
    raise Unevaluable("indeterminate power")


def fmt(v, digits: int) -> str:
    if isinstance(v, Fraction):
        return f"{v.numerator:x}/{v.denominator:x}"
    if isinstance(v, Mat):
        return "[" + ";".join(",".join(fmt(x, digits) for x in r) for r in v.rows) + "]"
    return CTX.nstr(v, digits)


# --------------------------------------------------------------------------- comparing values


def values_close(a, b) -> bool:
    """Exactly equal (rationals) or equal to 40 of the 60 computed digits (everything else)."""
    if isinstance(a, Mat) or isinstance(b, Mat):
        if not (isinstance(a, Mat) and isinstance(b, Mat)) or a.shape != b.shape:
            return False
        return all(
            values_close(x, y)
            for ra, rb in zip(a.rows, b.rows, strict=True)
            for x, y in zip(ra, rb, strict=True)
        )
    if isinstance(a, Fraction) and isinstance(b, Fraction):
        return a == b
    x, y = to_mp(a), to_mp(b)
    if not CTX.isfinite(x) or not CTX.isfinite(y):
        return bool(x == y)
    if isinstance(a, Fraction) and a == 0:
        return abs(y) <= ZERO_TOL
    if isinstance(b, Fraction) and b == 0:
        return abs(x) <= ZERO_TOL
    return abs(x - y) <= TOL * max(abs(x), abs(y))


def is_real(v) -> bool:
    return isinstance(v, Fraction) or type(v).__name__ == "mpf"


def value_key(v, digits: int = 20) -> str:
    """A canonical text of a value: equal for values equal to ``digits`` significant digits."""
    if isinstance(v, Mat):
        return "[" + ";".join(",".join(value_key(x, digits) for x in r) for r in v.rows) + "]"
    if isinstance(v, Fraction):
        if v.denominator == 1 and v.numerator.bit_length() < 64:
            return str(v.numerator)
        return "0" if v == 0 else CTX.nstr(to_mp(v), digits)
    if type(v).__name__ == "mpc":
        return value_key(v.real, digits) + "+" + value_key(v.imag, digits) + "i"
    if abs(v) <= ZERO_TOL:
        return "0"
    if not CTX.isfinite(v):
        return "inf" if v > 0 else "-inf"
    n = CTX.nint(v)
    if abs(v - n) <= TOL * max(1, abs(v)) and abs(n) < 2**63:
        return str(int(n))
    return CTX.nstr(v, digits)


def symbol_value(name: str, k: int) -> Fraction:
    """The value of variable ``name`` at sample point ``k``: generic rationals, the same in every process.

    Points 0-2 are positive (where logs and roots are real), 3-4 negative (where |x| and x differ).
    """
    h = zlib.crc32(f"{name}#{k}".encode())
    v = Fraction(23 + h % 97, 11 + (h >> 8) % 29)
    return v if k < 3 else -v


POINTS = 5

"""Comparing numbers and expressions: exact values, sample points, then a symbolic check.

Rules (documented in docs/grading.md):

- exact rationals compare exactly; other values to 40 of 60 computed digits;
- a percentage equals its number and its value: ``50%`` equals ``50`` and ``0.5``; ``0.5`` never equals ``50``;
- a decimal with at least 4 significant digits equals a value it rounds or truncates to
  (within one unit of its last digit): ``0.3333`` equals ``1/3``, ``0.33`` and ``3.14`` (for pi) do not;
- expressions with variables compare at 5 sample points (3 positive, 2 negative values per variable);
  a real counterexample refutes, agreement at 2 or more points confirms;
- what cannot be evaluated is compared by canonical form, then by sympy in a worker process.
"""

from __future__ import annotations

import time
from fractions import Fraction

from ponder.verify.answers.nodes import canon, children, free
from ponder.verify.answers.numeric import (
    CTX,
    POINTS,
    Evaluator,
    Overflow,
    Timeout,
    Unevaluable,
    is_real,
    symbol_value,
    to_mp,
    values_close,
)


class Budget:
    """The deadline of one comparison, and the symbolic checker (``None`` to skip it)."""

    def __init__(self, deadline: float, symbolic=None):
        self.deadline = deadline
        self.symbolic = symbolic
        self.how = "structure"

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise Timeout()

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def scalar_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    """Numbers and expressions, with the percent and decimal-approximation rules of docs/grading.md."""
    pa, pb = a[0] == "pct", b[0] == "pct"
    if pa and pb:
        return scalar_eq(a[1], b[1], bud)
    if pa or pb:
        p, o = (a, b) if pa else (b, a)
        # "50%" equals "50" (the percent sign dropped) and "0.5" (its value); never "0.5" and "50".
        return scalar_core(p[1], o, bud) or scalar_core(_percent_value(p[1]), o, bud)
    da, db = a[0] == "deg", b[0] == "deg"
    if da and db:
        return scalar_eq(a[1], b[1], bud)
    if da or db:
        d, o = (a, b) if da else (b, a)
        # "90°" equals "90" (the sign dropped) and "\pi/2" (the same angle in radians).
        return scalar_core(d[1], o, bud) or scalar_core(d, o, bud)
    return scalar_core(a, b, bud)


def _percent_value(x: tuple) -> tuple:
    if x[0] == "num":
        return ("num", x[1] / 100, None if x[2] is None else x[2] - 2, x[3])
    if x[0] == "neg" and x[1][0] == "num":
        return ("neg", _percent_value(x[1]))
    return ("mul", (x, ("num", Fraction(1, 100), None, None)))


def scalar_core(a: tuple, b: tuple, bud: Budget) -> bool:
    if (a[0] == "base") != (b[0] == "base"):
        # 204_5 against 204 (the base left out) matches; against 54 (its value in base ten) it does not.
        base, other = (a, b) if a[0] == "base" else (b, a)
        return other[0] == "num" and other[2] is None and other[1] == int(base[1])
    names = free(a) | free(b)
    try:
        if not names:
            va, vb = _value(a, bud), _value(b, bud)
            if va is not None and vb is not None:
                bud.how = "numeric"
                return values_match(va, vb, a, b)
        else:
            r = points_match(a, b, names, bud)
            if r is not None:
                bud.how = "numeric"
                return r
    except Overflow:
        # Too large to compute here, and too large for sympy: only the written form can match.
        return canon(a) == canon(b)
    if canon(a) == canon(b):
        return True
    if bud.symbolic is None or not (_symbolic_form(a) and _symbolic_form(b)):
        return False
    out = bud.symbolic("equal", (a, b), bud)
    bud.how = "symbolic"
    return bool(out)


_SCALAR_KINDS = frozenset("num sym const add mul neg pow func apply pct deg base bigop matrix".split())


def _symbolic_form(n: tuple, depth: int = 0) -> bool:
    """Whether sympy can take the node: scalars only (a tuple inside a product is not one)."""
    if depth > 60 or n[0] not in _SCALAR_KINDS:
        return False
    return all(_symbolic_form(c, depth + 1) for c in children(n))


def _value(n: tuple, bud: Budget):
    """The value of a constant node, None when it has none; Overflow propagates."""
    try:
        return Evaluator(deadline=bud.deadline)(n)
    except Overflow:
        raise
    except Unevaluable:
        return None


def points_match(a: tuple, b: tuple, names: frozenset, bud: Budget) -> bool | None:
    """Compare at sample points; None when too few points give values on both sides."""
    agree = 0
    for k in range(POINTS):
        env = {nm: symbol_value(nm, k) for nm in names}
        ea, eb = Evaluator(dict(env), bud.deadline), Evaluator(dict(env), bud.deadline)
        try:
            va = ea(a)
            vb = eb(b)
        except Overflow:
            raise
        except Unevaluable:
            continue
        if values_close(va, vb):
            agree += 1
        elif not (ea.went_complex or eb.went_complex):
            # Both real all the way: a real counterexample. (Differences that need complex
            # intermediate values, such as sqrt(x)sqrt(y) against sqrt(xy) at x, y < 0, do not count.)
            return False
    return True if agree >= 2 else None


def values_match(va, vb, a: tuple, b: tuple) -> bool:
    if values_close(va, vb):
        return True
    da, db = decimal_info(a), decimal_info(b)
    if da and db:
        if da[1] == db[1]:
            return False
        coarse, fine = (da, db) if da[1] > db[1] else (db, da)
        return approximates(coarse, fine[0])
    if da:
        return approximates(da, vb)
    if db:
        return approximates(db, va)
    return False


def decimal_info(n: tuple):
    """``(value, ulp_exp, sig)`` when the node is a bare decimal literal (possibly negated)."""
    sign = 1
    if n[0] == "neg":
        sign, n = -1, n[1]
    if n[0] != "num" or n[2] is None:
        return None
    return sign * n[1], n[2], n[3]


def approximates(d, x) -> bool:
    """A decimal with at least 4 significant digits that is ``x`` rounded or truncated to its last digit.

    Rounded: within half a unit of the last digit (0.6667 for 2/3). Truncated: the digits of ``x`` cut
    after the last one (0.6666 for 2/3). 2.0001 is neither for 2, and 2.9999 is neither for 3.
    """
    value, ulp, sig = d
    if sig < 4 or not is_real(x):
        return False
    if isinstance(x, Fraction):
        unit, a, v = Fraction(10) ** ulp, value, x
    else:
        unit, a, v = CTX.mpf(10) ** ulp, to_mp(value), x
    if 2 * abs(a - v) <= unit:
        return True
    same_sign = (a >= 0) == (v >= 0)
    return same_sign and abs(a) <= abs(v) < abs(a) + unit

"""Evaluate parsed answers to numbers: exact rationals where possible, 60-digit floats otherwise.

Rational arithmetic stays exact (``Fraction``) while the numbers stay below ``MAX_BITS``, so
``1/2^{99}`` and ``1/2^{98}``, or ``1/2004!`` and ``1/2006!``, are told apart exactly. Irrational values
(roots, pi, logs, trig) are computed with mpmath at 60 significant digits in a private context, which
is safe to use from many threads at once.

Every operation is bounded before it starts: powers whose result would need more than 2^``MAX_EXP_LOG2``
bits of exponent (``10^{10^{10^{10}}}``), factorials beyond ``10^6``, periodic functions and exponentials of
arguments too large to reduce (``\\sin(10^{10^{11}})``, see :mod:`ponder.verify.answers.functions`), sums of
more than ``MAX_TERMS`` terms and nested sums of more than ``MAX_TOTAL_TERMS`` terms in all raise
:class:`Unevaluable` (or :class:`Overflow`) instead of running; the evaluator also checks a deadline every
few steps, so no single step can outlast it by more than a bounded amount of work.
"""

from __future__ import annotations

import hashlib
import time
from fractions import Fraction

from ponder.verify.answers.functions import FUNCTIONS, det
from ponder.verify.answers.values import (
    CTX,
    MAX_EXP_LOG2,
    MAX_TERMS,
    MAX_TOTAL_TERMS,
    POINTS,
    TOL,
    ZERO_TOL,
    FreeSymbol,
    Mat,
    Overflow,
    Timeout,
    Unevaluable,
    as_int,
    big,
    exact_power,
    fmt,
    inf_power,
    is_exact,
    is_real,
    norm,
    real,
    symbol_value,
    to_mp,
    value_key,
    values_close,
)

__all__ = [
    "CTX",
    "POINTS",
    "TOL",
    "ZERO_TOL",
    "Evaluator",
    "FreeSymbol",
    "Mat",
    "Overflow",
    "Timeout",
    "Unevaluable",
    "is_exact",
    "is_real",
    "symbol_value",
    "to_mp",
    "value_key",
    "values_close",
]


class Evaluator:
    """Evaluate nodes of :mod:`ponder.verify.answers.latex` with variables bound by ``env``."""

    def __init__(self, env: dict | None = None, deadline: float | None = None):
        self.env = env or {}
        self.deadline = deadline
        self.steps = 0
        self.terms = 0  # terms of all sums and products so far
        self.went_complex = False

    def __call__(self, node):
        return self.ev(node)

    def ev(self, node):
        self.steps += 1
        if self.deadline is not None and self.steps % 32 == 0 and time.monotonic() > self.deadline:
            raise Timeout()
        kind = node[0]
        fn = getattr(self, "ev_" + kind, None)
        if fn is None:
            raise Unevaluable(f"no value for {kind}")
        v = norm(fn(node))
        if type(v).__name__ == "mpc":
            self.went_complex = True
        return v

    # ----------------------------------------------------------------- leaves
    def ev_num(self, node):
        return node[1]

    def ev_base(self, node):
        return Fraction(int(node[1], node[2]))

    def ev_sym(self, node):
        try:
            return self.env[node[1]]
        except KeyError:
            raise FreeSymbol(node[1]) from None

    def ev_const(self, node):
        name = node[1]
        if name == "pi":
            return +CTX.pi
        if name == "e":
            return +CTX.e
        if name == "i":
            return CTX.mpc(0, 1)
        return CTX.inf

    def ev_deg(self, node):
        # Inside an expression an angle in degrees is its value in radians: sin 30° = 1/2.
        return self.mul(self.ev(node[1]), +CTX.pi / 180)

    def ev_pct(self, node):
        return self.div(self.ev(node[1]), Fraction(100))

    # ----------------------------------------------------------------- arithmetic
    def ev_add(self, node):
        total = Fraction(0)
        for term in node[1]:
            total = self.add(total, self.ev(term))
        return total

    def ev_neg(self, node):
        v = self.ev(node[1])
        if isinstance(v, Mat):
            return Mat([[-x for x in r] for r in v.rows])
        return -v

    def ev_mul(self, node):
        total = Fraction(1)
        for f in node[1]:
            total = self.mul(total, self.ev(f))
        return total

    def ev_pow(self, node):
        base = self.ev(node[1])
        exp = self.ev(node[2])
        return self.power(base, exp)

    def add(self, a, b):
        if isinstance(a, Mat) or isinstance(b, Mat):
            if not (isinstance(a, Mat) and isinstance(b, Mat)):
                if a == 0 and isinstance(b, Mat):
                    return b
                raise Unevaluable("matrix plus number")
            if a.shape != b.shape:
                raise Unevaluable("matrix shapes differ")
            return Mat(
                [
                    [self.add(x, y) for x, y in zip(ra, rb, strict=True)]
                    for ra, rb in zip(a.rows, b.rows, strict=True)
                ]
            )
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            r = a + b
            return to_mp(r) if big(r) else r
        return to_mp(a) + to_mp(b)

    def mul(self, a, b):
        if isinstance(a, Mat) or isinstance(b, Mat):
            return self._mat_mul(a, b)
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            r = a * b
            return to_mp(r) if big(r) else r
        return to_mp(a) * to_mp(b)

    def div(self, a, b):
        if isinstance(b, Fraction) and b == 0 or (not isinstance(b, Fraction | Mat) and b == 0):
            raise Unevaluable("division by zero")
        return self.mul(a, self.power(b, Fraction(-1)))

    def _mat_mul(self, a, b):
        if not isinstance(a, Mat):
            return Mat([[self.mul(a, x) for x in r] for r in b.rows])
        if not isinstance(b, Mat):
            return Mat([[self.mul(x, b) for x in r] for r in a.rows])
        if a.shape[1] != b.shape[0] or max(a.shape + b.shape) > 20:
            raise Unevaluable("matrix shapes do not multiply")
        cols = list(zip(*b.rows, strict=True))
        out = []
        for r in a.rows:
            row = []
            for c in cols:
                acc = Fraction(0)
                for x, y in zip(r, c, strict=True):
                    acc = self.add(acc, self.mul(x, y))
                row.append(acc)
            out.append(row)
        return Mat(out)

    def power(self, base, exp):
        if isinstance(exp, Mat):
            raise Unevaluable("matrix exponent")
        if isinstance(base, Mat):
            n = as_int(exp)
            if n is None or n < 1 or n > 64 or base.shape[0] != base.shape[1]:
                raise Unevaluable("matrix power")
            out = base
            for _ in range(n - 1):
                out = self._mat_mul(out, base)
            return out
        if isinstance(base, Fraction) and isinstance(exp, Fraction):
            exact = exact_power(base, exp)
            if exact is not None:
                return exact
        b = to_mp(base)
        e = to_mp(exp)
        if b == 0:
            if real(e) > 0:
                return Fraction(0)
            raise Unevaluable("zero to a non-positive power")
        if not CTX.isfinite(b) or not CTX.isfinite(e):
            return inf_power(b, e)
        # log2 of the result's magnitude is about |e| * log2|b|; refuse what cannot be represented.
        if CTX.mag(e) + max(CTX.mag(CTX.log(abs(b), 2)) if abs(b) != 1 else -10, -10) > MAX_EXP_LOG2:
            raise Overflow("power too large")
        if isinstance(base, Fraction) and base < 0 and isinstance(exp, Fraction) and exp.denominator % 2 == 1:
            # Odd roots of negative numbers are real: (-8)^(1/3) = -2.
            mag = CTX.power(-b, e)
            return -mag if exp.numerator % 2 else mag
        return CTX.power(b, e)

    # ----------------------------------------------------------------- functions
    def ev_func(self, node):
        name, args = node[1], node[2]
        if name == "det":
            m = self.ev(args[0])
            if not isinstance(m, Mat) or m.shape[0] != m.shape[1]:
                raise Unevaluable("det of a non-square matrix")
            return det(self, m)
        vals = [self.ev(a) for a in args]
        fn = FUNCTIONS.get(name)
        if fn is None:
            raise Unevaluable(f"unknown function {name}")
        if any(isinstance(v, Mat) for v in vals):
            raise Unevaluable("function of a matrix")
        return fn(self, *vals)

    def ev_apply(self, node):
        # An unknown function f is given a fixed pseudo-random value per distinct argument, so that
        # f(x) = f(x) and f(1+1) = f(2), but f(x) != f(y) and f(2) != f(3).
        args = [self.ev(a) for a in node[2]]
        key = node[1] + "|" + "|".join(fmt(a, 30) for a in args)
        h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        return Fraction(h % 1_000_003 + 1, 7919) - 63

    def ev_bigop(self, node):
        _, op, var, lo, hi, body = node
        a, b = as_int(self.ev(lo)), as_int(self.ev(hi))
        if a is None or b is None:
            raise Unevaluable("sum bounds are not integers")
        if b - a + 1 > MAX_TERMS:
            raise Unevaluable("too many terms")
        self.terms += max(0, b - a + 1)
        if self.terms > MAX_TOTAL_TERMS:
            raise Unevaluable("too many terms in nested sums")
        acc = Fraction(0) if op == "sum" else Fraction(1)
        saved = self.env.get(var)
        try:
            for k in range(a, b + 1):
                self.env[var] = Fraction(k)
                v = self.ev(body)
                acc = self.add(acc, v) if op == "sum" else self.mul(acc, v)
        finally:
            if saved is None:
                self.env.pop(var, None)
            else:
                self.env[var] = saved
        return acc

    def ev_matrix(self, node):
        return Mat([[self.ev(c) for c in r] for r in node[1]])

"""The functions an answer may use (sqrt, log, factorial, binomial, trig, gcd, ...), evaluated with guards.

Each takes the evaluator and argument values; exact rationals stay exact where the result is rational
(``\\sqrt{9/4}``, ``10!``, ``\\binom{10}{3}``); sizes that cannot be computed raise :class:`Overflow`.
"""

from __future__ import annotations

import math
from fractions import Fraction

from ponder.verify.answers.values import CTX, Mat, Overflow, Unevaluable, as_int, exact_power, real, to_mp


def det(ev, m: Mat):
    """Determinant by cofactor expansion (matrices up to 6 x 6); ``ev`` supplies exact add and mul."""
    n = m.shape[0]
    if n == 1:
        return m.rows[0][0]
    if n > 6:
        raise Unevaluable("determinant too large")
    total = Fraction(0)
    for j in range(n):
        minor = Mat([r[:j] + r[j + 1 :] for r in m.rows[1:]])
        term = ev.mul(m.rows[0][j], det(ev, minor))
        total = ev.add(total, term if j % 2 == 0 else -term)
    return total


def _sqrt(ev, x):
    if isinstance(x, Fraction) and x >= 0:
        r = exact_power(x, Fraction(1, 2))
        if r is not None:
            return r
    return CTX.sqrt(to_mp(x))


def _root(ev, x, n):
    k = as_int(n)
    if k is None or k == 0:
        return ev.power(x, ev.div(Fraction(1), n))
    return ev.power(x, Fraction(1, k))


def _log(ev, x, base=None):
    if isinstance(x, Fraction) and x <= 0 or (not isinstance(x, Fraction) and x == 0):
        raise Unevaluable("log of a non-positive number")
    v = CTX.log(to_mp(x))
    if base is not None:
        lb = _log(ev, base)
        if lb == 0:
            raise Unevaluable("log base 1")
        v = v / lb
    return v


def _fact(ev, x):
    n = as_int(x)
    if n is not None:
        if n < 0:
            raise Unevaluable("factorial of a negative integer")
        if n <= 3000:
            return Fraction(math.factorial(n))
        if n > 10**6:
            raise Overflow("factorial too large")
        return CTX.factorial(n)
    r = real(x)
    if abs(r) > 10**6:
        raise Overflow("factorial too large")
    return CTX.gamma(r + 1)


def _fact2(ev, x):
    n = as_int(x)
    if n is None or n < -1 or n > 3000:
        raise Unevaluable("double factorial")
    return Fraction(math.prod(range(n, 0, -2)))


def _binom(ev, n, k):
    a, b = as_int(n), as_int(k)
    if a is not None and b is not None and 0 <= a <= 20000:
        return Fraction(math.comb(a, b)) if 0 <= b else Fraction(0)
    if abs(real(n)) > 10**7:
        raise Overflow("binomial too large")
    return CTX.binomial(to_mp(n), to_mp(k))


def _int_op(op):
    def f(ev, *vals):
        ints = [as_int(v) for v in vals]
        if any(i is None for i in ints) or not ints:
            raise Unevaluable("integer operation on non-integers")
        return Fraction(op(*ints))

    return f


def _realfn(fn):
    def f(ev, *vals):
        return fn(*(real(v) for v in vals))

    return f


def _mpfn(fn):
    def f(ev, x):
        if (
            isinstance(x, Fraction)
            and x == 0
            and fn in (CTX.sin, CTX.tan, CTX.asin, CTX.atan, CTX.sinh, CTX.tanh)
        ):
            return Fraction(0)
        return fn(to_mp(x))

    return f


def _floor(ev, x):
    r = real(x)
    return Fraction(math.floor(r)) if isinstance(r, Fraction) else Fraction(int(CTX.floor(r)))


def _ceil(ev, x):
    r = real(x)
    return Fraction(math.ceil(r)) if isinstance(r, Fraction) else Fraction(int(CTX.ceil(r)))


def _abs(ev, x):
    return abs(x)


def _sgn(ev, x):
    r = real(x)
    return Fraction((r > 0) - (r < 0))


def _mod(ev, a, b):
    x, y = as_int(a), as_int(b)
    if x is None or y is None or y == 0:
        raise Unevaluable("mod of non-integers")
    return Fraction(x % y)


FUNCTIONS = {
    "sqrt": _sqrt,
    "root": _root,
    "log": _log,
    "exp": lambda ev, x: CTX.exp(to_mp(x)) if x != 0 else Fraction(1),
    "abs": _abs,
    "norm": _abs,
    "floor": _floor,
    "ceil": _ceil,
    "fact": _fact,
    "fact2": _fact2,
    "binom": _binom,
    "gcd": _int_op(math.gcd),
    "lcm": _int_op(math.lcm),
    "mod": _mod,
    "max": _realfn(max),
    "min": _realfn(min),
    "sgn": _sgn,
    "gamma": lambda ev, x: CTX.gamma(to_mp(x)),
    "re": lambda ev, x: x if isinstance(x, Fraction) else to_mp(x).real,
    "im": lambda ev, x: Fraction(0) if isinstance(x, Fraction) else to_mp(x).imag,
    "arg": lambda ev, x: CTX.arg(to_mp(x)),
    "sec": lambda ev, x: 1 / CTX.cos(to_mp(x)),
    "csc": lambda ev, x: 1 / CTX.sin(to_mp(x)),
    "cot": lambda ev, x: 1 / CTX.tan(to_mp(x)),
    "asec": lambda ev, x: CTX.acos(1 / to_mp(x)),
    "acsc": lambda ev, x: CTX.asin(1 / to_mp(x)),
    "acot": lambda ev, x: CTX.atan(1 / to_mp(x)),
    "sech": lambda ev, x: 1 / CTX.cosh(to_mp(x)),
    "csch": lambda ev, x: 1 / CTX.sinh(to_mp(x)),
    "coth": lambda ev, x: 1 / CTX.tanh(to_mp(x)),
}
for _name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh"):
    FUNCTIONS[_name] = _mpfn(getattr(CTX, _name))

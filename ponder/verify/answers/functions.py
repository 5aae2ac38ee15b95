"""The functions an answer may use (sqrt, log, factorial, binomial, trig, gcd, ...), evaluated with guards.

Each takes the evaluator and argument values; exact rationals stay exact where the result is rational
(``\\sqrt{9/4}``, ``10!``, ``\\binom{10}{3}``); sizes that cannot be computed raise :class:`Overflow`
before any work starts: arguments of periodic functions beyond 2^1024, of exponentials beyond 2^39,
factorials, gamma and binomials beyond 10^6 / 10^7, and floors of values beyond the 60 computed digits
(which are already whole numbers: they are returned as they are, not converted to exact integers).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ponder.verify.answers.values import (
    CTX,
    Mat,
    Overflow,
    Unevaluable,
    as_int,
    check_exp,
    check_periodic,
    exact_power,
    mag,
    real,
    to_mp,
)

# Beyond this many bits before the point a computed value (60 digits, ~200 bits) has no fractional part.
_WHOLE_LOG2 = 256


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
    if abs(real(n)) > 10**7 or abs(real(k)) > 10**7:
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


_ZERO_AT_ZERO = frozenset(("sin", "tan", "asin", "atan", "sinh", "tanh"))


def _mpfn(name: str, check=None):
    # Looked up at call time: CTX forwards to the calling thread's own mpmath context.
    def f(ev, x):
        if check is not None:
            check(x)
        if isinstance(x, Fraction) and x == 0 and name in _ZERO_AT_ZERO:
            return Fraction(0)
        return getattr(CTX, name)(to_mp(x))

    return f


def _rounded(r, exact, computed):
    if isinstance(r, Fraction):
        return Fraction(exact(r))
    if not CTX.isfinite(r):
        raise Unevaluable("floor of an infinite value")
    if mag(r) > _WHOLE_LOG2:
        return r  # already whole; int() of it would allocate one bit per unit of its exponent
    return Fraction(int(computed(r)))


def _floor(ev, x):
    return _rounded(real(x), math.floor, CTX.floor)


def _ceil(ev, x):
    return _rounded(real(x), math.ceil, CTX.ceil)


def _gamma(ev, x):
    if abs(x) > 10**6:
        raise Overflow("gamma too large")
    return CTX.gamma(to_mp(x))


def _exp(ev, x):
    if x == 0:
        return Fraction(1)
    check_exp(x)
    return CTX.exp(to_mp(x))


def _reciprocal(name: str, check):
    def f(ev, x):
        check(x)
        return 1 / getattr(CTX, name)(to_mp(x))

    return f


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
    "exp": _exp,
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
    "gamma": _gamma,
    "re": lambda ev, x: x if isinstance(x, Fraction) else to_mp(x).real,
    "im": lambda ev, x: Fraction(0) if isinstance(x, Fraction) else to_mp(x).imag,
    "arg": lambda ev, x: CTX.arg(to_mp(x)),
    "sec": _reciprocal("cos", check_periodic),
    "csc": _reciprocal("sin", check_periodic),
    "cot": _reciprocal("tan", check_periodic),
    "asec": lambda ev, x: CTX.acos(1 / to_mp(x)),
    "acsc": lambda ev, x: CTX.asin(1 / to_mp(x)),
    "acot": lambda ev, x: CTX.atan(1 / to_mp(x)),
    "sech": _reciprocal("cosh", check_exp),
    "csch": _reciprocal("sinh", check_exp),
    "coth": _reciprocal("tanh", check_exp),
}
for _name in ("sin", "cos", "tan"):
    FUNCTIONS[_name] = _mpfn(_name, check_periodic)
for _name in ("sinh", "cosh", "tanh"):
    FUNCTIONS[_name] = _mpfn(_name, check_exp)
for _name in ("asin", "acos", "atan", "asinh", "acosh", "atanh"):
    FUNCTIONS[_name] = _mpfn(_name)

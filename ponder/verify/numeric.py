"""Evaluate parsed answers to numbers: exact rationals where possible, 60-digit floats otherwise.

Rational arithmetic stays exact (``Fraction``) while the numbers stay below ``MAX_BITS``, so
``1/2^{99}`` and ``1/2^{98}``, or ``1/2004!`` and ``1/2006!``, are told apart exactly. Irrational values
(roots, pi, logs, trig) are computed with mpmath at 60 significant digits in a private context, which
is safe to use from many threads at once.

Every operation is bounded: powers whose result would need more than ``MAX_EXP_BITS`` bits of exponent
(``10^{10^{10^{10}}}``), factorials beyond ``10^6`` and sums of more than ``MAX_TERMS`` terms raise
:class:`Unevaluable` instead of running; the evaluator also checks a deadline every few steps.
"""

from __future__ import annotations

import hashlib
import math
import time
import zlib
from fractions import Fraction

import mpmath

CTX = mpmath.MPContext()
CTX.dps = 60
MAX_BITS = 100_000
MAX_EXP_BITS = 1 << 40
MAX_TERMS = 10_000
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


def _big(v: Fraction) -> bool:
    return v.numerator.bit_length() + v.denominator.bit_length() > MAX_BITS


def _real(v):
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


def _as_int(v) -> int | None:
    if isinstance(v, Fraction):
        return v.numerator if v.denominator == 1 else None
    try:
        r = _real(v)
    except Unevaluable:
        return None
    if not CTX.isfinite(r):
        return None
    n = int(CTX.nint(r))
    return n if abs(r - n) <= TOL * max(1, abs(r)) else None


def _norm(v):
    """Collapse complex values with a negligible imaginary part; reject NaN."""
    if isinstance(v, Fraction | Mat):
        return v
    if CTX.isnan(v):
        raise Unevaluable("not a number")
    if type(v).__name__ == "mpc" and abs(v.imag) <= ZERO_TOL * max(1, abs(v.real)):
        return v.real
    return v


class Evaluator:
    """Evaluate nodes of :mod:`ponder.verify.latex` with variables bound by ``env``."""

    def __init__(self, env: dict | None = None, deadline: float | None = None):
        self.env = env or {}
        self.deadline = deadline
        self.steps = 0
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
        v = _norm(fn(node))
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
            return to_mp(r) if _big(r) else r
        return to_mp(a) + to_mp(b)

    def mul(self, a, b):
        if isinstance(a, Mat) or isinstance(b, Mat):
            return self._mat_mul(a, b)
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            r = a * b
            return to_mp(r) if _big(r) else r
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
            n = _as_int(exp)
            if n is None or n < 1 or n > 64 or base.shape[0] != base.shape[1]:
                raise Unevaluable("matrix power")
            out = base
            for _ in range(n - 1):
                out = self._mat_mul(out, base)
            return out
        if isinstance(base, Fraction) and isinstance(exp, Fraction):
            exact = _exact_power(base, exp)
            if exact is not None:
                return exact
        b = to_mp(base)
        e = to_mp(exp)
        if b == 0:
            if _real(e) > 0:
                return Fraction(0)
            raise Unevaluable("zero to a non-positive power")
        if not CTX.isfinite(b) or not CTX.isfinite(e):
            return _inf_power(b, e)
        # log2 of the result's magnitude is about |e| * log2|b|; refuse what cannot be represented.
        if CTX.mag(e) + max(CTX.mag(CTX.log(abs(b), 2)) if abs(b) != 1 else -10, -10) > 40:
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
            return _det(self, m)
        vals = [self.ev(a) for a in args]
        fn = _FUNCS.get(name)
        if fn is None:
            raise Unevaluable(f"unknown function {name}")
        if any(isinstance(v, Mat) for v in vals):
            raise Unevaluable("function of a matrix")
        return fn(self, *vals)

    def ev_apply(self, node):
        # An unknown function f is given a fixed pseudo-random value per distinct argument, so that
        # f(x) = f(x) and f(1+1) = f(2), but f(x) != f(y) and f(2) != f(3).
        args = [self.ev(a) for a in node[2]]
        key = node[1] + "|" + "|".join(_fmt(a, 30) for a in args)
        h = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")
        return Fraction(h % 1_000_003 + 1, 7919) - 63

    def ev_bigop(self, node):
        _, op, var, lo, hi, body = node
        a, b = _as_int(self.ev(lo)), _as_int(self.ev(hi))
        if a is None or b is None:
            raise Unevaluable("sum bounds are not integers")
        if b - a + 1 > MAX_TERMS:
            raise Unevaluable("too many terms")
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


def _exact_power(base: Fraction, exp: Fraction) -> Fraction | None:
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
    return _exact_power(Fraction(rn, rd), Fraction(exp.numerator))


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


def _inf_power(b, e):
    if CTX.isinf(e):
        raise Unevaluable("infinite exponent")
    if CTX.isinf(b) and _real(e) > 0:
        return b
    if CTX.isinf(b) and _real(e) < 0:
        return Fraction(0)
    raise Unevaluable("indeterminate power")


def _det(ev: Evaluator, m: Mat):
    n = m.shape[0]
    if n == 1:
        return m.rows[0][0]
    if n > 6:
        raise Unevaluable("determinant too large")
    total = Fraction(0)
    for j in range(n):
        minor = Mat([r[:j] + r[j + 1 :] for r in m.rows[1:]])
        term = ev.mul(m.rows[0][j], _det(ev, minor))
        total = ev.add(total, term if j % 2 == 0 else -term)
    return total


def _fmt(v, digits: int) -> str:
    if isinstance(v, Fraction):
        return f"{v.numerator:x}/{v.denominator:x}"
    if isinstance(v, Mat):
        return "[" + ";".join(",".join(_fmt(x, digits) for x in r) for r in v.rows) + "]"
    return CTX.nstr(v, digits)


def _sqrt(ev, x):
    if isinstance(x, Fraction) and x >= 0:
        r = _exact_power(x, Fraction(1, 2))
        if r is not None:
            return r
    return CTX.sqrt(to_mp(x))


def _root(ev, x, n):
    k = _as_int(n)
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
    n = _as_int(x)
    if n is not None:
        if n < 0:
            raise Unevaluable("factorial of a negative integer")
        if n <= 3000:
            return Fraction(math.factorial(n))
        if n > 10**6:
            raise Overflow("factorial too large")
        return CTX.factorial(n)
    r = _real(x)
    if abs(r) > 10**6:
        raise Overflow("factorial too large")
    return CTX.gamma(r + 1)


def _fact2(ev, x):
    n = _as_int(x)
    if n is None or n < -1 or n > 3000:
        raise Unevaluable("double factorial")
    return Fraction(math.prod(range(n, 0, -2)))


def _binom(ev, n, k):
    a, b = _as_int(n), _as_int(k)
    if a is not None and b is not None and 0 <= a <= 20000:
        return Fraction(math.comb(a, b)) if 0 <= b else Fraction(0)
    if abs(_real(n)) > 10**7:
        raise Overflow("binomial too large")
    return CTX.binomial(to_mp(n), to_mp(k))


def _int_op(op):
    def f(ev, *vals):
        ints = [_as_int(v) for v in vals]
        if any(i is None for i in ints) or not ints:
            raise Unevaluable("integer operation on non-integers")
        return Fraction(op(*ints))

    return f


def _realfn(fn):
    def f(ev, *vals):
        return fn(*(_real(v) for v in vals))

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
    r = _real(x)
    return Fraction(math.floor(r)) if isinstance(r, Fraction) else Fraction(int(CTX.floor(r)))


def _ceil(ev, x):
    r = _real(x)
    return Fraction(math.ceil(r)) if isinstance(r, Fraction) else Fraction(int(CTX.ceil(r)))


def _abs(ev, x):
    return abs(x)


def _sgn(ev, x):
    r = _real(x)
    return Fraction((r > 0) - (r < 0))


def _mod(ev, a, b):
    x, y = _as_int(a), _as_int(b)
    if x is None or y is None or y == 0:
        raise Unevaluable("mod of non-integers")
    return Fraction(x % y)


_FUNCS = {
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
    _FUNCS[_name] = _mpfn(getattr(CTX, _name))


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

"""Symbolic checks with sympy, for the answers that numbers alone cannot settle.

This module runs only inside the worker process of :mod:`ponder.verify.answers.limits`, which kills it when a
check runs past its time limit; nothing here needs to guard its own running time.

Operations (``run(op, args)``):

- ``"equal"``: ``(a, b)`` nodes -> is ``simplify(a - b)`` zero (or ``a.equals(b)``)?
- ``"solve_set"``: ``(relation,)`` in one variable -> the set of real solutions, as a node
  (``("seq", "(", ")", (lo, hi))``, ``("union", ...)``, ``("set", ...)``, ``("reals",)``, ``("empty",)``).
"""

from __future__ import annotations

from fractions import Fraction

import sympy

_FUNCS = {
    name: getattr(sympy, name)
    for name in (
        "sin cos tan sec csc cot asin acos atan asec acsc acot sinh cosh tanh coth sech csch asinh acosh "
        "atanh exp sqrt floor gcd lcm gamma re im arg"
    ).split()
}
_FUNCS.update(
    abs=sympy.Abs,
    norm=sympy.Abs,
    ceil=sympy.ceiling,
    fact=sympy.factorial,
    fact2=sympy.factorial2,
    binom=sympy.binomial,
    max=sympy.Max,
    min=sympy.Min,
    sgn=sympy.sign,
    mod=sympy.Mod,
)


def to_sympy(n: tuple):
    k = n[0]
    if k == "num":
        return sympy.Rational(n[1].numerator, n[1].denominator)
    if k == "sym":
        return sympy.Symbol(n[1])
    if k == "const":
        return {"pi": sympy.pi, "e": sympy.E, "i": sympy.I, "inf": sympy.oo}[n[1]]
    if k == "add":
        return sympy.Add(*(to_sympy(x) for x in n[1]))
    if k == "mul":
        out = sympy.Integer(1)
        for x in n[1]:
            out = out * to_sympy(x)
        return out
    if k == "neg":
        return -to_sympy(n[1])
    if k == "pow":
        return to_sympy(n[1]) ** to_sympy(n[2])
    if k == "deg":
        return to_sympy(n[1]) * sympy.pi / 180
    if k == "pct":
        return to_sympy(n[1]) / 100
    if k == "base":
        return sympy.Integer(int(n[1], n[2]))
    if k == "func":
        args = [to_sympy(x) for x in n[2]]
        name = n[1]
        if name == "log":
            return sympy.log(*args)
        if name == "root":
            return sympy.real_root(args[0], args[1])
        if name == "det":
            return args[0].det()
        return _FUNCS[name](*args)
    if k == "apply":
        return sympy.Function(n[1])(*(to_sympy(x) for x in n[2]))
    if k == "bigop":
        _, op, var, lo, hi, body = n
        cls = sympy.Sum if op == "sum" else sympy.Product
        return cls(to_sympy(body), (sympy.Symbol(var), to_sympy(lo), to_sympy(hi))).doit()
    if k == "matrix":
        return sympy.Matrix([[to_sympy(x) for x in r] for r in n[1]])
    raise ValueError(f"no sympy form for {k}")


def from_sympy(e) -> tuple:
    """A node for a sympy number (endpoints of solution sets)."""
    if e is sympy.oo:
        return ("const", "inf")
    if e is sympy.S.NegativeInfinity:
        return ("neg", ("const", "inf"))
    if e.is_Rational:
        return ("num", Fraction(int(e.p), int(e.q)), None, None)
    if e is sympy.pi:
        return ("const", "pi")
    if e is sympy.E:
        return ("const", "e")
    if e.is_Add:
        return ("add", tuple(from_sympy(x) for x in e.args))
    if e.is_Mul:
        return ("mul", tuple(from_sympy(x) for x in e.args))
    if e.is_Pow:
        return ("pow", from_sympy(e.base), from_sympy(e.exp))
    raise ValueError(f"cannot express {e}")


def _set_node(s) -> tuple:
    if s is sympy.S.Reals:
        return ("reals",)
    if s is sympy.S.EmptySet:
        return ("empty",)
    if isinstance(s, sympy.Interval):
        return (
            "seq",
            "(" if s.left_open else "[",
            ")" if s.right_open else "]",
            (from_sympy(s.start), from_sympy(s.end)),
        )
    if isinstance(s, sympy.Union):
        return ("union", tuple(_set_node(x) for x in s.args))
    if isinstance(s, sympy.FiniteSet):
        return ("set", tuple(from_sympy(x) for x in s.args))
    raise ValueError(f"cannot express set {s}")


def equal(a: tuple, b: tuple) -> bool:
    ea, eb = to_sympy(a), to_sympy(b)
    if isinstance(ea, sympy.MatrixBase) or isinstance(eb, sympy.MatrixBase):
        if (
            not (isinstance(ea, sympy.MatrixBase) and isinstance(eb, sympy.MatrixBase))
            or ea.shape != eb.shape
        ):
            return False
        return all(sympy.simplify(x - y) == 0 for x, y in zip(ea, eb, strict=True))
    diff = sympy.simplify(ea - eb)
    if diff == 0:
        return True
    return bool(ea.equals(eb))


def solve_set(rel: tuple):
    """Solutions of a relation or chain (``1 <= |z| <= 3/2``) in its one variable, over the reals."""
    terms = [to_sympy(t) for t in rel[1]]
    symbols = set().union(*(t.free_symbols for t in terms))
    if len(symbols) != 1:
        return None
    (var,) = symbols
    real = sympy.Symbol(var.name, real=True)
    terms = [t.subs(var, real) for t in terms]
    rels = {"<": sympy.Lt, "<=": sympy.Le, ">": sympy.Gt, ">=": sympy.Ge, "=": sympy.Eq, "!=": sympy.Ne}
    sol = sympy.S.Reals
    for left, op, right in zip(terms[:-1], rel[2], terms[1:], strict=True):
        sol = sol.intersect(sympy.solveset(rels[op](left, right), real, domain=sympy.S.Reals))
    return _set_node(sol)


def run(op: str, args: tuple):
    if op == "equal":
        return equal(*args)
    if op == "solve_set":
        return solve_set(*args)
    if op == "ping":
        return "pong"
    if op == "sleep":  # used by the tests of the time limit
        import time

        time.sleep(args[0])
        return "slept"
    raise ValueError(f"unknown operation {op}")

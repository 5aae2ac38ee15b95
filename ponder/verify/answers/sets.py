"""Sets of real numbers: intervals, unions, finite sets, and the sets relations describe.

``x > 2`` is ``(2, \\infty)``, ``-2 \\le x \\le 7`` is ``[-2, 7]``, ``x \\ne 3`` is two rays; linear
inequalities are solved exactly, others by sympy in the worker process. Sets are compared as sorted,
merged pieces, so ``(0, 1) \\cup [1, 2]`` equals ``(0, 2]``.
"""

from __future__ import annotations

from fractions import Fraction

from ponder.verify.answers.nodes import canon, cat, free, items_of, name_like, unwrap
from ponder.verify.answers.numeric import CTX, Evaluator, Unevaluable, is_real, to_mp
from ponder.verify.answers.scalars import Budget, scalar_eq

INF = ("const", "inf")
NEG_INF = ("neg", INF)
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!=", "~": "~"}


def as_set(n: tuple, bud: Budget) -> tuple | None:
    """The set of reals a relation describes, as a node (``x > 2`` -> ``(2, \\infty)``), or None."""
    n = unwrap(n)
    if n[0] == "list" and n[2] == "or":
        parts = [as_set(x, bud) for x in n[1]]
        return None if any(p is None for p in parts) else ("union", tuple(parts))
    if is_system(n):
        # x > 1 and x < 3: all must hold.
        parts = [as_set(x, bud) for x in n[1]]
        if any(p is None for p in parts):
            return None
        out = parts[0]
        for p in parts[1:]:
            out = ("setop", "cap", out, p)
        return out
    if n[0] != "rel":
        return n
    terms, ops = n[1], n[2]
    if ops == ("in",) and name_like(terms[0]):
        return terms[1]
    if not all(op in ("<", ">", "<=", ">=", "!=") for op in ops):
        return None
    var = [i for i, t in enumerate(terms) if free(t)]
    if len(var) == 1 and terms[var[0]][0] in ("sym", "apply"):
        return _interval_of_chain(terms, ops, var[0])
    names = frozenset().union(*(free(t) for t in terms))
    if len(names) != 1:
        return None
    if len(ops) == 1:
        return _solve_linear(terms[0], ops[0], terms[1], bud)
    return _solve_symbolic(n, bud)


def is_system(n: tuple) -> bool:
    """A list of inequalities in one variable joined by "and" or commas (not "or")."""
    if n[0] != "list" or n[2] == "or" or len(n[1]) < 2:
        return False
    ineq = ("<", ">", "<=", ">=", "!=")
    if not all(x[0] == "rel" and all(op in ineq for op in x[2]) for x in n[1]):
        return False
    return len(frozenset().union(*(free(x) for x in n[1]))) == 1


def _ray(op: str, c: tuple) -> tuple:
    """The set of x with ``x op c``."""
    if op == "<":
        return ("seq", "(", ")", (NEG_INF, c))
    if op == "<=":
        return ("seq", "(", "]", (NEG_INF, c))
    if op == ">":
        return ("seq", "(", ")", (c, INF))
    if op == ">=":
        return ("seq", "[", ")", (c, INF))
    return ("union", (("seq", "(", ")", (NEG_INF, c)), ("seq", "(", ")", (c, INF))))


def _interval_of_chain(terms, ops, v: int) -> tuple | None:
    if len(terms) == 2:
        return _ray(ops[0], terms[1]) if v == 0 else _ray(FLIP[ops[0]], terms[0])
    if len(terms) != 3 or v != 1 or "!=" in ops:
        return None
    lo, hi = terms[0], terms[2]
    o1, o2 = ops
    if o1 in (">", ">=") and o2 in (">", ">="):
        lo, hi, o1, o2 = hi, lo, FLIP[o2], FLIP[o1]
    if o1 not in ("<", "<=") or o2 not in ("<", "<="):
        return None
    return ("seq", "[" if o1 == "<=" else "(", "]" if o2 == "<=" else ")", (lo, hi))


def _solve_linear(left, op, right, bud: Budget) -> tuple | None:
    """Solve ``left op right`` when it is linear in its one variable (``-x > -1`` -> ``x < 1``)."""
    (name,) = free(left) | free(right)
    d = ("add", (left, ("neg", right)))
    rel = ("rel", (left, right), (op,))
    vals = []
    for t in (Fraction(0), Fraction(1), Fraction(2)):
        try:
            vals.append(Evaluator({name: t}, bud.deadline)(d))
        except Unevaluable:
            return _solve_symbolic(rel, bud)
    if not all(isinstance(v, Fraction) for v in vals):
        return _solve_symbolic(rel, bud)
    slope = vals[1] - vals[0]
    if slope == 0 or vals[2] - vals[1] != slope:
        return _solve_symbolic(rel, bud)
    root = ("num", -vals[0] / slope, None, None)
    return _ray(op if slope > 0 else FLIP[op], root)


def _solve_symbolic(rel: tuple, bud: Budget):
    if bud.symbolic is None:
        return None
    out = bud.symbolic("solve_set", (rel,), bud)
    if out is not None:
        bud.how = "symbolic"
    return out


def set_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    pa, pb = pieces(a, bud), pieces(b, bud)
    if pa is None or pb is None:
        return canon(a) == canon(b)
    if len(pa) != len(pb):
        return False
    for x, y in zip(pa, pb, strict=True):
        if x[0] != y[0]:
            return False
        if x[0] == "pt":
            if not scalar_eq(x[1], y[1], bud):
                return False
        elif x[3:5] != y[3:5] or not scalar_eq(x[1], y[1], bud) or not scalar_eq(x[2], y[2], bud):
            return False
    return True


def pieces(n: tuple, bud: Budget) -> list | None:
    """A set as sorted, merged pieces: ``("iv", lo, hi, lo_closed, hi_closed, lo_val, hi_val)`` / ``("pt", node, val)``."""
    raw = _raw_pieces(unwrap(n), bud, 0)
    if raw is None:
        return None
    ivs = [p for p in raw if p[0] == "iv"]
    pts = []
    for pt in (p for p in raw if p[0] == "pt"):
        if any(q[2] == pt[2] for q in pts):
            continue
        for i, iv in enumerate(ivs):
            if iv[5] < pt[2] < iv[6] or (pt[2] == iv[5] and iv[3]) or (pt[2] == iv[6] and iv[4]):
                break
            if pt[2] == iv[5]:
                ivs[i] = iv[:3] + (True,) + iv[4:]
                break
            if pt[2] == iv[6]:
                ivs[i] = iv[:4] + (True,) + iv[5:]
                break
        else:
            pts.append(pt)
    ivs.sort(key=lambda p: (p[5], not p[3]))
    merged: list = []
    for p in ivs:
        if merged:
            last = merged[-1]
            if p[5] < last[6] or (p[5] == last[6] and (last[4] or p[3])):
                if p[6] > last[6]:
                    merged[-1] = last[:2] + (p[2], last[3], p[4], last[5], p[6])
                elif p[6] == last[6] and p[4]:
                    merged[-1] = last[:4] + (True,) + last[5:]
                continue
        merged.append(p)
    return sorted(merged + pts, key=lambda p: (p[5] if p[0] == "iv" else p[2], p[0] == "pt"))


def _raw_pieces(n: tuple, bud: Budget, depth: int) -> list | None:
    if depth > 20:
        return None
    k = n[0]
    if k == "reals":
        return [("iv", NEG_INF, INF, False, False, -CTX.inf, CTX.inf)]
    if k == "empty":
        return []
    if k == "union":
        out = []
        for part in n[1]:
            sub = _raw_pieces(unwrap(part), bud, depth + 1)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if k == "seq" and len(n[3]) == 2:
        lo, hi = n[3]
        lv, hv = _const_value(lo, bud), _const_value(hi, bud)
        if lv is None or hv is None or lv > hv:
            return None
        return [("iv", lo, hi, n[1] == "[", n[2] == "]", lv, hv)]
    if k == "rel" or (k == "list" and n[2] == "or"):
        s = as_set(n, bud)
        return None if s is None or s == n else _raw_pieces(unwrap(s), bud, depth + 1)
    if k == "setop" and n[1] == "cap":
        a, b = pieces(n[2], bud), pieces(n[3], bud)
        return None if a is None or b is None else _intersect(a, b)
    if k == "setop" and n[1] == "minus":
        return _minus_points(
            _raw_pieces(unwrap(n[2]), bud, depth + 1), _raw_pieces(unwrap(n[3]), bud, depth + 1)
        )
    if k in ("set", "list"):
        out = []
        for it in items_of(n):
            v = _const_value(it, bud)
            if v is None:
                return None
            out.append(("pt", it, v))
        return out
    v = _const_value(n, bud) if cat(n) == "scalar" else None
    return None if v is None else [("pt", n, v)]


def _intersect(a: list, b: list) -> list:
    """Intersection of two merged piece lists."""
    out = []
    for p in a:
        for q in b:
            if p[0] == "iv" and q[0] == "iv":
                lo, lc, lv = (p[1], p[3], p[5]) if (p[5], not p[3]) > (q[5], not q[3]) else (q[1], q[3], q[5])
                hi, hc, hv = (p[2], p[4], p[6]) if (p[6], p[4]) < (q[6], q[4]) else (q[2], q[4], q[6])
                if lv < hv:
                    out.append(("iv", lo, hi, lc, hc, lv, hv))
                elif lv == hv and lc and hc:
                    out.append(("pt", lo, lv))
            else:
                pt, other = (p, q) if p[0] == "pt" else (q, p)
                if other[0] == "pt" and other[2] == pt[2] or other[0] == "iv" and _contains(other, pt[2]):
                    out.append(pt)
    return out


def _contains(iv: tuple, v) -> bool:
    return iv[5] < v < iv[6] or (v == iv[5] and iv[3]) or (v == iv[6] and iv[4])


def _minus_points(base: list | None, cut: list | None) -> list | None:
    """``A \\setminus \\{p, q\\}``: points removed, intervals split at them (open at the cut)."""
    if base is None or cut is None or any(p[0] != "pt" for p in cut):
        return None
    out = []
    for p in base:
        if p[0] == "pt":
            if all(p[2] != c[2] for c in cut):
                out.append(p)
            continue
        for c in sorted(cut, key=lambda c: c[2]):
            lo, hi, lc, rc, lv, hv = p[1:]
            if lv < c[2] < hv:
                out.append(("iv", lo, c[1], lc, False, lv, c[2]))
                p = ("iv", c[1], hi, False, rc, c[2], hv)
            elif c[2] == lv:
                p = p[:3] + (False,) + p[4:]
            elif c[2] == hv:
                p = p[:4] + (False,) + p[5:]
        out.append(p)
    return out


def _const_value(n: tuple, bud: Budget):
    """A real value for ordering set pieces (mpf; infinities allowed), or None."""
    if free(n):
        return None
    try:
        v = Evaluator(deadline=bud.deadline)(n)
    except Unevaluable:
        return None
    if not is_real(v):
        return None
    return to_mp(v)

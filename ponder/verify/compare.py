"""Is parsed answer ``a`` the same as parsed answer ``b``? Structure first, then values.

The comparison dispatches on the kind of answer (see ``equivalent``):

- text answers: case-insensitive, letters and digits only;
- relations: ``x = 5`` compares as its value, chains ``x = 2+3 = 5`` by their last value; inequalities in one
  variable compare as the sets they describe (``x >= 5`` equals ``[5, \\infty)``); equations compare
  as proportional ``lhs - rhs`` (``2x+4y-3=0`` equals ``y = -x/2 + 3/4``);
- lists of solutions and sets: unordered, as multisets; ``x = 1, y = 2`` keeps its names;
- tuples: ordered, brackets matter (``(1,2)`` is not ``[1,2]``); a bare list against a tuple is ordered;
- intervals and unions: as sets of real numbers (merged, so ``(0,1) \\cup [1,2]`` equals ``(0,2]``);
- matrices and vectors: by shape and entries, whatever the environment;
- numbers and expressions: see ``scalar_eq`` (exact rationals, 60-digit values, random points for
  variables, then a symbolic check under the caller's time limit).
"""

from __future__ import annotations

import time
from fractions import Fraction
from functools import lru_cache

from ponder.verify.latex import NEG_ONE
from ponder.verify.numeric import (
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

INF = ("const", "inf")
NEG_INF = ("neg", INF)
FLIP = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "=": "=", "!=": "!=", "~": "~"}
SEQ_KINDS = frozenset(("seq", "vec", "matrix", "ratio"))
SETLIKE = frozenset(("union", "setop", "reals", "empty", "numset"))
MAX_ITEMS = 200


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


def cat(n: tuple) -> str:
    k = n[0]
    if k in ("text", "list", "set", "rel", "pm"):
        return k
    if k in SEQ_KINDS:
        return "seq"
    if k in SETLIKE:
        return "setlike"
    return "scalar"


def unwrap(n: tuple) -> tuple:
    while n[0] == "list" and len(n[1]) == 1:
        n = n[1][0]
    return n


def equivalent(a: tuple, b: tuple, bud: Budget) -> bool:
    """True when the two parsed answers are the same answer (symmetric)."""
    bud.check()
    a, b = unwrap(a), unwrap(b)
    if a == b:
        return True
    ca, cb = cat(a), cat(b)
    if "text" in (ca, cb):
        ta, tb = text_of(a), text_of(b)
        return ta is not None and ta == tb
    if "pm" in (ca, cb) or (ca in ("list", "set") or cb in ("list", "set")):
        return collection_eq(a, b, bud)
    if "rel" in (ca, cb):
        return rel_eq(a, b, bud)
    if "setlike" in (ca, cb):
        return set_eq(a, b, bud)
    if "seq" in (ca, cb):
        return seq_eq(a, b, bud)
    return scalar_eq(a, b, bud)


# --------------------------------------------------------------------------- names and text


def name_like(n: tuple) -> bool:
    """A name on the left of an assignment: ``x``, ``f(x)``, ``|AB|``, ``(p, q)``, ``NO/BO``, ``A:B``."""
    k = n[0]
    if k in ("sym", "apply"):
        return True
    if k == "func" and n[1] in ("abs", "norm"):
        return name_like(n[2][0])
    if k == "mul":
        return all(name_like(x) for x in n[1])
    if k == "pow":
        return n[2] == NEG_ONE and name_like(n[1])
    if k in ("ratio", "vec"):
        return all(name_like(x) for x in n[1])
    if k == "seq":
        return n[1] == "(" and all(name_like(x) for x in n[3])
    return False


def text_of(n: tuple) -> str | None:
    k = n[0]
    if k == "text":
        return n[1]
    if k in ("sym", "const"):
        return "".join(c for c in n[1].lower() if c.isalnum())
    if k == "mul" and all(x[0] in ("sym", "const") for x in n[1]):
        return "".join(text_of(x) for x in n[1])
    return None


def assignment(n: tuple) -> tuple[tuple | None, tuple | None]:
    """``(value, name)`` of ``x = 5`` or of a chain ``x = 2 + 3 = 5`` (name None when it is no name)."""
    if n[0] != "rel":
        return None, None
    terms, ops = n[1], n[2]
    if any(op not in ("=", "~") for op in ops):
        return None, None
    eqs = [i for i, op in enumerate(ops) if op == "="]
    value = terms[eqs[-1] + 1] if eqs else terms[-1]
    name = terms[0] if name_like(terms[0]) else None
    if name is None and len(eqs) < 2:
        # "1/2 = 0.5" is a computation whose value is its right side; "7 = 11a + c" is an equation.
        if len(terms) != 2 or ops != ("=",) or free(terms[0]) or free(terms[1]):
            return None, None
    if value[0] == "pm":
        return None, None
    return value, name


# --------------------------------------------------------------------------- collections


def items_of(n: tuple) -> list[tuple]:
    """Items of a list or set, with ``a ± b`` (also in ``x = 1 ± \\sqrt 2``) expanded to two items."""
    n = unwrap(n)
    raw = n[1] if n[0] in ("list", "set") else (n,)
    out: list[tuple] = []
    for it in raw:
        out.extend(expand_pm(it))
    return out


def expand_pm(n: tuple) -> list[tuple]:
    if n[0] == "pm":
        a, b = n[1], n[2]
        if a is None:
            return [b, ("neg", b)]
        return [("add", (a, b)), ("add", (a, ("neg", b)))]
    if n[0] == "rel" and n[2] and n[2][-1] == "=" and n[1][-1][0] == "pm":
        return [("rel", n[1][:-1] + (v,), n[2]) for v in expand_pm(n[1][-1])]
    return [n]


def collection_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    a, b = unwrap(a), unwrap(b)
    if _is_or_list(a) or _is_or_list(b):
        sa, sb = as_set(a, bud), as_set(b, bud)
        if sa is not None and sb is not None:
            return set_eq(sa, sb, bud)
    ordered = False
    for x, y in ((a, b), (b, a)):
        if x[0] in ("list", "pm") and (y[0] == "vec" or (y[0] == "seq" and y[1:3] == ("(", ")"))):
            ordered = True
        if x[0] == "set" and y[0] in ("seq", "vec"):
            return False
        if x[0] in ("set", "list") and cat(y) == "setlike":
            return set_eq(x, y, bud)
    ia = list(a[3]) if a[0] == "seq" else list(a[1]) if a[0] == "vec" else items_of(a)
    ib = list(b[3]) if b[0] == "seq" else list(b[1]) if b[0] == "vec" else items_of(b)
    if len(ia) > MAX_ITEMS or len(ib) > MAX_ITEMS:
        return False
    ia, ib, named = _names_or_values(ia, ib)
    key = (lambda x: x[0] + "=" + canon(x[1])) if named else canon
    if not ordered:
        # Lists of solutions are sets: an answer listed twice counts once.
        ia, ib = _dedupe(ia, key), _dedupe(ib, key)
    if ordered:
        return all(_item_eq(x, y, named, bud) for x, y in zip(ia, ib, strict=True))
    return match_unordered(ia, ib, lambda x, y: _item_eq(x, y, named, bud), key)


def _dedupe(items: list, key) -> list:
    seen = set()
    out = []
    for x in items:
        k = key(x)
        if k not in seen:
            seen.add(k)
            out.append(x)
    return out


def _is_or_list(n: tuple) -> bool:
    return n[0] == "list" and n[2] == "or" and all(x[0] == "rel" for x in n[1])


def _names_or_values(ia: list, ib: list) -> tuple[list, list, bool]:
    """Keep ``name = value`` pairs when both sides name the same things, else compare the values."""
    asg_a = [assignment(x) for x in ia]
    asg_b = [assignment(x) for x in ib]
    if all(v is not None and nm is not None for v, nm in asg_a + asg_b):
        names_a = sorted(canon(nm) for _, nm in asg_a)
        names_b = sorted(canon(nm) for _, nm in asg_b)
        if names_a == names_b:
            return [(canon(nm), v) for v, nm in asg_a], [(canon(nm), v) for v, nm in asg_b], True
    strip_a = [v if v is not None else x for x, (v, _) in zip(ia, asg_a, strict=True)]
    strip_b = [v if v is not None else x for x, (v, _) in zip(ib, asg_b, strict=True)]
    return strip_a, strip_b, False


def _item_eq(x, y, named: bool, bud: Budget) -> bool:
    if named:
        return x[0] == y[0] and equivalent(x[1], y[1], bud)
    return equivalent(x, y, bud)


def match_unordered(ia: list, ib: list, eq, key=None) -> bool:
    """A perfect matching between the two lists under ``eq`` (Kuhn's augmenting paths)."""
    n = len(ia)
    if n != len(ib):
        return False
    # Identical items pair off first: most lists of equal answers are written the same way.
    rest_a = list(range(n))
    rest_b = list(range(n))
    key = key or canon
    keys_b: dict[str, list[int]] = {}
    for j in rest_b:
        keys_b.setdefault(key(ib[j]), []).append(j)
    left = []
    used_b = set()
    for i in rest_a:
        js = keys_b.get(key(ia[i]))
        if js:
            used_b.add(js.pop())
        else:
            left.append(i)
    right = [j for j in rest_b if j not in used_b]
    cache: dict[tuple[int, int], bool] = {}

    def edge(i: int, j: int) -> bool:
        if (i, j) not in cache:
            cache[(i, j)] = eq(ia[i], ib[j])
        return cache[(i, j)]

    owner: dict[int, int] = {}

    def augment(i: int, seen: set) -> bool:
        for j in right:
            if j in seen or not edge(i, j):
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return all(augment(i, set()) for i in left)


# --------------------------------------------------------------------------- relations


def rel_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    if a[0] != "rel":
        a, b = b, a
    va, na = assignment(a)
    if b[0] != "rel":
        if va is not None:
            return equivalent(va, b, bud)
        if cat(b) in ("setlike", "seq", "set"):
            sa = as_set(a, bud)
            return sa is not None and set_eq(sa, b, bud)
        return False
    vb, nb = assignment(b)
    if va is not None and vb is not None and (na is None or nb is None or canon(na) == canon(nb)):
        return equivalent(va, vb, bud)
    if _set_relation(a) or _set_relation(b):
        sa, sb = as_set(a, bud), as_set(b, bud)
        if sa is not None and sb is not None:
            return set_eq(sa, sb, bud)
    if chain_eq(a, b, bud):
        return True
    return forms_eq(a, b, bud)


def _set_relation(n: tuple) -> bool:
    return n[0] == "rel" and all(op in ("<", ">", "<=", ">=", "!=", "in") for op in n[2])


def chain_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    """Same chain term by term (``f(2) < f(1) < f(4)``), also read backwards with flipped relations."""
    ta, oa, tb, ob = a[1], a[2], b[1], b[2]
    if len(ta) != len(tb):
        return False
    if oa == ob and all(equivalent(x, y, bud) for x, y in zip(ta, tb, strict=True)):
        return True
    flipped = tuple(FLIP[o] for o in reversed(ob))
    return oa == flipped and all(equivalent(x, y, bud) for x, y in zip(ta, reversed(tb), strict=True))


def forms_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    """``L1 op R1`` and ``L2 op R2`` with ``L1 - R1 = c (L2 - R2)`` for a constant c (> 0 for inequalities)."""
    fa, fb = _form(a), _form(b)
    if fa is None or fb is None or fa[1] != fb[1]:
        return False
    da, op = fa
    db = fb[0]
    names = free(da) | free(db)
    if not names:
        return False
    ratio = None
    seen = 0
    for k in range(POINTS):
        env = {nm: symbol_value(nm, k) for nm in names}
        try:
            x = Evaluator(dict(env), bud.deadline)(da)
            y = Evaluator(dict(env), bud.deadline)(db)
        except Unevaluable:
            continue
        if not (is_real(x) and is_real(y)):
            continue
        if values_close(y, Fraction(0)):
            if not values_close(x, Fraction(0)):
                return False
            continue
        r = x / y if isinstance(x, Fraction) and isinstance(y, Fraction) else to_mp(x) / to_mp(y)
        if ratio is None:
            ratio = r
        elif not values_close(r, ratio):
            return False
        seen += 1
    if ratio is None or seen < 2 or values_close(ratio, Fraction(0)):
        return False
    return op in ("=", "!=") or ratio > 0


def _form(n: tuple):
    if n[0] != "rel" or len(n[2]) != 1:
        return None
    (left, right), op = n[1], n[2][0]
    if op in ("<", "<="):
        left, right, op = right, left, FLIP[op]
    if op not in ("=", ">", ">=", "!="):
        return None
    return ("add", (left, ("neg", right))), op


def as_set(n: tuple, bud: Budget) -> tuple | None:
    """The set of reals a relation describes, as a node (``x > 2`` -> ``(2, \\infty)``), or None."""
    n = unwrap(n)
    if n[0] == "list" and n[2] == "or":
        parts = [as_set(x, bud) for x in n[1]]
        return None if any(p is None for p in parts) else ("union", tuple(parts))
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


# --------------------------------------------------------------------------- tuples, intervals, sets


def seq_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    if a[0] not in SEQ_KINDS:
        a, b = b, a
    if a[0] == "matrix" or b[0] == "matrix":
        va, vb = _vector_items(a), _vector_items(b)
        if va is not None and vb is not None and (a[0] != "matrix" or b[0] != "matrix"):
            return len(va) == len(vb) and all(equivalent(x, y, bud) for x, y in zip(va, vb, strict=True))
        if a[0] == "matrix" and b[0] == "matrix":
            ra, rb = a[1], b[1]
            if len(ra) != len(rb) or len(ra[0]) != len(rb[0]):
                return False
            return all(equivalent(x, y, bud) for r1, r2 in zip(ra, rb, strict=True) for x, y in zip(r1, r2, strict=True))
        return scalar_eq(a, b, bud) if cat(b) in ("scalar", "seq") else False
    if a[0] == "ratio" or b[0] == "ratio":
        if a[0] == "ratio" and b[0] == "ratio":
            return len(a[1]) == len(b[1]) and all(equivalent(x, y, bud) for x, y in zip(a[1], b[1], strict=True))
        r, other = (a, b) if a[0] == "ratio" else (b, a)
        if len(r[1]) == 2 and cat(other) == "scalar":
            return scalar_eq(("mul", (r[1][0], ("pow", r[1][1], NEG_ONE))), other, bud)
        return False
    if cat(b) != "seq":
        return False
    if a[0] == "seq" and b[0] == "seq" and a[1:3] != b[1:3]:
        return False
    ia = a[3] if a[0] == "seq" else a[1]
    ib = b[3] if b[0] == "seq" else b[1]
    return len(ia) == len(ib) and all(equivalent(x, y, bud) for x, y in zip(ia, ib, strict=True))


def _vector_items(n: tuple):
    if n[0] == "matrix":
        rows = n[1]
        if len(rows) == 1:
            return list(rows[0])
        if all(len(r) == 1 for r in rows):
            return [r[0] for r in rows]
        return None
    if n[0] == "vec":
        return list(n[1])
    if n[0] == "seq" and n[1:3] in (("(", ")"), ("[", "]")):
        return list(n[3])
    return None


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
    if k in ("set", "list"):
        out = []
        for it in items_of(n):
            v = _const_value(it, bud)
            if v is None:
                return None
            out.append(("pt", it, v))
        return out
    if k == "rel" or (k == "list" and n[2] == "or"):
        s = as_set(n, bud)
        return None if s is None or s == n else _raw_pieces(unwrap(s), bud, depth + 1)
    v = _const_value(n, bud) if cat(n) == "scalar" else None
    return None if v is None else [("pt", n, v)]


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


# --------------------------------------------------------------------------- numbers and expressions


def scalar_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    """Numbers and expressions, with the percent and decimal-approximation rules of docs/grading.md."""
    pa, pb = a[0] == "pct", b[0] == "pct"
    if pa and pb:
        return scalar_eq(a[1], b[1], bud)
    if pa or pb:
        p, o = (a, b) if pa else (b, a)
        # "50%" equals "50" (the percent sign dropped) and "0.5" (its value); never "0.5" and "50".
        return scalar_core(p[1], o, bud) or scalar_core(_percent_value(p[1]), o, bud)
    return scalar_core(a, b, bud)


def _percent_value(x: tuple) -> tuple:
    if x[0] == "num":
        return ("num", x[1] / 100, None if x[2] is None else x[2] - 2, x[3])
    if x[0] == "neg" and x[1][0] == "num":
        return ("neg", _percent_value(x[1]))
    return ("mul", (x, ("num", Fraction(1, 100), None, None)))


def scalar_core(a: tuple, b: tuple, bud: Budget) -> bool:
    names = free(a) | free(b)
    if not names:
        try:
            va = Evaluator(deadline=bud.deadline)(a)
            vb = Evaluator(deadline=bud.deadline)(b)
        except Overflow:
            return canon(a) == canon(b)
        except Unevaluable:
            pass
        else:
            bud.how = "numeric"
            return values_match(va, vb, a, b)
    else:
        r = points_match(a, b, names, bud)
        if r is not None:
            bud.how = "numeric"
            return r
    if canon(a) == canon(b):
        return True
    if bud.symbolic is None:
        return False
    out = bud.symbolic("equal", (a, b), bud)
    bud.how = "symbolic"
    return bool(out)


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
            return None
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
    """A decimal with at least 4 significant digits, within one unit of its last digit of the value."""
    value, ulp, sig = d
    if sig < 4 or not is_real(x):
        return False
    if isinstance(x, Fraction):
        return abs(value - x) <= Fraction(10) ** ulp
    return abs(to_mp(value) - x) <= CTX.mpf(10) ** ulp


# --------------------------------------------------------------------------- canonical forms


@lru_cache(maxsize=8192)
def free(n: tuple) -> frozenset:
    """Names of the free variables of a node (bound sum indices excluded)."""
    k = n[0]
    if k == "sym":
        return frozenset((n[1],))
    if k in ("num", "const", "text", "base", "reals", "empty", "numset", "ellipsis"):
        return frozenset()
    if k == "bigop":
        return (free(n[3]) | free(n[4]) | free(n[5])) - {n[2]}
    out: frozenset = frozenset()
    for child in _children(n):
        out |= free(child)
    return out


def _children(n: tuple):
    k = n[0]
    if k in ("add", "mul", "set", "vec", "ratio", "union", "list"):
        return n[1]
    if k in ("neg", "pct"):
        return (n[1],)
    if k == "pow":
        return (n[1], n[2])
    if k in ("func", "apply"):
        return n[2]
    if k == "pm":
        return tuple(x for x in n[1:] if x is not None)
    if k == "seq":
        return n[3]
    if k == "matrix":
        return tuple(x for r in n[1] for x in r)
    if k == "rel":
        return n[1]
    if k == "setop":
        return (n[2], n[3])
    return ()


@lru_cache(maxsize=8192)
def canon(n: tuple) -> str:
    """A canonical text of a node: sums and products sorted and flattened, numbers exact."""
    k = n[0]
    if k == "num":
        v = n[1]
        return str(v.numerator) if v.denominator == 1 else f"{v.numerator}/{v.denominator}"
    if k in ("sym", "const", "text"):
        return n[1]
    if k in ("add", "mul"):
        parts = []
        for c in n[1]:
            if c[0] == k:
                parts.extend(canon(x) for x in c[1])
            else:
                parts.append(canon(c))
        return "(" + ("+" if k == "add" else "*").join(sorted(parts)) + ")"
    if k == "neg":
        return "-" + canon(n[1])
    if k == "pow":
        return canon(n[1]) + "^" + canon(n[2])
    if k in ("func", "apply"):
        return n[1] + "(" + ",".join(canon(x) for x in n[2]) + ")"
    if k in ("set", "list"):
        return "{" + ",".join(sorted(canon(x) for x in n[1])) + "}"
    if k == "seq":
        return n[1] + ",".join(canon(x) for x in n[3]) + n[2]
    if k == "rel":
        out = canon(n[1][0])
        for op, t in zip(n[2], n[1][1:], strict=True):
            out += op + canon(t)
        return out
    if k in ("vec", "ratio", "union"):
        return k + "(" + ",".join(canon(x) for x in n[1]) + ")"
    if k == "matrix":
        return "[" + ";".join(",".join(canon(x) for x in r) for r in n[1]) + "]"
    if k == "pct":
        return canon(n[1]) + "%"
    if k == "pm":
        return ("" if n[1] is None else canon(n[1])) + "±" + canon(n[2])
    if k == "bigop":
        return f"{n[1]}_{n[2]}({canon(n[3])},{canon(n[4])},{canon(n[5])})"
    return repr(n)

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

from fractions import Fraction

from ponder.verify.answers.nodes import (
    SEQ_KINDS,
    assignment,
    canon,
    cat,
    free,
    items_of,
    name_like,
    text_of,
    unwrap,
)
from ponder.verify.answers.numeric import (
    POINTS,
    Evaluator,
    Unevaluable,
    is_real,
    symbol_value,
    to_mp,
    values_close,
)
from ponder.verify.answers.scalars import Budget, scalar_eq
from ponder.verify.answers.sets import FLIP, as_set, is_system, set_eq
from ponder.verify.answers.vocab import NEG_ONE

MAX_ITEMS = 200


def equivalent(a: tuple, b: tuple, bud: Budget) -> bool:
    """True when the two parsed answers are the same answer (symmetric)."""
    bud.check()
    a, b = _membership(unwrap(a)), _membership(unwrap(b))
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


def _membership(n: tuple) -> tuple:
    """``x \\in S`` answers with the set S."""
    if n[0] == "rel" and n[2] == ("in",) and name_like(n[1][0]):
        return unwrap(n[1][1])
    return n


def collection_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    a, b = unwrap(a), unwrap(b)
    if _is_or_list(a) or _is_or_list(b) or is_system(a) or is_system(b):
        sa, sb = as_set(a, bud), as_set(b, bud)
        if sa is not None and sb is not None:
            return set_eq(sa, sb, bud)
    ordered = False
    for x, y in ((a, b), (b, a)):
        if x[0] in ("list", "pm") and (y[0] == "vec" or (y[0] == "seq" and y[1:3] == ("(", ")"))):
            ordered = True
        elif x[0] in ("list", "pm") and y[0] == "seq":
            return False  # "1, 2" is not the interval [1, 2]
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
        return len(ia) == len(ib) and all(_item_eq(x, y, named, bud) for x, y in zip(ia, ib, strict=True))
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


def seq_eq(a: tuple, b: tuple, bud: Budget) -> bool:
    if a[0] not in SEQ_KINDS:
        a, b = b, a
    if a[0] == "matrix" or b[0] == "matrix":
        a, b = _as_matrix(a), _as_matrix(b)
        va, vb = _vector_items(a), _vector_items(b)
        if va is not None and vb is not None and (a[0] != "matrix" or b[0] != "matrix"):
            return len(va) == len(vb) and all(equivalent(x, y, bud) for x, y in zip(va, vb, strict=True))
        if a[0] == "matrix" and b[0] == "matrix":
            ra, rb = a[1], b[1]
            if len(ra) != len(rb) or len(ra[0]) != len(rb[0]):
                return False
            return all(
                equivalent(x, y, bud)
                for r1, r2 in zip(ra, rb, strict=True)
                for x, y in zip(r1, r2, strict=True)
            )
        return scalar_eq(a, b, bud) if cat(b) in ("scalar", "seq") else False
    if a[0] == "ratio" or b[0] == "ratio":
        if a[0] == "ratio" and b[0] == "ratio":
            if len(a[1]) != len(b[1]):
                return False
            if all(equivalent(x, y, bud) for x, y in zip(a[1], b[1], strict=True)):
                return True
            return _proportional(a[1], b[1], bud)
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


def _proportional(xs: tuple, ys: tuple, bud: Budget) -> bool:
    """Ratios without zero parts are equal in proportion (4:6 is 2:3); 12:00 and 1:00 are not."""
    if len(xs) != 2:
        return False
    vals = []
    for n in xs + ys:
        if free(n):
            return False
        try:
            v = Evaluator(deadline=bud.deadline)(n)
        except Unevaluable:
            return False
        if not is_real(v) or values_close(v, Fraction(0)):
            return False
        vals.append(v)
    a, b, c, d = vals
    left = a * d if isinstance(a, Fraction) and isinstance(d, Fraction) else to_mp(a) * to_mp(d)
    right = b * c if isinstance(b, Fraction) and isinstance(c, Fraction) else to_mp(b) * to_mp(c)
    return values_close(left, right)


def _as_matrix(n: tuple) -> tuple:
    """``[[1, 2], [3, 4]]`` (brackets of equal-length brackets) read as the matrix it writes."""
    if n[0] == "seq" and n[1:3] in (("[", "]"), ("(", ")")) and len(n[3]) >= 2:
        rows = [r[3] if r[0] == "seq" and r[1:3] == n[1:3] else None for r in n[3]]
        if all(r is not None and len(r) == len(rows[0]) for r in rows):
            return ("matrix", tuple(rows))
    return n


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

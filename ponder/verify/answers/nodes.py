"""Small helpers over parsed answers (the nodes of :mod:`ponder.verify.answers.latex`)."""

from __future__ import annotations

from functools import lru_cache

from ponder.verify.answers.vocab import NEG_ONE

SEQ_KINDS = frozenset(("seq", "vec", "matrix", "ratio"))
SETLIKE = frozenset(("union", "setop", "reals", "empty", "numset"))


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


def name_like(n: tuple) -> bool:
    """A name on the left of an assignment: ``x``, ``f(x)``, ``|AB|``, ``(p, q)``, ``NO/BO``, ``A:B``."""
    k = n[0]
    if k in ("sym", "apply"):
        return True
    if k == "func" and n[1] in ("abs", "norm"):
        return name_like(n[2][0])
    if k in ("mul", "add"):
        # AB, a + b: products and sums of names (no numbers: "2x + z = 1" is an equation).
        return all(name_like(x) for x in n[1])
    if k == "neg":
        return name_like(n[1])
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


def int_text(i: int) -> str:
    """Decimal text of an integer; hexadecimal beyond Python's limit on decimal conversion of huge ints."""
    return str(i) if i.bit_length() < 10000 else hex(i)


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
    for child in children(n):
        out |= free(child)
    return out


def children(n: tuple):
    k = n[0]
    if k in ("add", "mul", "set", "vec", "ratio", "union", "list"):
        return n[1]
    if k in ("neg", "pct", "deg"):
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
        return int_text(n[1].numerator) + ("" if n[1].denominator == 1 else "/" + int_text(n[1].denominator))
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
    if k == "deg":
        return canon(n[1]) + "deg"
    if k == "pm":
        return ("" if n[1] is None else canon(n[1])) + "±" + canon(n[2])
    if k == "bigop":
        return f"{n[1]}_{n[2]}({canon(n[3])},{canon(n[4])},{canon(n[5])})"
    return repr(n)

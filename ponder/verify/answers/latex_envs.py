"""LaTeX environments inside answers: matrices (any bracket style) and aligned lists of answers."""

from __future__ import annotations

from ponder.verify.answers.tokens import ParseError

MATRIX_ENVS = frozenset("matrix pmatrix bmatrix Bmatrix vmatrix Vmatrix smallmatrix array tabular".split())
LIST_ENVS = frozenset(
    "align align* aligned gather gather* gathered cases split eqnarray eqnarray* alignedat".split()
)
PLAIN_ENVS = frozenset("equation equation* displaymath math center".split())


def parse_env(p, env: str) -> tuple:
    """Parse from just after ``\\begin{env}`` to the matching ``\\end{env}``.

    Matrices become ``("matrix", rows)`` (``vmatrix`` its determinant), aligned environments a list of
    their rows, with ``&`` ignored (``x &= 1`` reads as ``x = 1``).
    """
    p.enter()
    try:
        if env in MATRIX_ENVS:
            rows = _rows(p, env, cells=True)
            width = len(rows[0])
            if any(len(r) != width for r in rows):
                raise ParseError("ragged matrix")
            node = ("matrix", tuple(tuple(r) for r in rows))
            if env == "vmatrix":
                return ("func", "det", (node,))
            return node
        if env in LIST_ENVS:
            rows = _rows(p, env, cells=False)
            items = [r[0] for r in rows]
            return items[0] if len(items) == 1 else ("list", tuple(items), ",")
        if env in PLAIN_ENVS:
            node = p.parse_groups(frozenset({("end", env)}))
            p.expect("end", env)
            return node
        raise ParseError(f"unsupported environment {env}")
    finally:
        p.depth -= 1


def _rows(p, env: str, *, cells: bool) -> list[list[tuple]]:
    rows: list[list[tuple]] = []
    row: list[tuple] = []
    stop = frozenset({("end", env), ("op", "&"), ("cmd", "\\")})
    for _ in range(100000):
        if p.at("end", env):
            p.take()
            break
        if p.at("eof"):
            raise ParseError(f"unclosed environment {env}")
        if p.at("cmd", "\\"):
            p.take()
            if row:
                rows.append(row)
            row = []
            continue
        if p.at("op", "&"):
            p.take()
            continue
        if cells:
            row.append(p.parse_relation())
        else:
            # A row of an aligned environment may hold a whole list (x = 1, y = 2).
            row.append(p.parse_groups(stop))
    if row:
        rows.append(row)
    if not rows:
        raise ParseError("empty environment")
    return rows

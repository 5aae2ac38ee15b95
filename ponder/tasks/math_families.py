"""Synthetic math families: multi-step arithmetic and linear equations.

Each problem carries a gold answer and two solution styles in ``meta``:

- ``long``: a chain of thought that writes every intermediate result, rewrites what is left, then checks
  the result by undoing each step, and ends with ``\\boxed{answer}``;
- ``short``: the answer with no intermediate steps, ending with ``\\boxed{answer}``.

The families are built so that the ThinkPO mechanism can show on a tiny model: a model that writes each
step only has to do one small operation at a time, while a model that answers at once has to do the whole
computation in one forward pass, which small models get wrong more often as ``ops`` grows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from fractions import Fraction

from ponder.records import Problem

ANSWER_LINE = "So the answer is \\boxed{{{}}}."
_PREC = {"+": 1, "-": 1, "*": 2}
_INVERSE = {"+": "-", "-": "+", "*": "/"}


# --------------------------------------------------------------------------- arithmetic


@dataclass
class Num:
    value: int


@dataclass
class Op:
    op: str
    left: Num | Op
    right: Num | Op


Node = Num | Op


def _apply(op: str, a: int, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


def evaluate(node: Node) -> int:
    if isinstance(node, Num):
        return node.value
    return _apply(node.op, evaluate(node.left), evaluate(node.right))


def render(node: Node, parent: str | None = None, right_side: bool = False) -> str:
    """Infix text with only the parentheses precedence needs: ``(3 + 4) * 5 - 2``."""
    if isinstance(node, Num):
        return str(node.value)
    text = f"{render(node.left, node.op, False)} {node.op} {render(node.right, node.op, True)}"
    if parent is not None:
        weaker = _PREC[node.op] < _PREC[parent]
        # a - (b + c) and a - (b - c) need them; a * (b * c) and a + (b + c) do not.
        right_of_minus = right_side and parent == "-" and _PREC[node.op] == _PREC[parent]
        if weaker or right_of_minus:
            text = f"({text})"
    return text


def _random_tree(rng: random.Random, n_ops: int, max_operand: int) -> Node:
    if n_ops == 0:
        return Num(rng.randint(1, max_operand))
    left_ops = rng.randint(0, n_ops - 1)
    op = rng.choice("+-*")
    return Op(
        op, _random_tree(rng, left_ops, max_operand), _random_tree(rng, n_ops - 1 - left_ops, max_operand)
    )


def _intermediates(node: Node) -> list[int]:
    if isinstance(node, Num):
        return []
    return _intermediates(node.left) + _intermediates(node.right) + [evaluate(node)]


def _has_zero_product(node: Node) -> bool:
    if isinstance(node, Num):
        return False
    zero = node.op == "*" and 0 in (evaluate(node.left), evaluate(node.right))
    return zero or _has_zero_product(node.left) or _has_zero_product(node.right)


def _reduce_once(node: Node) -> tuple[Node, tuple[int, str, int, int]]:
    """Evaluate the first operation in reading order whose operands are both numbers."""
    assert isinstance(node, Op)
    if isinstance(node.left, Num) and isinstance(node.right, Num):
        a, b = node.left.value, node.right.value
        c = _apply(node.op, a, b)
        return Num(c), (a, node.op, b, c)
    if isinstance(node.left, Op):
        new_left, step = _reduce_once(node.left)
        return Op(node.op, new_left, node.right), step
    new_right, step = _reduce_once(node.right)
    return Op(node.op, node.left, new_right), step


def arithmetic_solutions(expr: Node) -> tuple[str, str, int]:
    """(long CoT, short CoT, answer) for an expression tree."""
    answer = evaluate(expr)
    lines = []
    steps = []
    node = expr
    i = 0
    while isinstance(node, Op):
        i += 1
        node, (a, op, b, c) = _reduce_once(node)
        steps.append((a, op, b, c))
        rest = f" Now: {render(node)}" if isinstance(node, Op) else ""
        lines.append(f"Step {i}: {a} {op} {b} = {c}.{rest}")
    checks = []
    for _a, op, b, c in reversed(steps):
        inv = _INVERSE[op]
        back = c - b if op == "+" else c + b if op == "-" else c // b
        checks.append(f"{c} {inv} {b} = {back}")
    lines.append("Check: " + ", ".join(checks) + ". Correct.")
    lines.append(ANSWER_LINE.format(answer))
    long = "\n".join(lines)
    short = f"{render(expr)} = {answer}.\n" + ANSWER_LINE.format(answer)
    return long, short, answer


def arithmetic(
    n: int,
    seed: int = 0,
    *,
    min_ops: int = 2,
    max_ops: int = 4,
    max_operand: int = 9,
    max_value: int = 200,
) -> list[Problem]:
    """Multi-step integer arithmetic with + - * and parentheses.

    Knobs: ``min_ops``/``max_ops`` (operations per expression), ``max_operand`` (leaves are 1..max_operand),
    ``max_value`` (every intermediate result stays in 0..max_value, so steps are small and no negatives appear).
    """
    rng = random.Random(f"arithmetic:{seed}")
    out = []
    seen: set[str] = set()
    while len(out) < n:
        n_ops = rng.randint(min_ops, max_ops)
        expr = _random_tree(rng, n_ops, max_operand)
        # No negatives and no product with 0 keeps every step and every check (undoing a step) well defined.
        if any(v < 0 or v > max_value for v in _intermediates(expr)) or _has_zero_product(expr):
            continue
        text = render(expr)
        if text in seen:
            continue
        seen.add(text)
        long, short, answer = arithmetic_solutions(expr)
        out.append(
            Problem(
                id=f"arith-{seed}-{len(out)}",
                prompt=f"Compute {text}.",
                answer=str(answer),
                source="synthetic/arithmetic",
                meta={"family": "arithmetic", "ops": n_ops, "long": long, "short": short},
            )
        )
    return out


# --------------------------------------------------------------------------- linear equations


def _frac_tex(q: Fraction) -> str:
    if q.denominator == 1:
        return str(q.numerator)
    sign = "-" if q < 0 else ""
    return f"{sign}\\frac{{{abs(q.numerator)}}}{{{q.denominator}}}"


def _term(a: int) -> str:
    return "x" if a == 1 else f"{a}x"


def linear(
    n: int,
    seed: int = 0,
    *,
    max_coef: int = 9,
    max_solution: int = 12,
    fractions: bool = False,
) -> list[Problem]:
    """Linear equations in one unknown: ``a x + b = c``, ``a x - b = c``, ``a(x + b) = c``, ``a x + b = c x + d``.

    Knobs: ``max_coef`` (coefficients 1..max_coef), ``max_solution`` (integer solutions 0..max_solution),
    ``fractions`` (allow fractional solutions, answered as ``\\frac{p}{q}``).
    """
    rng = random.Random(f"linear:{seed}")
    out = []
    seen: set[str] = set()
    while len(out) < n:
        form = rng.choice(["ax+b=c", "ax-b=c", "a(x+b)=c", "ax+b=cx+d"])
        a = rng.randint(2, max_coef)
        b = rng.randint(1, max_coef * 2)
        if fractions and rng.random() < 0.5:
            x = Fraction(rng.randint(1, max_solution * 3), rng.choice([2, 3, 4, 5]))
        else:
            x = Fraction(rng.randint(0, max_solution))
        steps: list[str] = []
        if form == "ax+b=c":
            c = a * x + b
            eq = f"{_term(a)} + {b} = {_frac_tex(c)}"
            steps.append(f"subtract {b} from both sides: {_term(a)} = {_frac_tex(c - b)}.")
            steps.append(f"divide both sides by {a}: x = {_frac_tex(x)}.")
            check = f"{a} * {_frac_tex(x)} + {b} = {_frac_tex(a * x)} + {b} = {_frac_tex(c)}"
        elif form == "ax-b=c":
            c = a * x - b
            eq = f"{_term(a)} - {b} = {_frac_tex(c)}"
            steps.append(f"add {b} to both sides: {_term(a)} = {_frac_tex(c + b)}.")
            steps.append(f"divide both sides by {a}: x = {_frac_tex(x)}.")
            check = f"{a} * {_frac_tex(x)} - {b} = {_frac_tex(a * x)} - {b} = {_frac_tex(c)}"
        elif form == "a(x+b)=c":
            c = a * (x + b)
            eq = f"{a}(x + {b}) = {_frac_tex(c)}"
            steps.append(f"divide both sides by {a}: x + {b} = {_frac_tex(c / a)}.")
            steps.append(f"subtract {b} from both sides: x = {_frac_tex(x)}.")
            check = f"{a} * ({_frac_tex(x)} + {b}) = {a} * {_frac_tex(x + b)} = {_frac_tex(c)}"
        else:
            c = rng.randint(1, a - 1)
            d = (a - c) * x + b
            if d.denominator != 1:
                continue
            eq = f"{_term(a)} + {b} = {_term(c)} + {_frac_tex(d)}"
            steps.append(f"subtract {_term(c)} from both sides: {_term(a - c)} + {b} = {_frac_tex(d)}.")
            steps.append(f"subtract {b} from both sides: {_term(a - c)} = {_frac_tex(d - b)}.")
            if a - c != 1:
                steps.append(f"divide both sides by {a - c}: x = {_frac_tex(x)}.")
            check = (
                f"{a} * {_frac_tex(x)} + {b} = {_frac_tex(a * x + b)} and "
                f"{c} * {_frac_tex(x)} + {_frac_tex(d)} = {_frac_tex(c * x + d)}"
            )
        if eq in seen:
            continue
        seen.add(eq)
        answer = _frac_tex(x)
        long = "\n".join(
            [f"Step {i}: {s[0].upper() + s[1:]}" for i, s in enumerate(steps, 1)]
            + [f"Check: {check}. Correct.", ANSWER_LINE.format(answer)]
        )
        short = f"x = {answer}.\n" + ANSWER_LINE.format(answer)
        out.append(
            Problem(
                id=f"linear-{seed}-{len(out)}",
                prompt=f"Solve for x: {eq}.",
                answer=answer,
                source="synthetic/linear",
                meta={"family": "linear", "form": form, "long": long, "short": short},
            )
        )
    return out

"""A code family in PFPO's regime: list pipelines (keep -> change -> report) with several valid programs each.

Every problem reads one line of integers from stdin, keeps the numbers that pass a condition, changes each
kept number, and prints one summary of them::

    Read a line of integers. Keep the numbers greater than 12. Multiply each kept number by 3.
    Print the largest of them, or 0 if none is kept.

Why this shape (PFPO, Jiao et al., ICLR 2025, Sec. 3.2, needs programs that *disagree on some inputs* while
the *majority output is usually right*):

- **Independent parts.** The condition, the change and the summary are written separately; a slip in one part
  changes the output only on the inputs that part matters for (``>`` for ``>=`` only when the threshold
  itself is in the line; a missing empty-case guard only when nothing is kept). Different slips fail on
  different inputs, so a per-input vote over sampled programs is usually right even when most programs
  have some slip.
- **Several valid programs.** Each correct solution can be written in ``2 x 2 x 4`` ways (a loop or a
  comprehension; an inline or a block guard for the empty case; four forms of the condition, e.g.
  ``x > 12``, ``x >= 13``, ``12 < x``, ``13 <= x``). The SFT data shows all of them, so a model's probability
  of a correct *output* is split over several texts.
- **A fallible teacher** (``slip_rate``). On a share of the comparison problems the SFT response carries the
  teacher's boundary slip (``x >= 12`` for "greater than 12": the boundary copied where a +-1 was needed).
  The slip shares its first tokens with a correct form and is more likely than any single correct form, so
  greedy decoding follows it, while most *sampled* programs are correct and outvote it on the inputs that
  hold the boundary -- the gap between greedy decoding and self-consistency the paper's method feeds on.

Each :class:`~ponder.records.Problem` has ``tests`` (hidden; inputs from :func:`sample_inputs` with the
problem's own seed, outputs from :func:`solve`, written independently of any program text) and in ``meta``:
``family``, ``template`` (``keep/change/report``), ``params``, ``reference`` (one correct program), ``styles``
(the style of the reference), ``long`` (the teacher's fenced response: the reference, or its slip),
``teacher_slip`` and ``mode: stdio``.

Inputs for pseudo tests (:func:`sample_inputs`) are drawn from the *statement* only (its threshold, divisor,
and what the condition is) -- never from a program or an output -- like an LLM asked for edge cases.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ponder.records import Problem

# --------------------------------------------------------------------------- the parts of a problem


@dataclass(frozen=True)
class Keep:
    """A condition on ``x``: its phrase, four correct code forms (``str.format(**params)``), and the slip a
    fallible teacher makes in it (``None``: none) -- the boundary copied where it needed a +-1."""

    name: str
    phrase: str
    forms: tuple[str, str, str, str]
    slip: str | None = None


@dataclass(frozen=True)
class Change:
    """A change of each kept ``x``: its phrase ('' for none), and its code expression."""

    name: str
    phrase: str
    expr: str


@dataclass(frozen=True)
class Report:
    """A summary of the kept list ``kept``: its phrase, and the code (``guarded`` when the empty list needs
    its own branch: two forms, inline and block; else one line)."""

    name: str
    phrase: str
    value: str  # expression of `kept`
    guarded: bool


KEEPS = {
    k.name: k
    for k in (
        Keep(
            "greater",
            "Keep the numbers greater than {t}.",
            ("x > {t}", "x >= {t1}", "{t} < x", "{t1} <= x"),
            "x >= {t}",
        ),
        Keep(
            "less",
            "Keep the numbers less than {t}.",
            ("x < {t}", "x <= {tm1}", "{t} > x", "{tm1} >= x"),
            "x <= {t}",
        ),
        Keep(
            "at_least",
            "Keep the numbers that are at least {t}.",
            ("x >= {t}", "x > {tm1}", "{t} <= x", "{tm1} < x"),
            "x > {t}",
        ),
        Keep(
            "at_most",
            "Keep the numbers that are at most {t}.",
            ("x <= {t}", "x < {t1}", "{t} >= x", "{t1} > x"),
            "x < {t}",
        ),
        Keep("even", "Keep the even numbers.", ("x % 2 == 0", "not x % 2", "0 == x % 2", "x % 2 < 1")),
        Keep("odd", "Keep the odd numbers.", ("x % 2 == 1", "x % 2 != 0", "1 == x % 2", "x % 2 > 0")),
        Keep(
            "multiple",
            "Keep the multiples of {k}.",
            ("x % {k} == 0", "not x % {k}", "0 == x % {k}", "x % {k} < 1"),
        ),
        Keep(
            "not_equal",
            "Keep the numbers other than {t}.",
            ("x != {t}", "not x == {t}", "{t} != x", "x < {t} or x > {t}"),
        ),
    )
}

CHANGES = {
    c.name: c
    for c in (
        Change("none", "", "x"),
        Change("add", "Add {a} to each kept number.", "x + {a}"),
        Change("subtract", "Subtract {a} from each kept number.", "x - {a}"),
        Change("multiply", "Multiply each kept number by {m}.", "x * {m}"),
        Change("square", "Square each kept number.", "x * x"),
        Change("absolute", "Replace each kept number by its absolute value.", "abs(x)"),
    )
}

REPORTS = {
    r.name: r
    for r in (
        Report("sum", "Print their sum (0 if none is kept).", "sum(kept)", False),
        Report("count", "Print how many numbers are kept.", "len(kept)", False),
        Report("largest", "Print the largest of them, or 0 if none is kept.", "max(kept)", True),
        Report("smallest", "Print the smallest of them, or 0 if none is kept.", "min(kept)", True),
        Report(
            "list",
            "Print them in order separated by spaces, or 0 if none is kept.",
            "' '.join(map(str, kept))",
            True,
        ),
    )
}

STYLES = ("loop", "comprehension")
FORMS = 4
GUARDS = ("inline", "block")
LOW, HIGH = -9, 30  # the range numbers of an input are drawn from


def _params(rng: random.Random) -> dict[str, int]:
    t = rng.randint(0, 20)
    return {
        "t": t,
        "t1": t + 1,
        "tm1": t - 1,
        "k": rng.randint(3, 6),
        "a": rng.randint(1, 9),
        "m": rng.randint(2, 5),
    }


# --------------------------------------------------------------------------- statement, truth, programs


def statement(keep: str, change: str, report: str, params: dict[str, int]) -> str:
    parts = ["Read a line of integers.", KEEPS[keep].phrase, CHANGES[change].phrase, REPORTS[report].phrase]
    return " ".join(p for p in parts if p).format(**params)


def kept_by(keep: str, x: int, p: dict[str, int]) -> bool:
    return {
        "greater": x > p["t"],
        "less": x < p["t"],
        "at_least": x >= p["t"],
        "at_most": x <= p["t"],
        "even": x % 2 == 0,
        "odd": x % 2 == 1,
        "multiple": x % p["k"] == 0,
        "not_equal": x != p["t"],
    }[keep]


def _changed(change: str, x: int, p: dict[str, int]) -> int:
    return {
        "none": x,
        "add": x + p["a"],
        "subtract": x - p["a"],
        "multiply": x * p["m"],
        "square": x * x,
        "absolute": abs(x),
    }[change]


def solve(template: str, params: dict[str, int], stdin: str) -> str:
    """The expected stdout for ``stdin`` (computed here, not by running a program)."""
    keep, change, report = template.split("/")
    kept = [_changed(change, x, params) for x in map(int, stdin.split()) if kept_by(keep, x, params)]
    if report == "sum":
        return f"{sum(kept)}\n"
    if report == "count":
        return f"{len(kept)}\n"
    if not kept:
        return "0\n"
    if report == "largest":
        return f"{max(kept)}\n"
    if report == "smallest":
        return f"{min(kept)}\n"
    return " ".join(str(v) for v in kept) + "\n"


def program(
    template: str, params: dict[str, int], style: str, guard: str, form: int, *, slip: bool = False
) -> str:
    """One program for the problem in the given style (see the module docstring); correct unless ``slip``
    (the teacher's boundary slip in the condition, for the parts that have one)."""
    keep, change, report = template.split("/")
    k = KEEPS[keep]
    cond = (k.slip if slip and k.slip else k.forms[form]).format(**params)
    expr = CHANGES[change].expr.format(**params)
    lines = ["nums = list(map(int, input().split()))"]
    if style == "loop":
        lines += ["kept = []", "for x in nums:", f"    if {cond}:", f"        kept.append({expr})"]
    else:
        lines += [f"kept = [{expr} for x in nums if {cond}]"]
    r = REPORTS[report]
    if not r.guarded:
        lines += [f"print({r.value})"]
    elif guard == "inline":
        lines += [f"print({r.value} if kept else 0)"]
    else:
        lines += ["if kept:", f"    print({r.value})", "else:", "    print(0)"]
    return "\n".join(lines) + "\n"


def all_programs(template: str, params: dict[str, int]) -> list[str]:
    """Every correct program of the family for the problem (distinct texts)."""
    out = [program(template, params, s, g, f) for s in STYLES for g in GUARDS for f in range(FORMS)]
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------- inputs


def _numbers_near(rng: random.Random, keep: str, p: dict[str, int]) -> list[int]:
    """Values the statement makes interesting: the threshold and its neighbours, multiples, parities."""
    if keep in ("greater", "less", "at_least", "at_most", "not_equal"):
        return [p["t"], p["t"], p["t"] - 1, p["t"] + 1]
    if keep == "multiple":
        return [p["k"], 2 * p["k"], p["k"] + 1, 0]
    return [rng.randint(LOW, HIGH) for _ in range(3)]


def sample_input(rng: random.Random, keep: str, p: dict[str, int]) -> str:
    """One stdin line: 1-7 numbers, usually with a value the condition turns on, sometimes negatives."""
    n = rng.randint(1, 7)
    xs = [rng.randint(LOW, HIGH) for _ in range(n)]
    if rng.random() < 0.7:
        xs[rng.randrange(n)] = rng.choice(_numbers_near(rng, keep, p))
    return " ".join(map(str, xs)) + "\n"


def none_kept_input(rng: random.Random, keep: str, p: dict[str, int]) -> str:
    """A line on which the statement's condition keeps nothing (an edge case read off the statement)."""
    pool = [x for x in range(LOW, HIGH + 1) if not kept_by(keep, x, p)]
    return " ".join(str(rng.choice(pool)) for _ in range(rng.randint(1, 4))) + "\n"


def sample_inputs(problem: Problem, n: int, seed: int = 0) -> list[str]:
    """``n`` distinct stdin lines for a problem of this family, deterministic per ``(problem id, seed)``:
    an empty line, a line keeping nothing, then sampled lines. Uses the statement's parts only."""
    keep = problem.meta["template"].split("/")[0]
    p = problem.meta["params"]
    rng = random.Random(f"pipeline-inputs\x00{problem.id}\x00{seed}")
    inputs = ["\n", none_kept_input(rng, keep, p)][:n]
    tries = 0
    while len(inputs) < n and tries < 50 * n:
        tries += 1
        s = sample_input(rng, keep, p)
        if s not in inputs:
            inputs.append(s)
    return inputs


# --------------------------------------------------------------------------- problems


def fenced(source: str) -> str:
    return f"```python\n{source}```"


def pipeline(
    n: int,
    seed: int = 0,
    *,
    n_tests: int = 8,
    slip_rate: float = 0.0,
    keeps: tuple[str, ...] | None = None,
    changes: tuple[str, ...] | None = None,
    reports: tuple[str, ...] | None = None,
) -> list[Problem]:
    """``n`` problems (parts drawn uniformly, a `count` report never has a change), deterministic per seed.

    ``meta.reference`` is a correct program in a random style; ``meta.long`` is the *teacher's* response:
    the reference, except that with probability ``slip_rate`` (on parts that have a slip) the teacher writes
    its boundary slip instead (``meta.teacher_slip``). ``slip_rate`` models SFT data from a fallible source;
    evaluation and pseudo-test measurements always use ``tests`` and ``reference``.
    """
    if not 0 <= slip_rate < 1:
        raise ValueError(f"slip_rate must be in [0, 1), got {slip_rate}")
    keeps, changes, reports = keeps or tuple(KEEPS), changes or tuple(CHANGES), reports or tuple(REPORTS)
    rng = random.Random(f"pipeline\x00{seed}")
    out = []
    for i in range(n):
        report = rng.choice(reports)
        keep = rng.choice(keeps)
        change = "none" if report == "count" else rng.choice(changes)
        template = f"{keep}/{change}/{report}"
        params = _params(rng)
        style = (rng.choice(STYLES), rng.choice(GUARDS), rng.randrange(FORMS))
        slip = KEEPS[keep].slip is not None and rng.random() < slip_rate
        reference = program(template, params, *style)
        p = Problem(
            id=f"pipe-{seed}-{i}",
            prompt=statement(keep, change, report, params) + "\nWrite a Python program.",
            source="synthetic/pipeline",
            meta={
                "family": "pipeline",
                "mode": "stdio",
                "template": template,
                "params": params,
                "reference": reference,
                "styles": list(style),
                "teacher_slip": slip,
                "long": fenced(program(template, params, *style, slip=slip)),
            },
        )
        p.tests = [
            {"input": s, "output": solve(template, params, s)} for s in sample_inputs(p, n_tests, seed)
        ]
        out.append(p)
    return out

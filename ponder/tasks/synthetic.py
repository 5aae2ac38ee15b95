"""Synthetic reasoning tasks written for ponder: deterministic per seed, with difficulty knobs.

Families (see each function for its knobs):

- ``arithmetic`` -- multi-step integer expressions with + - * and parentheses (:func:`math_families.arithmetic`);
- ``linear`` -- linear equations in one unknown (:func:`math_families.linear`);
- ``code`` -- stdin/stdout programs with tests, an input sampler and buggy variants (:mod:`code_family`);
- ``pipeline`` -- list pipelines with several valid programs each and a fallible SFT teacher, the PFPO-code
  miniature's family (:mod:`code_pipeline`);
- ``neighbour-sum`` -- which named number and the next add up to a target: checking an answer is one line,
  finding it a search, the Thinker miniature's family (:mod:`neighbour_sum`).

Every math problem has a gold ``answer`` and two solution styles in ``meta``: ``long`` (step-by-step with
intermediate results and a self-check) and ``short`` (answer only); both end in ``\\boxed{}``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from pathlib import Path

from ponder.records import Problem
from ponder.tasks import code_family, code_pipeline
from ponder.tasks.code_family import TEMPLATES, code, expected_output
from ponder.tasks.code_pipeline import pipeline
from ponder.tasks.math_families import arithmetic, linear
from ponder.tasks.neighbour_sum import neighbour_sum

FAMILIES: dict[str, Callable[..., list[Problem]]] = {
    "arithmetic": arithmetic,
    "linear": linear,
    "code": code,
    "pipeline": pipeline,
    "neighbour-sum": neighbour_sum,
}
# The tiny models' tokenizer is trained on these families' text. Fixed, so a new family does not change the
# tokenizer (and every demo's numbers) of the existing ones; the pipeline family's statements and programs
# use the same words and Python as the code family.
TOKENIZER_FAMILIES = ("arithmetic", "linear", "code")

__all__ = [
    "FAMILIES",
    "TEMPLATES",
    "TOKENIZER_FAMILIES",
    "arithmetic",
    "code",
    "corpus",
    "expected_output",
    "has_sampler",
    "linear",
    "make",
    "neighbour_sum",
    "pipeline",
    "sample_inputs",
    "write_family",
]


def make(family: str, n: int, seed: int = 0, **knobs) -> list[Problem]:
    """``n`` problems of ``family``; ``knobs`` are the family function's keyword arguments."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family](n, seed, **knobs)


def has_sampler(problem: Problem) -> bool:
    """Whether a problem comes from a code family with an input sampler (its template and parameters)."""
    if not isinstance(problem.meta.get("params"), dict):
        return False
    if problem.meta.get("family") == "pipeline":
        return True
    return problem.meta.get("template") in TEMPLATES


def sample_inputs(problem: Problem, n: int, seed: int = 0) -> list[str]:
    """``n`` stdin inputs for a problem of a code family, from its statement's parts, deterministic per seed."""
    if problem.meta.get("family") == "pipeline":
        return code_pipeline.sample_inputs(problem, n, seed)
    return code_family.sample_inputs(problem, n, seed)


def corpus(n_per_family: int = 400, seed: int = 12345) -> Iterator[str]:
    """Text of the tokenizer's families (prompts, both solution styles, programs), e.g. to train a tokenizer."""
    for family in TOKENIZER_FAMILIES:
        for p in make(family, n_per_family, seed):
            yield p.prompt if isinstance(p.prompt, str) else p.prompt[-1]["content"]
            yield p.meta["long"]
            yield p.meta["short"]
            yield from p.meta.get("buggy", {}).values()


def write_family(
    family: str, output: str | Path, n: int, seed: int, knobs: list[str], sft: str | None = None
) -> str:
    """``ponder synth``: ``n`` problems of ``family`` (knobs as ``key=value``, values read as YAML) to
    ``output``, or with ``sft`` (long|short) prompt-completion records of that solution style."""
    import yaml

    from ponder.errors import PonderError
    from ponder.io import write_records

    if family not in FAMILIES:
        raise PonderError(f"unknown task family {family!r}; choose one of {', '.join(FAMILIES)}")
    params = inspect.signature(FAMILIES[family]).parameters
    known = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
    values = {}
    for item in knobs:
        key, sep, val = item.partition("=")
        if not sep or key not in known:
            raise PonderError(f"--knob {item!r}: expected key=value with key one of {', '.join(known)}")
        values[key] = yaml.safe_load(val)
    if sft not in (None, "long", "short"):
        raise PonderError(f"--sft: expected long or short, got {sft!r}")
    problems = make(family, n, seed, **values)
    if sft is None:
        return f"wrote {write_records(output, problems)} {family} problems to {output}"
    rows = [{"id": p.id, "prompt": p.prompt, "completion": p.meta[sft], "answer": p.answer} for p in problems]
    return f"wrote {write_records(output, rows)} {family} SFT examples ({sft} solutions) to {output}"

"""Synthetic reasoning tasks written for ponder: deterministic per seed, with difficulty knobs.

Families (see each function for its knobs):

- ``arithmetic`` -- multi-step integer expressions with + - * and parentheses (:func:`math_families.arithmetic`);
- ``linear`` -- linear equations in one unknown (:func:`math_families.linear`);
- ``code`` -- stdin/stdout programs with tests, an input sampler and buggy variants (:mod:`code_family`).

Every math problem has a gold ``answer`` and two solution styles in ``meta``: ``long`` (step-by-step with
intermediate results and a self-check) and ``short`` (answer only); both end in ``\\boxed{}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ponder.records import Problem
from ponder.tasks.code_family import TEMPLATES, code, expected_output, sample_inputs
from ponder.tasks.math_families import arithmetic, linear

FAMILIES: dict[str, Callable[..., list[Problem]]] = {"arithmetic": arithmetic, "linear": linear, "code": code}

__all__ = [
    "FAMILIES",
    "TEMPLATES",
    "arithmetic",
    "code",
    "corpus",
    "expected_output",
    "linear",
    "make",
    "sample_inputs",
]


def make(family: str, n: int, seed: int = 0, **knobs) -> list[Problem]:
    """``n`` problems of ``family``; ``knobs`` are the family function's keyword arguments."""
    if family not in FAMILIES:
        raise ValueError(f"unknown task family {family!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[family](n, seed, **knobs)


def corpus(n_per_family: int = 400, seed: int = 12345) -> Iterator[str]:
    """Text of every family (prompts, both solution styles, programs), e.g. to train a tokenizer."""
    for family in FAMILIES:
        for p in make(family, n_per_family, seed):
            yield p.prompt if isinstance(p.prompt, str) else p.prompt[-1]["content"]
            yield p.meta["long"]
            yield p.meta["short"]
            yield from p.meta.get("buggy", {}).values()

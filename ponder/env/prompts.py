"""The user turns of the Thinker dialogue and of the single-turn QA baseline: the one place to edit them.

The wording is ponder's own. Each text may contain ``{question}`` (the problem), ``{budget}`` (the token
budget of the stage the text opens) and, in the stages after Fast Thinking, ``{answer}`` (the final answer
read from the fast answer by the grading rule; empty when it has none); they are replaced literally, so
braces elsewhere -- ``\\boxed{}`` -- need no escaping. A recipe config overrides any of them under ``env.prompts`` (YAML or
``env.prompts.fast="..."``), so a model trained with other wording can be run with the wording it knows.
"""

from __future__ import annotations

from dataclasses import dataclass

from ponder.config import option

FAST = (
    "Answer the question quickly, in at most {budget} tokens: give only the few steps you need. "
    "Put the final answer in \\boxed{}.\n\n{question}"
)
VERIFY = (
    "Now check whether your answer is correct. Work it out as carefully as you need to, then end with "
    "\\boxed{Yes} if the answer is correct or \\boxed{No} if it is not."
)
SLOW = (
    "Your answer is not correct. Solve the question again, slowly and carefully, step by step, "
    "and put the final answer in \\boxed{}."
)
SUMMARY = (
    "Rewrite the solution you just found as a few short, precise steps that reach the same final answer. "
    "Put the final answer in \\boxed{}."
)
QA = "Solve the question. Put the final answer in \\boxed{}.\n\n{question}"


@dataclass(frozen=True)
class StagePrompts:
    """The user message that opens each stage (and the baseline's single question)."""

    fast: str = option(FAST, "Fast Thinking: opens the dialogue; has {question} and may use {budget}.")
    verify: str = option(
        VERIFY,
        "Verification: asks for a judgement of the fast answer ending in \\boxed{Yes}/\\boxed{No}; may use "
        "{answer}.",
    )
    slow: str = option(
        SLOW, "Slow Thinking: says the first answer was wrong and asks for a careful solution."
    )
    summary: str = option(SUMMARY, "Summarization: asks for the slow solution condensed into short steps.")
    qa: str = option(QA, "Single-turn QA baseline: the whole question; has {question} and may use {budget}.")


def fill(template: str, *, question: str = "", budget: int | None = None, answer: str | None = None) -> str:
    """``template`` with ``{question}``, ``{budget}`` and ``{answer}`` (``None``: empty) replaced (nothing else
    is interpreted)."""
    text = template.replace("{question}", question).replace("{answer}", answer or "")
    if budget is not None:
        text = text.replace("{budget}", str(budget))
    return text

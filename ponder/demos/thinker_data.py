"""Supervised data that teaches a tiny model the four Thinker stages and the single-turn baseline.

A tiny random model cannot discover the stages by RL; it first learns their form by SFT, from texts written
here for synthetic math problems (``ponder.tasks.synthetic``, which carry a step-by-step solution in
``meta.long`` and an answer-only one in ``meta.short``):

=============  ==========================================================================================
stage          target text
=============  ==========================================================================================
fast           the answer-only solution (short; must fit the Fast Thinking budget)
verify         the steps worked out again, then the comparison with the fast answer shown in the dialogue
               and ``\\boxed{Yes}`` or ``\\boxed{No}``; the shown fast answer is wrong in ``wrong_share`` of
               the examples (a nearby wrong number), so both judgements are taught
slow           the full step-by-step solution with its check (after a wrong fast answer, as in training)
summary        the steps condensed to ``a op b = c`` pieces and the boxed answer
qa             the full step-by-step solution (what the baseline answers with)
=============  ==========================================================================================

Records are prompt-completion pairs whose prompt is the dialogue so far (chat messages), so the wrong fast
answers shown as context are never trained on.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

from ponder.env.prompts import fill
from ponder.env.qa import QAEnvConfig
from ponder.env.thinker import ThinkerEnvConfig, split_question
from ponder.records import Problem

_STEP = re.compile(r"^Step \d+: (.*)$")


def solution_steps(long: str) -> list[str]:
    """The ``Step i:`` lines of a synthetic long solution, without their numbering."""
    return [m.group(1) for line in long.splitlines() if (m := _STEP.match(line.strip()))]


def condensed(long: str, answer: str) -> str:
    """The steps reduced to their equations: ``2 - 2 = 0, 9 - 0 = 9, 9 * 9 = 81. \\boxed{81}``.

    Arithmetic steps read ``a op b = c. Now: ...``; linear ones ``Verb ...: equation.``; both keep the equation.
    """
    pieces = []
    for step in solution_steps(long):
        step = step.split(" Now:")[0].rstrip(".")
        if ": " in step:  # linear: "Subtract 3 from both sides: 2x = 10"
            step = step.rsplit(": ", 1)[1]
        pieces.append(step.rstrip("."))
    body = ", ".join(pieces) if pieces else f"x = {answer}"
    return f"{body}. \\boxed{{{answer}}}"


def verification(steps: str, answer: str, shown: str) -> str:
    """The steps worked out again, compared with the answer ``shown`` in the dialogue, and the judgement."""
    same = shown.strip() == answer.strip()
    verdict = "Yes" if same else "No"
    relation = "The same." if same else "Not the same."
    return f"{steps}\nI get {answer}; the answer was {shown}. {relation} \\boxed{{{verdict}}}"


def wrong_answer(answer: str, rng: random.Random) -> str:
    """A nearby wrong answer for an integer gold answer (what a hasty guess looks like); another digit for a
    one-digit answer."""
    try:
        value = int(answer)
    except ValueError:
        return answer + "1"
    if len(answer) == 1:
        return str(rng.choice([x for x in range(10) if x != value]))
    delta = rng.choice([-10, -3, -2, -1, 1, 2, 3, 10])
    return str(value + delta)


def with_answer(text: str, old: str, new: str) -> str:
    """A short solution ``... = old. ... \\boxed{old}.`` rewritten to state ``new`` instead."""
    return text.replace(f"= {old}.", f"= {new}.").replace(f"{{{old}}}", f"{{{new}}}")


# --------------------------------------------------------------------------- the demo's task: digit sums


def sum_problems(n: int, seed: int = 0, *, min_terms: int = 3, max_terms: int = 5) -> list[Problem]:
    """``Compute 3 + 5 + 2 + 7.`` with ``min_terms``..``max_terms`` digits 1-9; distinct questions per seed.

    Made for tiny models: an answer at once must add every digit in one forward pass (hard), while a
    step-by-step answer adds one digit to a running sum per line (a small table of facts), so thinking longer
    pays -- the setting in which Thinker's fast and slow stages differ.
    """
    rng = random.Random(f"thinker-sums:{seed}")
    out, seen = [], set()
    space = sum(9**k for k in range(min_terms, max_terms + 1))
    if n > space:
        raise ValueError(
            f"only {space} distinct questions with {min_terms}..{max_terms} terms; asked for {n}"
        )
    while len(out) < n:
        terms = [rng.randint(1, 9) for _ in range(rng.randint(min_terms, max_terms))]
        expr = " + ".join(map(str, terms))
        if expr in seen:
            continue
        seen.add(expr)
        partial = [sum(terms[: i + 1]) for i in range(len(terms))]
        answer = str(partial[-1])
        lines = [f"{a} + {d} = {b}." for a, d, b in zip(partial, terms[1:], partial[1:], strict=False)]
        out.append(
            Problem(
                id=f"sums-{seed}-{len(out)}",
                prompt=f"Compute {expr}.",
                answer=answer,
                source="synthetic/sums",
                meta={
                    "family": "sums",
                    "terms": terms,
                    "long": "\n".join(lines + [f"So the answer is \\boxed{{{answer}}}."]),
                    "short": f"{expr} = {answer}. \\boxed{{{answer}}}",
                    "condensed": ", ".join(map(str, partial[1:])) + f". \\boxed{{{answer}}}",
                    "steps": "\n".join(lines),
                },
            )
        )
    return out


def _texts(problem: Problem) -> tuple[str, str, str]:
    """(step lines without the answer line, condensed steps, long solution) of a synthetic problem."""
    answer, long = problem.answer, problem.meta["long"]
    if problem.meta.get("family") == "sums":
        return problem.meta["steps"], problem.meta["condensed"], long
    steps = "\n".join(f"Step {i}: {s}" for i, s in enumerate(solution_steps(long), 1))
    return steps, condensed(long, answer), long


def stage_records(
    problem: Problem, env: ThinkerEnvConfig, qa: QAEnvConfig, rng: random.Random, *, wrong_share: float = 0.5
) -> Iterator[dict]:
    """Five prompt-completion records for one problem: fast, verify, slow, summary and qa."""
    if not problem.answer or "long" not in problem.meta or "short" not in problem.meta:
        raise ValueError(f"problem {problem.id!r} needs an answer and meta.long / meta.short solutions")
    prefix, question = split_question(problem.prompt)
    answer = problem.answer
    steps, short_steps, long = _texts(problem)
    p = env.prompts

    def user(template: str, stage: str) -> dict:
        return {"role": "user", "content": fill(template, question=question, budget=env.budget(stage))}

    fast_text = problem.meta["short"]
    shown = wrong_answer(answer, rng) if rng.random() < wrong_share else answer
    shown_text = with_answer(fast_text, answer, shown)
    wrong_shown = wrong_answer(answer, rng)
    wrong_text = with_answer(fast_text, answer, wrong_shown)

    fast = [*prefix, user(p.fast, "fast")]
    yield {"id": f"{problem.id}-fast", "prompt": fast, "completion": fast_text, "meta": {"stage": "fast"}}
    dialogue = fast + [{"role": "assistant", "content": shown_text}, user(p.verify, "verify")]
    yield {
        "id": f"{problem.id}-verify",
        "prompt": dialogue,
        "completion": verification(steps, answer, shown),
        "meta": {"stage": "verify", "shown_correct": shown == answer},
    }
    # Slow Thinking follows a wrong fast answer (training mode), judged wrong by the verification.
    dialogue = fast + [
        {"role": "assistant", "content": wrong_text},
        user(p.verify, "verify"),
        {"role": "assistant", "content": verification(steps, answer, wrong_shown)},
        user(p.slow, "slow"),
    ]
    yield {"id": f"{problem.id}-slow", "prompt": dialogue, "completion": long, "meta": {"stage": "slow"}}
    dialogue = dialogue + [{"role": "assistant", "content": long}, user(p.summary, "summary")]
    yield {
        "id": f"{problem.id}-summary",
        "prompt": dialogue,
        "completion": short_steps,
        "meta": {"stage": "summary"},
    }
    qa_prompt = [
        *prefix,
        {"role": "user", "content": fill(qa.prompts.qa, question=question, budget=qa.budget_tokens)},
    ]
    yield {"id": f"{problem.id}-qa", "prompt": qa_prompt, "completion": long, "meta": {"stage": "qa"}}


def sft_records(
    problems: list[Problem],
    env: ThinkerEnvConfig,
    qa: QAEnvConfig,
    *,
    seed: int = 0,
    wrong_share: float = 0.5,
) -> list[dict]:
    """Stage records for every problem, deterministic per seed."""
    rng = random.Random(f"thinker-sft:{seed}")
    return [r for prob in problems for r in stage_records(prob, env, qa, rng, wrong_share=wrong_share)]

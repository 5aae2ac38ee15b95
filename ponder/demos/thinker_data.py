"""SFT data that teaches a tiny model the four Thinker stages and the single-turn baseline, including
Verification of the model's OWN fast answers.

A tiny random model cannot discover the stages by RL; it first learns their form by SFT.

A *checkable task* (:class:`CheckableTask`) writes, for one problem, the fast answer, the search (Slow
Thinking and the single-turn baseline), its summary, a wrong answer of the kind a quick guess gives, and the
local check of any fast answer ending in ``\\boxed{Yes}``/``\\boxed{No}``, the verdict following from the
check (Yes exactly when the answer is right). :class:`ponder.tasks.neighbour_sum.NeighbourSumTask` is one.

Records are conversations (TRL's conversational format: ``{"id", "messages", "meta"}``) holding the dialogue
the environment builds, each user turn the very prompt it opens a stage with. The SFT recipe trains on every
assistant turn except one of ``"weight": 0``, which is context: a shown fast answer is never trained on, and
one record teaches the later turns of a dialogue in one sequence instead of repeating the dialogue as the
prompt of each. ``meta["stages"]`` names the taught turns in order:

================================  =========================================================================
``meta["stages"]``                messages (*taught* turns in italics)
================================  =========================================================================
fast                              question, *the fast answer*
verify                            question, a fast answer, verify prompt, *its check and verdict*
slow, summary                     question, a WRONG fast answer, verify prompt, its check (verdict No),
                                  slow prompt, *the search*, summary prompt, *its summary*
verify, slow, summary             the same with the check taught
qa                                the single-turn question, *the search*
================================  =========================================================================

The Slow Thinking turn holds the search as the environment's turn does: cut after the first of its stop
strings (``stop``; ``}`` ends a turn at its box), since the environment ends the turn there and the summary
must follow exactly that text. Lines that a search writes after the box are taught by the qa records only,
which hold the whole search.

The check of a wrong answer tests that answer only, so a slow turn's context never holds the search it is
trained to write. :func:`stage_records` shows synthetic fast answers (the gold, or ``task.distractor``);
:func:`own_answer_records` shows answers sampled from a model, so Verification learns to judge the answers it
will actually see in RL, right and wrong, in a chosen proportion.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Protocol

from ponder.env.prompts import fill
from ponder.env.qa import QAEnvConfig
from ponder.env.runner import run_episodes
from ponder.env.thinker import ThinkerEnv, ThinkerEnvConfig, split_question
from ponder.generation.base import Generator, cut_at_stop
from ponder.records import Message, Problem
from ponder.verify.rules import extract_with


class CheckableTask(Protocol):
    """The texts of one task family (all take a Problem of the family)."""

    def fast(self, problem: Problem) -> str: ...
    def search(self, problem: Problem) -> str: ...
    def summary(self, problem: Problem) -> str: ...
    def distractor(self, problem: Problem, rng: random.Random) -> str: ...
    def check(self, problem: Problem, fast_response: str) -> tuple[str, bool]: ...


def _user(template: str, question: str, budget: int, answer: str | None = None) -> Message:
    return {"role": "user", "content": fill(template, question=question, budget=budget, answer=answer)}


def _reply(text: str, taught: bool = True) -> Message:
    """An assistant turn; one not taught carries ``"weight": 0`` and is context only."""
    turn: Message = {"role": "assistant", "content": text}
    return turn if taught else {**turn, "weight": 0}


def _record(
    problem: Problem, messages: list[Message], stages: list[str], *, suffix: str = "", **meta
) -> dict:
    """A conversation record whose id names the taught ``stages`` (and ``suffix``)."""
    return {
        "id": f"{problem.id}-{'-'.join(stages)}{suffix}",
        "messages": messages,
        "meta": {"stages": stages, "problem": problem.id, **meta},
    }


def fast_prompt(problem: Problem, env: ThinkerEnvConfig) -> list[Message]:
    prefix, question = split_question(problem.prompt)
    return [*prefix, _user(env.prompts.fast, question, env.fast_budget_tokens)]


def _verify_prompt(problem: Problem, env: ThinkerEnvConfig, shown: str) -> list[Message]:
    """The dialogue up to the Verification prompt, the fast answer ``shown`` in it as context (not taught)."""
    question, answer = split_question(problem.prompt)[1], extract_with(env.grading_rule, shown)
    verify = _user(env.prompts.verify, question, env.verify_budget_tokens, answer)
    return [*fast_prompt(problem, env), _reply(shown, taught=False), verify]


def verify_record(
    problem: Problem, env: ThinkerEnvConfig, task: CheckableTask, shown: str, *, suffix: str = "", **meta
) -> dict:
    """Verification of the fast answer ``shown`` (a whole fast response)."""
    text, verdict = task.check(problem, shown)
    messages = [*_verify_prompt(problem, env, shown), _reply(text)]
    return _record(problem, messages, ["verify"], suffix=suffix, shown_correct=verdict, **meta)


def wrong_answer_record(
    problem: Problem,
    env: ThinkerEnvConfig,
    task: CheckableTask,
    wrong: str,
    *,
    teach_check: bool = False,
    suffix: str = "",
    **meta,
) -> dict:
    """The dialogue after the wrong fast answer ``wrong``: its check (verdict No; taught with
    ``teach_check``, context otherwise), Slow Thinking, then the summary of the search."""
    check_text, verdict = task.check(problem, wrong)
    if verdict:
        raise ValueError(f"problem {problem.id!r}: slow examples follow a wrong fast answer, got {wrong!r}")
    question, answer = split_question(problem.prompt)[1], extract_with(env.grading_rule, wrong)
    messages = [
        *_verify_prompt(problem, env, wrong),
        _reply(check_text, taught=teach_check),
        _user(env.prompts.slow, question, env.slow_budget_tokens, answer),
        # the search as the dialogue holds it: the environment ends the turn at a stop string
        _reply(cut_at_stop(task.search(problem), env.stop, keep=True)[0]),
        _user(env.prompts.summary, question, env.summary_budget_tokens, answer),
        _reply(task.summary(problem)),
    ]
    stages = ["slow", "summary"]
    if teach_check:
        stages, meta = ["verify", *stages], {**meta, "shown_correct": False}
    return _record(problem, messages, stages, suffix=suffix, **meta)


def qa_record(problem: Problem, qa: QAEnvConfig, task: CheckableTask) -> dict:
    """The single-turn baseline: its question, then the whole search."""
    prefix, question = split_question(problem.prompt)
    messages = [*prefix, _user(qa.prompts.qa, question, qa.budget_tokens), _reply(task.search(problem))]
    return _record(problem, messages, ["qa"])


def stage_records(
    problem: Problem,
    env: ThinkerEnvConfig,
    qa: QAEnvConfig,
    task: CheckableTask,
    rng: random.Random,
    *,
    wrong_share: float = 0.5,
) -> Iterator[dict]:
    """Three or four records for one problem, with synthetic fast answers, that teach each of fast,
    verify, slow, summary and qa once: in ``wrong_share`` of the problems Verification is taught on a
    distractor, in the dialogue that goes on to Slow Thinking; otherwise on the gold answer, and a second
    dialogue after a distractor teaches Slow Thinking and the summary (its check as context)."""
    yield _record(problem, [*fast_prompt(problem, env), _reply(task.fast(problem))], ["fast"])
    wrong_shown = rng.random() < wrong_share
    if not wrong_shown:
        yield verify_record(problem, env, task, task.fast(problem), shown_by="synthetic")
    wrong = task.distractor(problem, rng)
    yield wrong_answer_record(problem, env, task, wrong, teach_check=wrong_shown, shown_by="synthetic")
    yield qa_record(problem, qa, task)


def sft_records(
    problems: Sequence[Problem],
    env: ThinkerEnvConfig,
    qa: QAEnvConfig,
    task: CheckableTask,
    *,
    seed: int = 0,
    wrong_share: float = 0.5,
) -> list[dict]:
    """:func:`stage_records` of every problem, deterministic per seed."""
    rng = random.Random(f"thinker-sft:{seed}")
    return [r for p in problems for r in stage_records(p, env, qa, task, rng, wrong_share=wrong_share)]


def sample_fast_answers(
    generator: Generator,
    problems: Sequence[Problem],
    env: ThinkerEnvConfig,
    *,
    samples: int,
    temperature: float,
    seed: int,
) -> list[tuple[Problem, str, bool]]:
    """``samples`` fast answers per problem from ``generator`` (the Fast Thinking stage alone, with its
    budget): ``(problem, response, correct)`` in problem order. An answer cut by the budget counts as wrong."""
    todo = [(p, f"{p.id}#own{k}") for p in problems for k in range(samples)]
    envs = [ThinkerEnv(env, mode="infer") for _ in todo]
    rollout = run_episodes(
        generator,
        envs,
        [p for p, _ in todo],
        temperature=temperature,
        seed=seed,
        ids=[i for _, i in todo],
        max_stages=1,
    )
    out = []
    for (p, _), ep in zip(todo, rollout.episodes, strict=True):
        t = ep.turns[0]
        out.append((p, t["response"], bool(t["correct"]) and not t["truncated"]))
    return out


def _resample(items: list, n: int, rng: random.Random) -> list:
    """``n`` items: each item ``n // len`` times, the remainder a sample without replacement."""
    if not items:
        return []
    whole, rest = divmod(n, len(items))
    return items * whole + rng.sample(items, rest)


def own_answer_records(
    answers: Sequence[tuple[Problem, str, bool]],
    env: ThinkerEnvConfig,
    task: CheckableTask,
    *,
    right_share: float = 0.5,
    seed: int = 0,
) -> tuple[list[dict], dict]:
    """Verification records of sampled right fast answers, subsampled (or repeated) so that they make
    ``right_share`` of the answers checked, and one dialogue after each wrong answer (used once) that teaches
    its check, Slow Thinking and the summary (:func:`wrong_answer_record`). Returns ``(records, counts)``.

    The verdict of each record is computed by ``task.check``; an answer whose check disagrees with its
    grading (e.g. ``\\boxed{9.0}``: graded right, not an integer to check) is left out and counted.
    """
    rng = random.Random(f"thinker-own:{seed}")
    agree = [(p, r, ok) for p, r, ok in answers if task.check(p, r)[1] == ok]
    right = [(p, r) for p, r, ok in agree if ok]
    wrong = [(p, r) for p, r, ok in agree if not ok]
    n_right = round(len(wrong) * right_share / (1 - right_share)) if right_share < 1 else len(right)
    chosen_right = _resample(right, n_right, rng)
    records = []
    for k, (p, r) in enumerate(chosen_right):
        records.append(verify_record(p, env, task, r, suffix=f"-own-right{k}", shown_by="model"))
    for k, (p, r) in enumerate(wrong):
        records.append(
            wrong_answer_record(p, env, task, r, teach_check=True, suffix=f"-own-wrong{k}", shown_by="model")
        )
    rng.shuffle(records)
    counts = {
        "sampled": len(answers),
        "left_out": len(answers) - len(agree),
        "right": len(right),
        "wrong": len(wrong),
        "verify_right": len(chosen_right),
    }
    return records, counts

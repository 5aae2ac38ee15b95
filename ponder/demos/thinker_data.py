"""SFT data that teaches a tiny model the four Thinker stages and the single-turn baseline, including
Verification of the model's OWN fast answers.

A tiny random model cannot discover the stages by RL; it first learns their form by SFT.

A *checkable task* (:class:`CheckableTask`) writes, for one problem, the fast answer, the search (Slow
Thinking and the single-turn baseline), its summary, a wrong answer of the kind a quick guess gives, and the
local check of any fast answer ending in ``\\boxed{Yes}``/``\\boxed{No}``, the verdict following from the
check (Yes exactly when the answer is right). :class:`ponder.tasks.neighbour_sum.NeighbourSumTask` is one.

Records are prompt-completion pairs whose prompt is the dialogue so far (chat messages), so shown answers
are context and never trained on:

=============  ==========================================================================================
stage          prompt -> completion
=============  ==========================================================================================
fast           question -> the fast answer
verify         question, a fast answer -> the check of that answer and its verdict
slow           question, a WRONG fast answer, its check (verdict No) -> the search
summary        ... the search -> its summary
qa             the single-turn question -> the search
=============  ==========================================================================================

The check of a wrong answer tests that answer only, so a slow example's context never holds the search it
is trained to write. :func:`stage_records` shows synthetic fast answers (the gold, or ``task.distractor``);
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


def _record(problem: Problem, stage: str, prompt: list[Message], completion: str, **meta) -> dict:
    suffix = meta.pop("suffix", "")
    return {
        "id": f"{problem.id}-{stage}{suffix}",
        "prompt": prompt,
        "completion": completion,
        "meta": {"stage": stage, "problem": problem.id, **meta},
    }


def fast_prompt(problem: Problem, env: ThinkerEnvConfig) -> list[Message]:
    prefix, question = split_question(problem.prompt)
    return [*prefix, _user(env.prompts.fast, question, env.fast_budget_tokens)]


def verify_record(
    problem: Problem, env: ThinkerEnvConfig, task: CheckableTask, shown: str, *, suffix: str = "", **meta
) -> dict:
    """Verification of the fast answer ``shown`` (a whole fast response)."""
    text, verdict = task.check(problem, shown)
    question, answer = split_question(problem.prompt)[1], extract_with(env.grading_rule, shown)
    prompt = fast_prompt(problem, env) + [
        {"role": "assistant", "content": shown},
        _user(env.prompts.verify, question, env.verify_budget_tokens, answer),
    ]
    return _record(problem, "verify", prompt, text, suffix=suffix, shown_correct=verdict, **meta)


def slow_records(
    problem: Problem, env: ThinkerEnvConfig, task: CheckableTask, wrong: str, *, suffix: str = "", **meta
) -> list[dict]:
    """Slow Thinking after the wrong fast answer ``wrong`` and its check, then the summary of the search."""
    check_text, verdict = task.check(problem, wrong)
    question, answer = split_question(problem.prompt)[1], extract_with(env.grading_rule, wrong)
    if verdict:
        raise ValueError(f"problem {problem.id!r}: slow examples follow a wrong fast answer, got {wrong!r}")
    dialogue = fast_prompt(problem, env) + [
        {"role": "assistant", "content": wrong},
        _user(env.prompts.verify, question, env.verify_budget_tokens, answer),
        {"role": "assistant", "content": check_text},
        _user(env.prompts.slow, question, env.slow_budget_tokens, answer),
    ]
    search = task.search(problem)
    after = dialogue + [
        # the search as the dialogue holds it: the environment ends the turn at a stop string
        {"role": "assistant", "content": cut_at_stop(search, env.stop, keep=True)[0]},
        _user(env.prompts.summary, question, env.summary_budget_tokens, answer),
    ]
    return [
        _record(problem, "slow", dialogue, search, suffix=suffix, **meta),
        _record(problem, "summary", after, task.summary(problem), suffix=suffix, **meta),
    ]


def qa_record(problem: Problem, qa: QAEnvConfig, task: CheckableTask) -> dict:
    prefix, question = split_question(problem.prompt)
    prompt = [*prefix, _user(qa.prompts.qa, question, qa.budget_tokens)]
    return _record(problem, "qa", prompt, task.search(problem))


def stage_records(
    problem: Problem,
    env: ThinkerEnvConfig,
    qa: QAEnvConfig,
    task: CheckableTask,
    rng: random.Random,
    *,
    wrong_share: float = 0.5,
) -> Iterator[dict]:
    """Five records for one problem (fast, verify, slow, summary, qa) with synthetic fast answers: the
    verification shows a distractor in ``wrong_share`` of the problems, the gold answer otherwise."""
    yield _record(problem, "fast", fast_prompt(problem, env), task.fast(problem))
    shown = task.distractor(problem, rng) if rng.random() < wrong_share else task.fast(problem)
    yield verify_record(problem, env, task, shown, shown_by="synthetic")
    yield from slow_records(problem, env, task, task.distractor(problem, rng), shown_by="synthetic")
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
    """Verification records of sampled fast answers, right ones subsampled (or repeated) so that they make
    ``right_share`` of the records, every wrong answer used once; plus a Slow Thinking (and summary) record
    after each wrong answer. Returns ``(records, counts)``.

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
        records.append(verify_record(p, env, task, r, suffix=f"-own-wrong{k}", shown_by="model"))
        records.extend(slow_records(p, env, task, r, suffix=f"-own{k}", shown_by="model"))
    rng.shuffle(records)
    counts = {
        "sampled": len(answers),
        "left_out": len(answers) - len(agree),
        "right": len(right),
        "wrong": len(wrong),
        "verify_right": len(chosen_right),
    }
    return records, counts

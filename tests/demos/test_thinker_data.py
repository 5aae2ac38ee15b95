"""Thinker SFT records for a checkable task: prompts are the dialogue so far; own-answer balancing."""

import random

import pytest

from ponder.demos.thinker_data import own_answer_records, sft_records, slow_records, verify_record
from ponder.env.prompts import StagePrompts
from ponder.env.qa import QAEnvConfig
from ponder.env.thinker import ThinkerEnvConfig
from ponder.tasks.neighbour_sum import NeighbourSumTask, neighbour_sum, shown_letter

PROMPTS = StagePrompts(
    fast="Fast: {question}", verify="Check?", slow="Search:", summary="Short:", qa="{question}"
)
ENV = ThinkerEnvConfig(
    fast_budget_tokens=10,
    verify_budget_tokens=40,
    slow_budget_tokens=100,
    summary_budget_tokens=30,
    prompts=PROMPTS,
)
QA = QAEnvConfig(budget_tokens=100, prompts=PROMPTS)
TASK = NeighbourSumTask()


def test_five_records_per_problem_with_the_dialogue_as_prompt():
    probs = neighbour_sum(20, 0)
    recs = sft_records(probs, ENV, QA, TASK, seed=1)
    assert [r["meta"]["stage"] for r in recs[:5]] == ["fast", "verify", "slow", "summary", "qa"]
    fast, verify, slow, summary, qa = recs[:5]
    p = probs[0]
    assert all(r["meta"]["problem"] == p.id for r in recs[:5])  # what the phase-2 data pairs records by
    assert fast["prompt"] == [{"role": "user", "content": f"Fast: {p.prompt}"}]
    assert fast["completion"] == f"\\boxed{{{p.answer}}}"
    assert verify["prompt"][:1] == fast["prompt"] and verify["prompt"][-1]["content"] == "Check?"
    shown = verify["prompt"][1]["content"]
    assert verify["completion"] == TASK.check(p, shown)[0]
    # the slow stage follows a wrong answer judged No, and its context holds no search line
    assert slow["prompt"][3]["content"].endswith("\\boxed{No}")
    assert slow["completion"] == TASK.search(p)
    assert all(TASK.search(p) not in m["content"] for m in slow["prompt"])
    assert summary["prompt"][-2]["content"] == TASK.search(p) and summary["completion"] == TASK.summary(p)
    assert qa["prompt"] == [{"role": "user", "content": p.prompt}] and qa["completion"] == TASK.search(p)


def test_verification_shows_wrong_answers_about_half_the_time():
    recs = sft_records(neighbour_sum(400, 0), ENV, QA, TASK, seed=2)
    shown_right = [r["meta"]["shown_correct"] for r in recs if r["meta"]["stage"] == "verify"]
    assert 0.4 < sum(shown_right) / len(shown_right) < 0.6


def test_slow_records_refuse_a_right_fast_answer():
    p = neighbour_sum(1, 0)[0]
    with pytest.raises(ValueError, match="wrong fast answer"):
        slow_records(p, ENV, TASK, TASK.fast(p))


def test_own_answers_balanced_and_each_wrong_one_used_once():
    probs = neighbour_sum(30, 0)
    rng = random.Random(0)
    answers = [(p, TASK.fast(p), True) for p in probs] + [
        (p, TASK.distractor(p, rng), False) for p in probs[:10]
    ]
    answers.append(
        (probs[0], "\\boxed{9.0}" if probs[0].answer == "9" else f"\\boxed{{{probs[0].answer}.0}}", True)
    )
    recs, counts = own_answer_records(answers, ENV, TASK, right_share=0.5, seed=0)
    verify = [r for r in recs if r["meta"]["stage"] == "verify"]
    assert counts["left_out"] == 1 and counts["wrong"] == 10 and counts["verify_right"] == 10
    assert sum(r["meta"]["shown_correct"] for r in verify) == 10 and len(verify) == 20
    assert sum(r["meta"]["stage"] == "slow" for r in recs) == 10
    wrong_shown = sorted(r["prompt"][1]["content"] for r in verify if not r["meta"]["shown_correct"])
    assert wrong_shown == sorted(a[1] for a in answers[30:40])
    # more right answers wanted than there are: every one repeated, then a sample
    recs, counts = own_answer_records(answers[:5] + answers[30:40], ENV, TASK, right_share=0.75, seed=0)
    right = [r["id"].split("-verify")[0] for r in recs if r["meta"].get("shown_correct")]
    assert len(right) == 30 and all(right.count(p.id) == 6 for p in probs[:5])


def test_verify_record_prompt_shows_the_answer_as_context():
    p = neighbour_sum(1, 0)[0]
    r = verify_record(p, ENV, TASK, "\\boxed{1}")
    assert r["prompt"][1] == {"role": "assistant", "content": "\\boxed{1}"}


def test_sampled_fast_answers_come_in_problem_order_and_are_graded(tiny_model_dir):
    from ponder.demos.thinker_data import sample_fast_answers
    from ponder.generation import make_generator
    from ponder.verify.rules import grade_with

    probs = neighbour_sum(3, 0)
    gen = make_generator("hf", str(tiny_model_dir), batch_size=8)
    out = sample_fast_answers(gen, probs, ENV, samples=2, temperature=1.0, seed=0)
    assert [p.id for p, _, _ in out] == [p.id for p in probs for _ in range(2)]
    for p, response, ok in out:
        assert ok == grade_with("boxed", response, p.answer).correct
    again = sample_fast_answers(gen, probs, ENV, samples=2, temperature=1.0, seed=0)
    assert [r for _, r, _ in again] == [r for _, r, _ in out]


def test_every_stage_prompt_is_the_environments_own(tmp_path):
    """SFT teaches each stage from the very messages the environment opens it with (a question restated in
    a later stage's prompt included)."""
    import dataclasses

    from ponder.env.thinker import ThinkerEnv

    prompts = dataclasses.replace(
        PROMPTS, verify="Check {answer}:\n{question}", slow="Not {answer}. Search:\n{question}"
    )
    env_cfg = dataclasses.replace(ENV, prompts=prompts)
    for p in neighbour_sum(5, 3):
        recs = {r["meta"]["stage"]: r for r in sft_records([p], env_cfg, QA, TASK, seed=0)}
        env = ThinkerEnv(env_cfg, mode="train")
        assert env.reset(p) == recs["fast"]["prompt"]
        wrong = slow_records(p, env_cfg, TASK, TASK.distractor(p, random.Random(0)))
        slow, summary = wrong
        shown = slow["prompt"][1]["content"]
        assert env.step(shown).prompt == slow["prompt"][:3]  # the verify prompt after the wrong answer
        assert env.step(slow["prompt"][3]["content"]).prompt == slow["prompt"]
        assert env.step(slow["completion"]).prompt == summary["prompt"]
        assert p.prompt in slow["prompt"][-1]["content"]
        letter = shown_letter(shown)
        assert slow["prompt"][2]["content"].startswith(f"Check {letter}:") and letter != p.answer


def test_after_a_stop_string_the_summary_sees_the_search_as_the_dialogue_holds_it():
    """With a whole search (lines go on after the hit) and the turn ending at '}', the summary is taught in
    the context the environment builds from the cut turn; the slow target itself stays whole."""
    import dataclasses

    from ponder.env.thinker import ThinkerEnv

    env_cfg = dataclasses.replace(ENV, stop=("}",))
    task = NeighbourSumTask(whole_search=True)
    p = next(q for q in neighbour_sum(20, 4) if q.meta["index"] < 3)  # lines after the hit exist
    slow, summary = slow_records(p, env_cfg, task, task.distractor(p, random.Random(0)))
    whole = task.search(p)
    cut = whole[: whole.index("}") + 1]
    assert slow["completion"] == whole and len(cut) < len(whole)
    assert summary["prompt"][-2]["content"] == cut
    env = ThinkerEnv(env_cfg, mode="infer")
    env.reset(p)
    env.step(slow["prompt"][1]["content"])
    env.step(slow["prompt"][3]["content"])
    assert env.step(cut).prompt == summary["prompt"]

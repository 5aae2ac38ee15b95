"""Thinker SFT records for a checkable task: conversations whose turns are the environment's own dialogue,
shown answers as untaught context; own-answer balancing; what the SFT encoder scores in them."""

import collections
import dataclasses
import random

import pytest

from ponder.demos.thinker_data import (
    own_answer_records,
    sft_records,
    verify_record,
    wrong_answer_record,
)
from ponder.env.prompts import StagePrompts
from ponder.env.qa import QAEnv, QAEnvConfig
from ponder.env.thinker import STAGES, ThinkerEnv, ThinkerEnvConfig
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
TAUGHT_ONCE = {stage: 1 for stage in (*STAGES, "qa")}


def _taught(record: dict) -> list[str]:
    return [m["content"] for m in record["messages"] if m["role"] == "assistant" and m.get("weight", 1) != 0]


def _shown(record: dict) -> list[dict]:
    return [m for m in record["messages"] if m.get("weight") == 0]


def _plain(messages: list[dict]) -> list[dict]:
    """Messages as the environment holds them (the weight is the trainer's business)."""
    return [{k: v for k, v in m.items() if k != "weight"} for m in messages]


def _play(env: ThinkerEnv, problem, record: dict) -> list[dict] | None:
    """Answer the environment with the record's assistant turns, checking that the messages before each are
    the prompt the environment opens that stage with; returns the environment's prompt after the last."""
    prompt, msgs = env.reset(problem), record["messages"]
    for i, m in enumerate(msgs):
        if m["role"] == "assistant":
            assert _plain(msgs[:i]) == prompt, (record["id"], i)
            prompt = env.step(m["content"]).prompt
    return prompt


def _wrong(problem, task=TASK, seed: int = 0) -> str:
    return task.distractor(problem, random.Random(seed))


def test_every_problem_teaches_each_stage_once_in_three_or_four_dialogues():
    probs = neighbour_sum(20, 0)
    recs = sft_records(probs, ENV, QA, TASK, seed=1)
    by_problem = collections.defaultdict(list)
    for r in recs:  # meta.problem is what the phase-2 data pairs records by
        by_problem[r["meta"]["problem"]].append(r)
    assert list(by_problem) == [p.id for p in probs]
    sizes = collections.Counter()
    for p in probs:
        own = by_problem[p.id]
        sizes[len(own)] += 1
        assert collections.Counter(s for r in own for s in r["meta"]["stages"]) == TAUGHT_ONCE
        assert [len(_taught(r)) for r in own] == [len(r["meta"]["stages"]) for r in own]
        assert len({r["id"] for r in own}) == len(own)
    assert set(sizes) == {3, 4}
    assert len({r["id"] for r in recs}) == len(recs)


def test_the_turns_of_each_record():
    p = neighbour_sum(20, 0)[0]
    fast, *middle, qa = sft_records([p], ENV, QA, TASK, seed=1)
    assert fast["meta"]["stages"] == ["fast"] and qa["meta"]["stages"] == ["qa"]
    assert fast["messages"] == [
        {"role": "user", "content": f"Fast: {p.prompt}"},
        {"role": "assistant", "content": f"\\boxed{{{p.answer}}}"},
    ]
    assert qa["messages"] == [
        {"role": "user", "content": p.prompt},
        {"role": "assistant", "content": TASK.search(p)},
    ]
    chain = middle[-1]
    msgs = chain["messages"]
    assert msgs[:1] == fast["messages"][:1] and msgs[2]["content"] == "Check?"
    assert [m["role"] for m in msgs] == ["user", "assistant"] * 4
    # the slow turn follows a wrong answer judged No, and its context holds no search line
    assert msgs[3]["content"] == TASK.check(p, msgs[1]["content"])[0] and msgs[3]["content"].endswith(
        "\\boxed{No}"
    )
    assert [m["content"] for m in msgs[4::2]] == ["Search:", "Short:"]
    assert msgs[5]["content"] == TASK.search(p) and msgs[7]["content"] == TASK.summary(p)
    assert all(TASK.search(p) not in m["content"] for m in msgs[:5])
    assert chain["meta"]["shown_by"] == "synthetic"


def test_shown_answers_are_context_and_never_taught():
    probs = neighbour_sum(50, 0)
    for r in sft_records(probs, ENV, QA, TASK, seed=3):
        shown = _shown(r)
        if r["meta"]["stages"] in (["fast"], ["qa"]):
            assert shown == []
            continue
        assert r["messages"][1] == shown[0]  # the fast answer, not taught ...
        if r["meta"]["stages"] == ["slow", "summary"]:  # ... nor the check of it in this dialogue
            assert shown == [r["messages"][1], r["messages"][3]]
        else:
            assert len(shown) == 1
            assert shown_letter(shown[0]["content"]) is not None
    p = probs[0]
    r = verify_record(p, ENV, TASK, "\\boxed{1}")
    assert r["messages"][1] == {"role": "assistant", "content": "\\boxed{1}", "weight": 0}
    assert _taught(r) == [TASK.check(p, "\\boxed{1}")[0]]


def test_verification_shows_wrong_answers_about_half_the_time():
    recs = sft_records(neighbour_sum(400, 0), ENV, QA, TASK, seed=2)
    shown_right = [r["meta"]["shown_correct"] for r in recs if "verify" in r["meta"]["stages"]]
    assert len(shown_right) == 400 and 0.4 < sum(shown_right) / len(shown_right) < 0.6
    # a verification of a wrong answer is the one that goes on to Slow Thinking
    taught_check = [r for r in recs if r["meta"]["stages"] == ["verify", "slow", "summary"]]
    assert len(taught_check) == 400 - sum(shown_right)
    assert not any(r["meta"]["shown_correct"] for r in taught_check)


def test_slow_examples_refuse_a_right_fast_answer():
    p = neighbour_sum(1, 0)[0]
    for teach_check in (False, True):
        with pytest.raises(ValueError, match="slow examples follow a wrong fast answer"):
            wrong_answer_record(p, ENV, TASK, TASK.fast(p), teach_check=teach_check)


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
    assert counts == {"sampled": 41, "left_out": 1, "right": 30, "wrong": 10, "verify_right": 10}
    verify = [r for r in recs if "verify" in r["meta"]["stages"]]
    assert sum(r["meta"]["shown_correct"] for r in verify) == 10 and len(verify) == 20
    assert all(r["meta"]["shown_by"] == "model" for r in recs)
    # each wrong answer: one dialogue teaching its check, Slow Thinking and the summary
    chains = [r for r in recs if "slow" in r["meta"]["stages"]]
    assert len(chains) == 10 and all(r["meta"]["stages"] == ["verify", "slow", "summary"] for r in chains)
    assert all(not r["meta"]["shown_correct"] for r in chains)
    assert sorted(_shown(r)[0]["content"] for r in chains) == sorted(a[1] for a in answers[30:40])
    assert [r["meta"]["stages"] for r in recs] != sorted(r["meta"]["stages"] for r in recs)  # shuffled
    assert len({r["id"] for r in recs}) == len(recs)
    # more right answers wanted than there are: every one repeated, then a sample
    recs, counts = own_answer_records(answers[:5] + answers[30:40], ENV, TASK, right_share=0.75, seed=0)
    right = [r["id"].split("-verify")[0] for r in recs if r["meta"].get("shown_correct")]
    assert len(right) == 30 and all(right.count(p.id) == 6 for p in probs[:5])


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


def test_every_stage_prompt_is_the_environments_own():
    """SFT teaches each stage from the very messages the environment opens it with (a question restated in
    a later stage's prompt included): reset gives the fast prompt, the shown answer the verify prompt, the
    check the slow prompt and the search the summary prompt."""
    prompts = dataclasses.replace(
        PROMPTS, verify="Check {answer}:\n{question}", slow="Not {answer}. Search:\n{question}"
    )
    env_cfg = dataclasses.replace(ENV, prompts=prompts)
    for p in neighbour_sum(5, 3):
        for r in sft_records([p], env_cfg, QA, TASK, seed=0):
            if r["meta"]["stages"] == ["qa"]:
                assert _plain(r["messages"][:-1]) == QAEnv(QA).reset(p)
                continue
            after = _play(ThinkerEnv(env_cfg, mode="train"), p, r)
            if r["meta"]["stages"] != ["fast"]:
                assert after is None  # the dialogue ended where the record does
        for teach_check in (False, True):
            chain = wrong_answer_record(p, env_cfg, TASK, _wrong(p), teach_check=teach_check)
            assert _play(ThinkerEnv(env_cfg, mode="train"), p, chain) is None
            msgs = chain["messages"]
            assert p.prompt in msgs[4]["content"]
            letter = shown_letter(msgs[1]["content"])
            assert msgs[2]["content"].startswith(f"Check {letter}:") and letter != p.answer


def test_after_a_stop_string_the_slow_turn_is_the_search_as_the_dialogue_holds_it():
    """With a whole search (lines go on after the hit) and the turn ending at '}', the slow turn is the search
    cut at the box -- what the environment keeps and the summary follows -- and the qa record teaches the
    whole search."""
    env_cfg = dataclasses.replace(ENV, stop=("}",))
    task = NeighbourSumTask(whole_search=True)
    p = next(q for q in neighbour_sum(20, 4) if q.meta["index"] < 3)  # lines after the hit exist
    whole = task.search(p)
    cut = whole[: whole.index("}") + 1]
    assert len(cut) < len(whole)
    chain = wrong_answer_record(p, env_cfg, task, _wrong(p, task))
    assert _taught(chain) == [cut, task.summary(p)]
    assert _play(ThinkerEnv(env_cfg, mode="train"), p, chain) is None
    for r in sft_records([p], env_cfg, QA, task, seed=0):
        if "slow" in r["meta"]["stages"]:
            assert r["messages"][5]["content"] == cut
        if r["meta"]["stages"] == ["qa"]:
            assert _taught(r) == [whole]


def _runs(mask: list[bool]) -> list[tuple[int, int]]:
    """(start, end) of every run of scored positions."""
    runs, start = [], None
    for i, m in enumerate([*mask, False]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            runs.append((start, i))
            start = None
    return runs


def test_the_encoder_scores_the_taught_turns_in_the_context_a_single_turn_record_gives(tiny_model_dir):
    """Encoded for SFT, a dialogue scores exactly its taught turns (each with its end of turn; the shown
    answer, and the untaught check, are context), and each scored turn follows the same tokens as the prompt
    of a prompt-completion record of that turn alone."""
    from transformers import AutoTokenizer

    from ponder.train.encode import Encoder, Where

    enc = Encoder(AutoTokenizer.from_pretrained(str(tiny_model_dir)))
    env_cfg = dataclasses.replace(ENV, stop=("}",))
    task = NeighbourSumTask(fast_lines=2, whole_search=True)
    p = next(q for q in neighbour_sum(20, 4) if q.meta["index"] < 3)
    whole = task.search(p)
    cut = whole[: whole.index("}") + 1]
    check = task.check(p, _wrong(p, task))[0]
    for teach_check in (True, False):
        chain = wrong_answer_record(p, env_cfg, task, _wrong(p, task), teach_check=teach_check)
        g = enc.encode_conversation(chain["messages"], Where("x"))
        resp, mask = list(g.responses[0]), list(g.masks[0])
        scored = enc.tokenizer.decode([t for t, m in zip(resp, mask, strict=True) if m])
        turns = [check, cut, task.summary(p)] if teach_check else [cut, task.summary(p)]
        assert scored == "".join(f"{t}<|im_end|>" for t in turns)
        assert _taught(chain) == turns
    records = sft_records([p], env_cfg, QA, task, seed=0) + [chain]
    for r in records:
        msgs = r["messages"]
        g = enc.encode_conversation(msgs, Where("x"))
        sequence, runs = list(g.prompt) + list(g.responses[0]), _runs(list(g.masks[0]))
        at = [i for i, m in enumerate(msgs) if m["role"] == "assistant" and m.get("weight", 1) != 0]
        assert len(runs) == len(at) == len(r["meta"]["stages"])
        for (start, end), i in zip(runs, at, strict=True):
            alone = enc.encode(msgs[:i], [msgs[i]["content"]], Where("x"), ["completion"])
            assert sequence[: len(g.prompt) + start] == list(alone.prompt), (r["id"], i)
            assert list(g.responses[0][start:end]) == list(alone.responses[0]), (r["id"], i)

"""The Thinker environment: transitions in both modes, every reward against hand values, the QA baseline."""

import pytest

from ponder.config import load_config
from ponder.env.qa import QAEnv, QAEnvConfig
from ponder.env.rewards import (
    TrailingAccuracy,
    fast_reward,
    parse_verdict,
    slow_reward,
    summary_reward,
    verify_reward,
)
from ponder.env.thinker import ThinkerEnv, ThinkerEnvConfig, verification_counts
from ponder.errors import ConfigError
from ponder.records import Episode, Problem
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

P = Problem(id="p1", prompt="Compute 3 + 4.", answer="7")
RIGHT, WRONG = "3 + 4 = 7. \\boxed{7}", "3 + 4 = 8. \\boxed{8}"
YES, NO = "Looks right. \\boxed{Yes}", "That is off. \\boxed{No}"


def run(env, responses, problem=P):
    """Feed responses stage by stage; return the stages visited and their rewards."""
    prompt = env.reset(problem)
    stages, rewards = [], []
    for text, reason in responses:
        assert prompt is not None, f"dialogue ended before {text!r}"
        stages.append(env.stage)
        prompt, reward, info = env.step(text, finish_reason=reason, num_tokens=len(text))
        rewards.append(reward)
    assert prompt is None and env.done
    return stages, rewards


# ---------------------------------------------------------------- transitions, training mode


def test_train_right_fast_answer_ends_after_verification_whatever_the_verdict():
    """p starts at 0.5; the fast answer is right so p becomes 1/1 = 1.0 before Verification:
    Yes earns 1 - p = 0; and a No also ends the dialogue (the ground truth decides in training)."""
    env = ThinkerEnv(mode="train")
    stages, rewards = run(env, [(RIGHT, "stop"), (YES, "stop")])
    assert stages == ["fast", "verify"] and rewards == [1.0, 0.0]
    env = ThinkerEnv(ThinkerEnvConfig(trailing_window=4), mode="train", tracker=TrailingAccuracy(4, 0.5))
    env.tracker.update([False, False, False])  # p after this fast answer: 1/4
    stages, rewards = run(env, [(RIGHT, "stop"), (NO, "stop")])
    assert stages == ["fast", "verify"] and rewards == [1.0, 0.0]
    env.tracker.update([False, False, False])  # window of 4: [T, F, F, F] then the new fast answer -> 1/4
    stages, rewards = run(env, [(RIGHT, "stop"), (YES, "stop")])
    assert rewards == [1.0, 0.75]


def test_train_wrong_fast_answer_goes_to_slow_then_summary_when_slow_is_right():
    """p: one wrong fast answer -> 0/1 = 0; No on a wrong answer earns p = 0.
    Slow right -> 1 and Summarization follows; summary right with c = 0 -> 1."""
    env = ThinkerEnv(mode="train")
    stages, rewards = run(env, [(WRONG, "stop"), (NO, "stop"), (RIGHT, "stop"), (RIGHT, "stop")])
    assert stages == ["fast", "verify", "slow", "summary"]
    assert rewards == [0.0, 0.0, 1.0, 1.0]
    ep = env.episode()
    assert ep.meta["final_stage"] == "summary" and ep.meta["final_correct"] is True
    assert [t["stage"] for t in ep.turns] == stages


def test_train_wrong_slow_answer_ends_unless_configured():
    env = ThinkerEnv(mode="train")
    stages, _ = run(env, [(WRONG, "stop"), (YES, "stop"), (WRONG, "stop")])
    assert stages == ["fast", "verify", "slow"]
    env = ThinkerEnv(ThinkerEnvConfig(summarize_wrong_slow=True), mode="train")
    stages, rewards = run(env, [(WRONG, "stop"), (YES, "stop"), (WRONG, "stop"), (WRONG, "stop")])
    assert stages == ["fast", "verify", "slow", "summary"] and rewards == [0.0, 0.0, 0.0, 0.0]


def test_train_fast_answer_cut_by_budget_counts_as_wrong():
    """A right answer cut by the budget: reward 0, p falls to 0, and the dialogue goes on to Slow Thinking."""
    env = ThinkerEnv(mode="train")
    stages, rewards = run(env, [(RIGHT, "length"), (NO, "stop"), (RIGHT, "length")])
    assert stages == ["fast", "verify", "slow"] and rewards == [0.0, 0.0, 0.0]
    assert env.tracker.value == 0.0
    assert env.turns[0]["correct"] is True and env.turns[0]["truncated"] is True


def test_train_needs_a_gold_answer():
    with pytest.raises(ValueError, match="gold answer"):
        ThinkerEnv(mode="train").reset(Problem(id="x", prompt="Compute 1 + 1."))


# ---------------------------------------------------------------- transitions, inference mode


def test_infer_yes_ends_even_when_the_fast_answer_is_wrong():
    env = ThinkerEnv(mode="infer")
    stages, _ = run(env, [(WRONG, "stop"), (YES, "stop")])
    assert stages == ["fast", "verify"]
    ep = env.episode()
    assert (
        ep.meta["final_stage"] == "fast"
        and ep.meta["final_pred"] == "8"
        and ep.meta["final_correct"] is False
    )
    assert len(env.tracker) == 0  # inference does not move p


def test_infer_no_goes_through_slow_and_summary_even_when_slow_is_wrong():
    env = ThinkerEnv(mode="infer")
    stages, _ = run(env, [(RIGHT, "stop"), (NO, "stop"), (WRONG, "stop"), (RIGHT, "stop")])
    assert stages == ["fast", "verify", "slow", "summary"]
    assert env.episode().meta["final_stage"] == "summary" and env.episode().meta["final_correct"] is True


def test_infer_summary_without_answer_falls_back_to_slow():
    env = ThinkerEnv(mode="infer")
    run(env, [(WRONG, "stop"), (NO, "stop"), (RIGHT, "stop"), ("no box here", "stop")])
    assert env.episode().meta["final_stage"] == "slow" and env.episode().meta["final_correct"] is True


def test_infer_unreadable_or_cut_verdict_follows_missing_verdict():
    env = ThinkerEnv(mode="infer")  # default: taken as No
    stages, _ = run(env, [(RIGHT, "stop"), ("hmm \\boxed{maybe}", "stop"), (RIGHT, "stop"), (RIGHT, "stop")])
    assert stages == ["fast", "verify", "slow", "summary"]
    env = ThinkerEnv(ThinkerEnvConfig(missing_verdict="yes"), mode="infer")
    stages, _ = run(env, [(RIGHT, "stop"), (YES, "length")])  # cut by the budget: no verdict
    assert stages == ["fast", "verify"] and env.turns[1]["verdict"] is None


def test_infer_without_gold_answer_runs_and_earns_nothing():
    env = ThinkerEnv(mode="infer")
    stages, rewards = run(
        env,
        [(RIGHT, "stop"), (NO, "stop"), (RIGHT, "stop"), (RIGHT, "stop")],
        problem=Problem(id="q", prompt="Compute 3 + 4."),
    )
    assert stages == ["fast", "verify", "slow", "summary"] and rewards == [0.0] * 4
    assert env.episode().meta["final_pred"] == "7"


# ---------------------------------------------------------------- rewards by hand


def test_verify_reward_table():
    """p = 0.3: right & Yes -> 1 - 0.3 = 0.7; right & No -> 0; wrong & No -> 0.3; wrong & Yes -> 0;
    no verdict -> 0; cut by the budget -> 0 even with the right verdict."""
    assert verify_reward(True, "yes", 0.3, False) == approx(0.7, factor=4)
    assert verify_reward(True, "no", 0.3, False) == 0.0
    assert verify_reward(False, "no", 0.3, False) == approx(0.3, factor=4)
    assert verify_reward(False, "yes", 0.3, False) == 0.0
    assert verify_reward(False, None, 0.3, False) == 0.0
    assert verify_reward(True, "yes", 0.3, True) == 0.0
    with pytest.raises(ValueError):
        verify_reward(True, "yes", 1.5, False)


@pytest.mark.parametrize("p", [0.0, 0.1, 0.3, 0.5, 0.9])
def test_constant_yes_and_no_policies_earn_the_same_expected_reward(p):
    """With fast accuracy p: E[R | always Yes] = p (1 - p) + (1 - p) · 0 and E[R | always No] = p · 0 + (1 - p) p."""
    always_yes = p * verify_reward(True, "yes", p, False) + (1 - p) * verify_reward(False, "yes", p, False)
    always_no = p * verify_reward(True, "no", p, False) + (1 - p) * verify_reward(False, "no", p, False)
    assert always_yes == approx(p * (1 - p), factor=4) and always_no == approx(p * (1 - p), factor=4)


def test_constant_policies_through_the_environment():
    """Fast answers right 3 times in every 10 (a fixed pattern), window 10, pre-filled with one period: p stays
    exactly 0.3 for every dialogue. Over 20 dialogues always-Yes earns 6 × 0.7 = 4.2 and always-No 14 × 0.3 = 4.2."""
    pattern = [True, False, False, True, False, False, False, True, False, False]
    totals = {}
    for name, verdict in (("yes", YES), ("no", NO)):
        tracker = TrailingAccuracy(window=10)
        tracker.update(pattern)
        total = 0.0
        for i in range(20):
            env = ThinkerEnv(ThinkerEnvConfig(trailing_window=10), mode="train", tracker=tracker)
            env.reset(P)
            env.step(RIGHT if pattern[i % 10] else WRONG)
            _, reward, info = env.step(verdict)
            assert info["p"] == approx(0.3, factor=4)
            total += reward
        totals[name] = total
    assert totals["yes"] == approx(4.2, factor=4) and totals["no"] == approx(4.2, factor=4)


def test_fast_slow_summary_rewards():
    """fast/slow: 1 only if right and not cut. Summary with c = 0.1 and mean log-prob -2: 1 + 0.1 · (-2) = 0.8;
    wrong: 0 - 0.2 = -0.2; cut: 0; c = 0 ignores the log-prob."""
    assert (fast_reward(True, False), fast_reward(True, True), fast_reward(False, False)) == (1.0, 0.0, 0.0)
    assert (slow_reward(True, False), slow_reward(True, True), slow_reward(False, False)) == (1.0, 0.0, 0.0)
    assert summary_reward(True, False, -2.0, 0.1) == approx(0.8, factor=4)
    assert summary_reward(False, False, -2.0, 0.1) == approx(-0.2, factor=4)
    assert summary_reward(True, True, -2.0, 0.1) == 0.0
    assert summary_reward(True, False, None, 0.0) == 1.0
    with pytest.raises(ValueError, match="log-prob"):
        summary_reward(True, False, None, 0.1)


def test_summary_logprob_from_scorer_scores_against_the_fast_prompt():
    seen = {}

    def scorer(prompts, texts):
        seen["prompts"], seen["texts"] = prompts, texts
        return [-1.5]

    env = ThinkerEnv(ThinkerEnvConfig(summary_logprob_coef=0.2), mode="train", scorer=scorer)
    stages, rewards = run(env, [(WRONG, "stop"), (NO, "stop"), (RIGHT, "stop"), (RIGHT, "stop")])
    assert rewards[-1] == approx(1.0 - 0.3, factor=4)
    assert seen["prompts"] == [env.fast_prompt] and seen["texts"] == [RIGHT]
    assert len(env.fast_prompt) == 1 and "Compute 3 + 4." in env.fast_prompt[0]["content"]
    # an explicit log-prob wins over the scorer
    env = ThinkerEnv(ThinkerEnvConfig(summary_logprob_coef=0.2), mode="train")
    env.reset(P)
    for text in (WRONG, NO, RIGHT):
        env.step(text)
    assert env.step(RIGHT, summary_logprob=-0.5).reward == approx(0.9, factor=4)


def test_parse_verdict():
    assert parse_verdict("so \\boxed{Yes}") == "yes"
    assert parse_verdict("\\boxed{\\text{No}}.") == "no"
    assert parse_verdict("\\boxed{YES!}") == "yes"
    assert parse_verdict("\\boxed{Yes} but then \\boxed{12}") is None  # the last box decides
    assert (
        parse_verdict("Yes") is None and parse_verdict("\\boxed{Yes") is None and parse_verdict(None) is None
    )


def test_trailing_accuracy_window_and_state():
    tr = TrailingAccuracy(window=3, initial=0.25)
    assert tr.value == 0.25
    tr.update([True, False])
    assert tr.value == 0.5
    tr.update([True, True])  # window keeps the last 3: F, T, T
    assert tr.value == approx(2 / 3, factor=4)
    other = TrailingAccuracy(window=3)
    other.load_state_dict(tr.state_dict())
    assert other.value == tr.value and len(other) == 3


def test_dialogues_share_a_tracker_that_has_no_answers_yet():
    """A fresh shared tracker (length 0) is still shared: the second dialogue's Verification reads the p of
    both fast answers (one right, one wrong: 1/2), not its own (0)."""
    shared = TrailingAccuracy(window=10, initial=0.9)
    a, b = ThinkerEnv(mode="train", tracker=shared), ThinkerEnv(mode="train", tracker=shared)
    assert a.tracker is shared and b.tracker is shared
    a.reset(P), b.reset(P)
    a.step(RIGHT, finish_reason="stop", num_tokens=4)
    b.step(WRONG, finish_reason="stop", num_tokens=4)
    b.step(NO, finish_reason="stop", num_tokens=4)
    assert b.turns[-1]["p"] == 0.5 and len(shared) == 2


# ---------------------------------------------------------------- dialogue shape, records, config


def test_dialogue_messages_and_budgets():
    cfg = ThinkerEnvConfig(
        fast_budget_tokens=64, verify_budget_tokens=96, slow_budget_tokens=128, summary_budget_tokens=32
    )
    env = ThinkerEnv(cfg, mode="infer")
    chat = [{"role": "system", "content": "Be exact."}, {"role": "user", "content": "Compute 3 + 4."}]
    prompt = env.reset(Problem(id="c", prompt=chat, answer="7"))
    assert (
        prompt[0] == chat[0]
        and "Compute 3 + 4." in prompt[1]["content"]
        and "64 tokens" in prompt[1]["content"]
    )
    budgets = [env.budget]
    for text in (RIGHT, NO, RIGHT):
        prompt = env.step(text).prompt
        budgets.append(env.budget)
    assert budgets == [64, 96, 128, 32]
    assert [m["role"] for m in prompt] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert prompt[2]["content"] == RIGHT and prompt[4]["content"] == NO
    assert [len(p) for p in env.stage_prompts] == [2, 4, 6, 8]


def test_episode_record_round_trip_and_confusion_counts():
    eps = []
    for fast, verdict in ((RIGHT, YES), (RIGHT, NO), (WRONG, NO), (WRONG, YES), (WRONG, "none")):
        env = ThinkerEnv(mode="train")
        env.reset(P)
        env.step(fast, num_tokens=5)
        env.step(verdict, num_tokens=3)
        while not env.done:
            env.step(WRONG, num_tokens=4)
        eps.append(Episode.from_dict(env.episode().to_dict()))
    assert eps[2].meta["tokens"] == {"fast": 5, "verify": 3, "slow": 4} and eps[2].meta["total_tokens"] == 12
    assert verification_counts(eps) == {
        "right_yes": 1,
        "right_no": 1,
        "right_none": 0,
        "wrong_yes": 1,
        "wrong_no": 1,
        "wrong_none": 1,
    }


def test_config_overrides_and_errors():
    cfg = load_config(ThinkerEnvConfig, overrides=["prompts.fast=Q: {question}", "fast_budget_tokens=128"])
    env = ThinkerEnv(cfg, mode="infer")
    assert env.reset(P)[0]["content"] == "Q: Compute 3 + 4." and env.budget == 128
    assert cfg.prompts.verify == ThinkerEnvConfig().prompts.verify
    with pytest.raises(ConfigError, match="slow_budget_tokens"):
        load_config(ThinkerEnvConfig, overrides=["slow_budget_token=5"])
    with pytest.raises(ConfigError, match="grading_rule"):
        load_config(ThinkerEnvConfig, overrides=["grading_rule=fuzzy"])


def test_step_errors():
    env = ThinkerEnv(mode="infer")
    with pytest.raises(RuntimeError):
        env.step("x")
    env.reset(P)
    with pytest.raises(ValueError, match="finish_reason"):
        env.step("x", finish_reason="eos")


# ---------------------------------------------------------------- QA baseline


def test_qa_env_single_turn():
    env = QAEnv(QAEnvConfig(budget_tokens=50), mode="train")
    prompt = env.reset(P)
    assert len(prompt) == 1 and "Compute 3 + 4." in prompt[0]["content"] and env.budget == 50
    nxt, reward, info = env.step(RIGHT, num_tokens=9)
    assert nxt is None and reward == 1.0 and info["pred"] == "7" and env.done
    env.reset(P)
    assert env.step(RIGHT, finish_reason="length").reward == 0.0
    env.reset(P)
    assert env.step(WRONG).reward == 0.0
    ep = env.episode()
    assert ep.meta["final_stage"] == "answer" and ep.meta["final_correct"] is False


def test_later_prompts_may_restate_the_fast_answer():
    cfg = load_config(
        ThinkerEnvConfig,
        overrides=["prompts.verify=Is {answer} right?", "prompts.slow=Not {answer}. {question}"],
    )
    env = ThinkerEnv(cfg, mode="infer")
    env.reset(P)
    assert env.step(WRONG).prompt[-1]["content"] == "Is 8 right?"
    assert env.step(NO).prompt[-1]["content"] == "Not 8. Compute 3 + 4."
    env.reset(P)
    assert env.step("no box").prompt[-1]["content"] == "Is  right?"  # no answer read: empty

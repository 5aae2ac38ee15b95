"""The batched episode runner and the inference chain on a real tiny model (hf backend)."""

import json

import pytest

from ponder.env.infer import InferSettings, infer_file, run_chain, summarize_episodes
from ponder.env.qa import QAEnv, QAEnvConfig
from ponder.env.runner import run_episodes
from ponder.env.thinker import ThinkerEnv, ThinkerEnvConfig
from ponder.generation import make_generator
from ponder.io import write_records
from ponder.records import Episode, Problem, read_records
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).

CFG = ThinkerEnvConfig(
    fast_budget_tokens=6, verify_budget_tokens=9, slow_budget_tokens=7, summary_budget_tokens=5
)
PROBLEMS = [Problem(id=f"p{i}", prompt=f"Compute {i} + {i + 1}.", answer=str(2 * i + 1)) for i in range(5)]


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    import torch

    torch.set_num_threads(1)
    return make_generator("hf", str(tiny_model_dir), batch_size=8)


def test_all_dialogues_advance_together_with_stage_budgets(generator):
    """A random model never writes a readable verdict; inference takes that as No, so every dialogue runs all
    four stages. Each stage is one generate call over all live dialogues with that stage's budget."""
    calls = []
    original = generator.generate

    def spy(prompts, params):
        calls.append((len(prompts), {p.max_new_tokens for p in params}))
        return original(prompts, params)

    generator.generate = spy
    try:
        envs = [ThinkerEnv(CFG, mode="infer") for _ in PROBLEMS]
        r = run_episodes(generator, envs, PROBLEMS, seed=3)
    finally:
        del generator.generate
    assert calls == [(5, {6}), (5, {9}), (5, {7}), (5, {5})]
    assert set(r.stages) == {"fast", "verify", "slow", "summary"}
    for ep in r.episodes:
        assert [t["stage"] for t in ep.turns] == ["fast", "verify", "slow", "summary"]
        for t in ep.turns:
            assert 1 <= t["num_tokens"] <= CFG.budget(t["stage"])
    assert r.generated_tokens == sum(ep.meta["total_tokens"] for ep in r.episodes)
    assert r.stages["fast"].dialogues == 5 and r.stages["fast"].tokens == sum(
        ep.meta["tokens"]["fast"] for ep in r.episodes
    )


def test_training_mode_ends_after_verification_on_right_answers_only(generator):
    """In training mode the ground truth decides: a random model's fast answers are wrong, so all go on to
    Slow Thinking, and then end (a wrong slow answer is not summarised)."""
    envs = [ThinkerEnv(CFG, mode="train") for _ in PROBLEMS]
    r = run_episodes(generator, envs, PROBLEMS, seed=3)
    assert all([t["stage"] for t in ep.turns] == ["fast", "verify", "slow"] for ep in r.episodes)
    assert envs[0].tracker.value == 0.0 and len(envs[0].tracker) == 1  # one tracker per env here


def test_seeds_per_dialogue_are_reproducible_and_batch_independent(generator):
    """Same ids and seed -> the same text whatever else is in the batch; another id -> another sample."""
    ids = [f"x#{k}" for k in range(4)]
    probs = [PROBLEMS[0]] * 4
    a = run_episodes(
        generator, [ThinkerEnv(CFG, mode="infer") for _ in probs], probs, seed=7, ids=ids, max_stages=1
    )
    b = run_episodes(
        generator, [ThinkerEnv(CFG, mode="infer")], probs[2:3], seed=7, ids=ids[2:3], max_stages=1
    )
    assert b.episodes[0].turns == a.episodes[2].turns
    texts = {ep.turns[0]["response"] for ep in a.episodes}
    assert len(texts) > 1  # one problem, four dialogues: different samples


def test_max_stages_one_is_thinker_fast(generator):
    r = run_episodes(
        generator, [ThinkerEnv(CFG, mode="infer") for _ in PROBLEMS], PROBLEMS, seed=1, max_stages=1
    )
    assert all(len(ep.turns) == 1 and ep.meta["final_stage"] == "fast" for ep in r.episodes)
    assert set(r.stages) == {"fast"}


def test_summary_scorer_called_once_per_round_with_fast_prompts(generator):
    seen = []

    def scorer(prompts, texts):
        seen.append((prompts, texts))
        return [-2.0] * len(texts)

    cfg = ThinkerEnvConfig(
        fast_budget_tokens=4,
        verify_budget_tokens=4,
        slow_budget_tokens=4,
        summary_budget_tokens=64,
        summary_logprob_coef=0.5,
        summarize_wrong_slow=True,
    )
    envs = [ThinkerEnv(cfg, mode="train") for _ in PROBLEMS]
    r = run_episodes(generator, envs, PROBLEMS, seed=3, scorer=scorer)  # seed 3: two summaries end in budget
    finished = [ep.turns[-1] for ep in r.episodes if ep.turns[-1]["finish_reason"] == "stop"]
    assert finished  # summaries that ended within the budget were scored, in one call
    assert len(seen) == 1 and len(seen[0][1]) == len(finished)
    assert all(len(p) == 1 and p[0]["role"] == "user" and "Compute" in p[0]["content"] for p in seen[0][0])
    assert all(t["summary_logprob"] == -2.0 for t in finished)
    for ep in r.episodes:
        t = ep.turns[-1]
        assert t["stage"] == "summary"
        assert t["reward"] == (0.0 if t["truncated"] else float(t["correct"]) + 0.5 * -2.0)


def test_qa_env_through_the_runner(generator):
    envs = [QAEnv(QAEnvConfig(budget_tokens=5), mode="infer") for _ in PROBLEMS]
    r = run_episodes(generator, envs, PROBLEMS, seed=0)
    assert set(r.stages) == {"answer"} and all(len(ep.turns) == 1 for ep in r.episodes)
    assert all(ep.turns[0]["num_tokens"] <= 5 for ep in r.episodes)


def test_infer_file_resumes_without_duplicates(generator, tmp_path):
    src = tmp_path / "problems.jsonl"
    write_records(src, PROBLEMS)
    out = tmp_path / "episodes.jsonl"
    full = infer_file(
        src, out, generator, InferSettings(samples_per_problem=2, temperature=1.0, seed=4), env=CFG
    )
    assert full["episodes"] == 10 and full["resumed"] == 0
    assert set(full["tokens_per_stage"]) == {"fast", "verify", "slow", "summary"}
    first = {ep.id: ep.to_dict() for ep in read_records(out, Episode)}
    assert sorted(first) == sorted(f"p{i}#{k}" for i in range(5) for k in range(2))
    # a run killed after three episodes: keep them, run again
    lines = out.read_text().splitlines()[:3]
    out.unlink()
    (tmp_path / "episodes.jsonl.partial").write_text("\n".join(lines) + "\n")
    again = infer_file(
        src, out, generator, InferSettings(samples_per_problem=2, temperature=1.0, seed=4), env=CFG
    )
    assert again["resumed"] == 3 and again["episodes"] == 10
    second = {ep.id: ep.to_dict() for ep in read_records(out, Episode)}
    assert second == first  # per-dialogue seeds: the resumed run writes the same episodes


def test_run_chain_and_summary_counts(generator):
    eps = run_chain(generator, PROBLEMS[:2], InferSettings(samples_per_problem=3, temperature=1.0), env=CFG)
    assert [ep.id for ep in eps] == ["p0#0", "p0#1", "p0#2", "p1#0", "p1#1", "p1#2"]
    s = summarize_episodes(eps)
    assert s["episodes"] == 6 and s["accuracy"] == 0.0 and s["stage_reached"]["fast"] == 6
    assert sum(s["verification"].values()) == 6
    json.dumps(s)  # plain data


def test_thinker_solver_keeps_the_dialogues_it_grades(generator):
    """``keep`` receives every inference dialogue, in the order of the attempts the solver returns."""
    from ponder.eval.thinker_solver import thinker_solver
    from ponder.generation.base import SamplingParams

    kept: list = []
    attempts = thinker_solver(generator, CFG, keep=kept)(PROBLEMS[:2], SamplingParams(n=2, seed=3))
    assert [ep.id for ep in kept] == ["p0#0", "p0#1", "p1#0", "p1#1"]
    flat = [a for per_problem in attempts for a in per_problem]
    assert [a.stages for a in flat] == [{t["stage"]: t["num_tokens"] for t in ep.turns} for ep in kept]


def test_demo_verification_row_by_hand():
    """Five judged dialogues: right+yes, right+no, wrong+no, wrong+no, wrong+none (slow ran in the last four).
    said_yes = 1/5; verify_accuracy = (right_yes 1 + wrong_no 2) / 5 = 0.6; yes_given_right = 1/2;
    no_given_wrong = 2/3; slow_share = 4/5."""
    from ponder.demos.thinker import verification_row

    def ep(i, right, verdict):
        turns = [{"stage": "fast"}, {"stage": "verify", "fast_correct": right, "verdict": verdict}]
        if verdict != "yes":
            turns.append({"stage": "slow"})
        return Episode(id=f"e{i}", prompt="q", turns=turns)

    eps = [ep(0, True, "yes"), ep(1, True, "no"), ep(2, False, "no"), ep(3, False, "no"), ep(4, False, None)]
    row = verification_row(eps)
    assert (
        row["verify_right_yes"],
        row["verify_right_no"],
        row["verify_wrong_no"],
        row["verify_wrong_none"],
    ) == (
        1,
        1,
        2,
        1,
    )
    assert row["said_yes"] == approx(0.2, factor=4) and row["verify_accuracy"] == approx(0.6, factor=4)
    assert row["yes_given_right"] == approx(0.5, factor=4) and row["no_given_wrong"] == approx(
        2 / 3, factor=4
    )
    assert row["slow_share"] == approx(0.8, factor=4)
    assert verification_row([]) == {}


def test_a_stop_string_of_the_env_ends_every_turn_and_stays_in_it(chatty_model_dir):
    """The chatty model answers ``ok 42``: with ``stop`` ' 4' each turn ends there, ' 4' kept, finished by
    the stop (not the budget), in both environments and every Thinker stage."""
    gen = make_generator("hf", str(chatty_model_dir), batch_size=8)
    problems = [Problem(id="q", prompt="What is 6 x 7?", answer="42")]
    (qa,) = run_episodes(
        gen, [QAEnv(QAEnvConfig(budget_tokens=16, stop=(" 4",)), mode="infer")], problems
    ).episodes
    (turn,) = qa.turns
    assert turn["response"] == "ok 4" and turn["finish_reason"] == "stop"
    cfg = ThinkerEnvConfig(
        fast_budget_tokens=16,
        verify_budget_tokens=16,
        slow_budget_tokens=16,
        summary_budget_tokens=16,
        stop=(" 4",),
    )
    (th,) = run_episodes(gen, [ThinkerEnv(cfg, mode="infer")], problems).episodes
    assert [t["stage"] for t in th.turns] == ["fast", "verify", "slow", "summary"]
    # later turns answer a longer chat; whatever they write, nothing follows a ' 4'
    assert th.turns[0]["response"] == "ok 4"
    assert all(not t["truncated"] and " 4" not in t["response"][:-2] for t in th.turns)
    # without it the same model writes its whole answer
    (plain,) = run_episodes(gen, [QAEnv(QAEnvConfig(budget_tokens=16), mode="infer")], problems).episodes
    assert plain.turns[0]["response"] == "ok 42"

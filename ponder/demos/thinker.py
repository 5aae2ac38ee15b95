"""``ponder demo thinker``: Thinker against the single-turn baseline on a tiny model, at equal RL tokens.

The miniature is built so that the method's premise holds and is measured before RL: checking an answer is
cheaper and more reliable than producing it, and a fast answer under a tight budget is often wrong.

1. A tiny Qwen2 model (``nano``, seeded) and neighbour-sum problems (:mod:`ponder.tasks.neighbour_sum`):
   disjoint SFT, RL and test sets. The fast answer writes the first ``fast_lines`` lines of the search and
   then answers (found, or a guess); the check of an answer is its one search line; Slow Thinking and the
   single-turn baseline search line by line within a budget that holds only the first lines (every turn
   ends at its box), so a pair further on is out of their reach but not out of a fast guess's.
2. SFT in two phases (:mod:`ponder.demos.thinker_data`): dialogues that teach every stage, with synthetic
   shown answers; then Verification of the model's *own* sampled fast answers (right and wrong in equal
   numbers), Slow Thinking after its own wrong ones, as many single-turn searches of the same problems, and
   replayed phase-1 records.
3. Preconditions on the test problems, printed before RL: fast accuracy, verification accuracy balanced over
   right and wrong fast answers, single-turn accuracy and its ceiling, and the chain's accuracy.
4. Two RL runs from the SFT model with ``ponder/recipes/configs/thinker-tiny.yaml``: ``env=qa`` (baseline)
   and ``env=thinker``, each stopped once it has generated the same number of rollout tokens.
5. Evaluation on the test problems: the baseline single-turn (also cut to the fast budget), Thinker through
   its inference chain, and Thinker-Fast (the fast stage alone); the SFT model likewise.

Writes ``OUT/report.json`` (``preconditions``; ``rows``: one per evaluated system, with accuracy, mean
tokens and tokens per stage; timings, machine load and settings), ``OUT/report.md``, ``OUT/report.png``
(accuracy and tokens), ``OUT/tradeoff.png`` (accuracy against inference tokens per answer) and
``OUT/training_curves.png`` (training accuracy against rollout tokens for both arms).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ponder.config import load_config
from ponder.demos import size_of, tiny_sft
from ponder.demos.thinker_report import format_preconditions, preconditions, verification_row, write_report
from ponder.io import write_json, write_records
from ponder.progress import timed_call

if TYPE_CHECKING:
    from ponder.env.qa import QAEnvConfig

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "thinker-tiny.yaml"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is. Phase 1 SFT: ``sft_problems`` (3 or 4 dialogues each, teaching every stage and
    the single turn once), ``sft_steps`` steps; phase 2: ``own_problems`` x ``own_samples`` sampled fast
    answers, ``replay`` phase-1 records, ``own_steps`` steps. ``rollout_tokens``: generated tokens each RL arm
    may use. ``numbers``: named numbers per problem; ``fast_lines``: search lines a fast answer writes."""

    sft_problems: int
    sft_steps: int
    own_problems: int
    own_steps: int
    replay: int
    rl_problems: int
    test_problems: int
    rollout_tokens: int
    eval_samples: int
    numbers: int = 6
    fast_lines: int = 2
    own_samples: int = 2
    whole_search: bool = True


SIZES = {
    name: DemoSize(*dims)
    for name, dims in {
        #          SFT    SFT    own    own    replay  RL     test   rollout   eval
        #          probs  steps  probs  steps          probs  probs  tokens    samples
        "full": (3000, 900, 2000, 600, 2100, 2000, 200, 150_000, 4),
        "smoke": (200, 30, 40, 10, 70, 200, 16, 20_000, 2),
    }.items()
}
# 20 dialogues hold about as many stage turns as 32 single-turn records: a step teaches as much as one of 32
# records did, and the check needs the steps (fewer steps weakened it, docs/thinker.md)
EXAMPLES_PER_STEP = 20
SFT_LR = 2e-3
OWN_LR = 1e-3
OWN_TEMPERATURE = 1.0  # the fast answers RL will see are sampled at the rollout temperature
EVAL_TEMPERATURE = 0.5


def pick_threads() -> int:
    """1 or 2 torch threads, whichever multiplies matrices faster right now (on a busy machine two threads can
    be many times slower than one)."""
    import torch

    best, best_t = 1, float("inf")
    a = torch.randn(256, 256)
    for n in (1, 2):
        torch.set_num_threads(n)
        a @ a
        t0 = time.perf_counter()
        for _ in range(30):
            a @ a
        t = time.perf_counter() - t0
        if t < best_t:
            best, best_t = n, t
    return best


def make_data(out: Path, seed: int, dims: DemoSize, cfg) -> dict:
    """Disjoint SFT, RL and test sets of neighbour sums; phase-1 SFT records. Returns the sets by name."""
    from ponder.demos.thinker_data import sft_records
    from ponder.tasks.neighbour_sum import NeighbourSumTask, neighbour_sum

    task = NeighbourSumTask(dims.fast_lines, dims.whole_search)
    sizes = {"sft": dims.sft_problems, "rl": dims.rl_problems, "test": dims.test_problems}
    problems = neighbour_sum(sum(sizes.values()), seed, size=dims.numbers)
    sets, start = {}, 0
    for name, n in sizes.items():
        sets[name] = problems[start : start + n]
        start += n
    records = sft_records(sets["sft"], cfg.thinker, cfg.qa, task, seed=seed)
    write_records(out / "data" / "sft1.jsonl", records)
    write_records(out / "data" / "rl.jsonl", sets["rl"])
    write_records(out / "data" / "test.jsonl", sets["test"])
    sets["phase1"] = records
    return sets


def own_answer_data(out: Path, seed: int, dims: DemoSize, cfg, model: str, sets: dict) -> dict:
    """Phase-2 SFT data from the phase-1 model's own fast answers (see the module docstring); returns counts."""
    from ponder.demos.thinker_data import own_answer_records, qa_record, sample_fast_answers
    from ponder.generation import make_generator
    from ponder.tasks.neighbour_sum import NeighbourSumTask

    task = NeighbourSumTask(dims.fast_lines, dims.whole_search)
    gen = make_generator("hf", model, batch_size=128)
    answers = sample_fast_answers(
        gen,
        sets["sft"][: dims.own_problems],
        cfg.thinker,
        samples=dims.own_samples,
        temperature=OWN_TEMPERATURE,
        seed=seed,
    )
    own, counts = own_answer_records(answers, cfg.thinker, task, seed=seed)
    # the single-turn search gets as many phase-2 examples as Slow Thinking does (the same problems)
    by_id = {p.id: p for p in sets["sft"]}
    slow_ids = [r["meta"]["problem"] for r in own if "slow" in r["meta"]["stages"]]
    qa = [{**qa_record(by_id[i], cfg.qa, task), "id": f"{i}-qa-own{k}"} for k, i in enumerate(slow_ids)]
    rng = random.Random(f"thinker-replay:{seed}")
    replay = rng.sample(sets["phase1"], min(dims.replay, len(sets["phase1"])))
    write_records(out / "data" / "sft2.jsonl", own + qa + replay)
    counts.update(qa=len(qa), replay=len(replay))
    return counts


def train_sft(out: Path, seed: int, dims: DemoSize, cfg, base: Path, sets: dict) -> dict:
    """Both SFT phases (the SFT recipe, the rate decaying to a tenth); returns phase 2's summary with the
    phase-1 summary and the own-answer counts under ``phase1`` and ``own``."""
    common = dict(seed=seed, examples_per_step=EXAMPLES_PER_STEP, min_lr_ratio=0.1)
    s1 = tiny_sft(
        base, out / "data" / "sft1.jsonl", out / "sft1", lr=SFT_LR, max_steps=dims.sft_steps, **common
    )
    counts = own_answer_data(out, seed, dims, cfg, s1["model"], sets)
    s2 = tiny_sft(
        s1["model"], out / "data" / "sft2.jsonl", out / "sft", lr=OWN_LR, max_steps=dims.own_steps, **common
    )
    return {**s2, "phase1": s1, "own": counts}


def train_arm(out: Path, dims: DemoSize, cfg, sft_model: str, arm: str) -> dict:
    """RL from the SFT model with thinker-tiny.yaml, on ``env`` qa (baseline) or thinker, until it has
    generated the arm's rollout-token budget (the RL recipe)."""
    from ponder.recipes import rl

    arm_cfg = dataclasses.replace(
        cfg,
        model=sft_model,
        data=str(out / "data" / "rl.jsonl"),
        output=str(out / f"rl-{arm}"),
        env="qa" if arm == "baseline" else "thinker",
        max_rollout_tokens=dims.rollout_tokens,
        max_steps=10_000,
        resume=True,
    )
    return rl.run(arm_cfg)


def single_turn_ceiling(problems: list, dims: DemoSize, model: str | Path, qa: QAEnvConfig) -> float:
    """Share of ``problems`` whose reference single-turn answer fits the budget of ``qa``: the
    task's search up to the first stop string, or else with the end-of-turn token. The single turn's accuracy
    were it never to slip."""
    from transformers import AutoTokenizer

    from ponder.generation.base import cut_at_stop
    from ponder.tasks.neighbour_sum import NeighbourSumTask

    task, tok = NeighbourSumTask(dims.fast_lines, dims.whole_search), AutoTokenizer.from_pretrained(model)

    def generated(text: str) -> int:
        text, stopped = cut_at_stop(text, qa.stop, keep=True)
        return len(tok(text, add_special_tokens=False).input_ids) + (0 if stopped else 1)

    return sum(generated(task.search(p)) <= qa.budget_tokens for p in problems) / len(problems)


def _evaluate(name, solver, bench, params, out_dir) -> dict:
    from ponder.eval.runner import evaluate

    report = evaluate(solver, [bench], params, out_dir, name=name)
    s = report["benchmarks"][bench.name]
    row = {
        "name": name,
        "accuracy": s["accuracy"],
        "mean_tokens": s["mean_tokens"],
        "mean_tokens_correct": s.get("mean_tokens_correct"),
        "truncated_share": s.get("truncated_share"),
    }
    for stage, v in (s.get("mean_stage_tokens") or {}).items():
        row[f"tokens_{stage}"] = v
    return row


def evaluate_models(out: Path, seed: int, dims: DemoSize, cfg, test_set: list, prefix: str, arms: dict):
    """Every system of one training stage on the test problems: the baseline single-turn (with its own budget
    and cut to the fast budget), Thinker through its inference chain and through its fast stage alone.
    ``prefix`` names the rows ("" after RL, "sft-" before); ``arms`` maps baseline/thinker to models.
    Returns ``(rows, thinker episodes, baseline episodes)``."""
    from ponder.eval.runner import Benchmark
    from ponder.eval.thinker_solver import chain_solver
    from ponder.generation import make_generator
    from ponder.generation.base import SamplingParams

    bench = Benchmark(
        name="neighbour-sum-test",
        path=out / "data" / "test.jsonl",
        rule=cfg.thinker.grading_rule,
        problems=test_set,
    )
    params = SamplingParams(
        n=dims.eval_samples, temperature=EVAL_TEMPERATURE, seed=seed, max_new_tokens=cfg.qa.budget_tokens
    )
    rows, kept = [], {"thinker": [], "baseline": []}
    gen = make_generator("hf", arms["baseline"], batch_size=64)
    at_fast = dataclasses.replace(cfg.qa, budget_tokens=cfg.thinker.fast_budget_tokens)
    for system, env in (("baseline", cfg.qa), ("baseline-fast-budget", at_fast)):
        name = f"{prefix}{system}"
        keep = kept["baseline"] if system == "baseline" else None
        rows.append(_evaluate(name, chain_solver(gen, env, keep=keep), bench, params, out / "eval" / name))
    gen = make_generator("hf", arms["thinker"], batch_size=64)
    for system, fast in (("thinker", False), ("thinker-fast", True)):
        name = f"{prefix}{system}"
        keep = kept["thinker"] if not fast else None
        solver = chain_solver(gen, cfg.thinker, fast_only=fast, keep=keep)
        rows.append(_evaluate(name, solver, bench, params, out / "eval" / name))
        if not fast:
            rows[-1].update(verification_row(kept["thinker"]))
    return rows, kept["thinker"], kept["baseline"]


def run_demo(
    *, seed: int = 0, out: str | Path = "runs/demo-thinker", size: str = "full", threads: int = 0
) -> dict:
    """Run the whole demo; return the report (also written to ``OUT/report.json``)."""
    import torch

    from ponder.models.tiny import build_tiny_model
    from ponder.recipes.rl.config import RLConfig

    dims = size_of(SIZES, size)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads or pick_threads()
    torch.set_num_threads(threads)
    t_start, load_start = time.perf_counter(), os.getloadavg()
    times: dict[str, float] = {}
    timed = functools.partial(timed_call, times)

    t0 = time.perf_counter()
    base = build_tiny_model(out / "base", "nano", seed)
    cfg = load_config(
        RLConfig, CONFIG, [f"model={base}", "data=-", "output=-", f"seed={seed}", f"threads={threads}"]
    )
    sets = make_data(out, seed, dims, cfg)
    times["data"] = time.perf_counter() - t0
    sft_summary = timed("sft", train_sft, out, seed, dims, cfg, base, sets)
    sft_model = sft_summary["model"]
    evaluate = functools.partial(evaluate_models, out, seed, dims, cfg, sets["test"])
    sft_rows, th_eps, bl_eps = timed(
        "eval_sft", evaluate, "sft-", {"baseline": sft_model, "thinker": sft_model}
    )
    pre = preconditions(th_eps, bl_eps, single_turn_ceiling(sets["test"], dims, base, cfg.qa))
    write_json(out / "preconditions.json", pre)
    print(f"preconditions (SFT model, seed {seed}): {format_preconditions(pre)}", flush=True)
    rl_summaries = {
        arm: timed(f"rl_{arm}", train_arm, out, dims, cfg, sft_model, arm) for arm in ("baseline", "thinker")
    }
    rl_rows, _, _ = timed("eval", evaluate, "", {arm: s["model"] for arm, s in rl_summaries.items()})
    settings = {
        "config": str(CONFIG),
        **dataclasses.asdict(dims),
        "examples_per_step": EXAMPLES_PER_STEP,
        "sft_lr": SFT_LR,
        "own_lr": OWN_LR,
        "own_temperature": OWN_TEMPERATURE,
        "eval_temperature": EVAL_TEMPERATURE,
        "threads": threads,
        "model": "nano",
        "task": f"neighbour sums of {dims.numbers} numbers, fast answer after {dims.fast_lines} search lines",
    }
    return write_report(
        out,
        seed,
        size,
        rl_rows + sft_rows,
        sft_summary,
        rl_summaries,
        settings,
        times,
        t_start,
        load_start,
        preconditions=pre,
    )

"""The Thinker demo's report: the inference-mode verification matrix, the training summaries of both RL arms
and their training curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.records import Episode


def verification_row(episodes: list) -> dict:
    """Inference-mode judgements of the fast answers: the confusion matrix (fast answer right/wrong x verdict
    yes/no/none), the share of Yes, the verification accuracy and how often Slow Thinking ran."""
    from ponder.env.thinker import verification_counts

    counts = verification_counts(episodes)
    total = sum(counts.values())
    if not total:
        return {}
    right = counts["right_yes"] + counts["right_no"] + counts["right_none"]
    wrong = total - right
    return {
        **{f"verify_{k}": v for k, v in counts.items()},
        "said_yes": (counts["right_yes"] + counts["wrong_yes"]) / total,
        "verify_accuracy": (counts["right_yes"] + counts["wrong_no"]) / total,
        "yes_given_right": counts["right_yes"] / right if right else None,
        "no_given_wrong": counts["wrong_no"] / wrong if wrong else None,
        "slow_share": sum(any(t["stage"] == "slow" for t in ep.turns) for ep in episodes) / len(episodes),
    }


# --------------------------------------------------------------------------- preconditions
# Thinker's preconditions, measured on a model's own inference dialogues before RL (and again after it).
#
# The method pays only when (1) a fast answer under a tight budget is often wrong, (2) the single-turn answer
# is below its ceiling, and (3) judging a fast answer is more reliable than producing it. From one set of
# Thinker inference episodes (``mode="infer"``: the model's own verdict decides whether Slow Thinking runs) and
# one set of single-turn episodes on the same problems:
#
# - ``fast_accuracy``: share of right fast answers (cut by the budget counts as wrong);
# - ``yes_given_right`` = P(Yes | fast answer right), ``no_given_wrong`` = P(No | fast answer wrong) and
#   ``verify_balanced`` = their mean -- the verification accuracy balanced over right and wrong fast answers
#   (no verdict counts as a miss), so a verifier that always says Yes scores 0.5 whatever the fast accuracy;
# - ``baseline_accuracy`` and ``baseline_tokens``: the single-turn answers; ``baseline_ceiling`` (when given):
#   the share of problems whose reference single-turn answer fits its budget -- what a single turn without a
#   slip would score, so the room a second chance has;
# - ``thinker_accuracy`` / ``thinker_tokens``: the inference chain's final answers and generated tokens per
#   dialogue; ``fast_tokens``; ``slow_share``: dialogues that went on to Slow Thinking;
# - ``slow_accuracy``: final answers of the dialogues that went on to Slow Thinking, against
#   ``baseline_on_slow``: the single-turn answers of the same episodes (paired by episode id, i.e. problem and
#   sample) -- whether Slow Thinking, the same solving later in a longer dialogue, is as good as the single turn.


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _stage_tokens(episodes: Sequence[Episode], stage: str) -> float | None:
    return _mean(
        [float(t.get("num_tokens") or 0) for ep in episodes for t in ep.turns if t["stage"] == stage]
    )


def _slow_against_single(thinker: Sequence[Episode], baseline: Sequence[Episode]) -> dict:
    single = {ep.id: float(bool(ep.meta.get("final_correct"))) for ep in baseline}
    slow = [ep for ep in thinker if any(t["stage"] == "slow" for t in ep.turns) and ep.id in single]
    return {
        "slow_accuracy": _mean([float(bool(ep.meta.get("final_correct"))) for ep in slow]),
        "baseline_on_slow": _mean([single[ep.id] for ep in slow]),
    }


def preconditions(
    thinker: Sequence[Episode], baseline: Sequence[Episode], ceiling: float | None = None
) -> dict:
    """The measurements above from inference episodes (each list non-empty, with gold answers); ``ceiling``:
    the single turn's, measured on the reference texts."""
    if not thinker or not baseline:
        raise ValueError("need Thinker and single-turn episodes to measure the preconditions")
    v = verification_row(list(thinker))
    yes_right, no_wrong = v.get("yes_given_right"), v.get("no_given_wrong")
    counts = {
        f"{a}_{b}": v.get(f"verify_{a}_{b}", 0) for a in ("right", "wrong") for b in ("yes", "no", "none")
    }
    right = counts["right_yes"] + counts["right_no"] + counts["right_none"]
    judged = sum(counts.values())
    return {
        "fast_accuracy": right / judged if judged else None,
        "fast_tokens": _stage_tokens(thinker, "fast"),
        "yes_given_right": yes_right,
        "no_given_wrong": no_wrong,
        "verify_balanced": (yes_right + no_wrong) / 2 if None not in (yes_right, no_wrong) else None,
        "verify_counts": counts,
        "thinker_accuracy": _mean([float(bool(ep.meta.get("final_correct"))) for ep in thinker]),
        "thinker_tokens": _mean([float(ep.meta.get("total_tokens") or 0) for ep in thinker]),
        "slow_share": v.get("slow_share"),
        **_slow_against_single(thinker, baseline),
        "baseline_accuracy": _mean([float(bool(ep.meta.get("final_correct"))) for ep in baseline]),
        "baseline_tokens": _mean([float(ep.meta.get("total_tokens") or 0) for ep in baseline]),
        "baseline_ceiling": ceiling,
    }


def format_preconditions(row: dict) -> str:
    """One line for a log: the numbers a reader checks before trusting a Thinker comparison."""

    def f(k):
        v = row.get(k)
        return "n/a" if v is None else f"{v:.3f}"

    return (
        f"fast accuracy {f('fast_accuracy')} | verification balanced {f('verify_balanced')} "
        f"(P(Yes|right) {f('yes_given_right')}, P(No|wrong) {f('no_given_wrong')}) | "
        f"single-turn accuracy {f('baseline_accuracy')} (ceiling {f('baseline_ceiling')}) | "
        f"chain accuracy {f('thinker_accuracy')} | "
        f"after No: slow {f('slow_accuracy')} vs single turn {f('baseline_on_slow')}"
    )


TRAIN_KEYS = {
    "baseline": ("answer/accuracy", "answer/tokens"),
    "thinker": (
        "fast/accuracy",
        "episode/final_accuracy",
        "verify/accuracy",
        "slow/accuracy",
        "fast/tokens",
        "episode/tokens",
    ),
}


def training_summary(run_dir: Path, arm: str, last: int = 5) -> dict:
    """Training accuracies and tokens averaged over the first and the last ``last`` RL steps, and (Thinker)
    the verification confusion matrix summed over the last steps (training mode: judgements of the fast
    answers of the rollouts)."""
    from ponder.train.metrics import read_metrics

    rows = read_metrics(run_dir / "metrics.jsonl")

    def mean(part, key):
        vals = [r[key] for r in part if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    out = {
        f"{where}_{key}": mean(part, key)
        for where, part in (("first", rows[:last]), ("last", rows[-last:]))
        for key in TRAIN_KEYS[arm]
    }
    if arm == "thinker":
        out["last_verification"] = {
            k: sum(r.get(f"verify/{k}", 0) for r in rows[-last:])
            for k in ("right_yes", "right_no", "right_none", "wrong_yes", "wrong_no", "wrong_none")
        }
    return out


def training_curves(out: Path, runs: dict[str, Path]) -> Path:
    from ponder.eval.report import curve_plot
    from ponder.train.metrics import read_metrics

    series = {}
    keys = {
        "baseline": [("answer/accuracy", "baseline: answer accuracy")],
        "thinker": [
            ("fast/accuracy", "thinker: fast accuracy"),
            ("episode/final_accuracy", "thinker: final accuracy"),
            ("verify/accuracy", "thinker: verification accuracy"),
        ],
    }
    for arm, run_dir in runs.items():
        rows = read_metrics(run_dir / "metrics.jsonl")
        for key, label in keys[arm]:
            series[label] = [(r["rollout_tokens_total"], r[key]) for r in rows if key in r]
    return curve_plot(
        out / "training_curves.png",
        series,
        "rollout tokens",
        "training accuracy",
        title="PPO at equal rollout tokens",
    )


COLUMNS = [
    "name",
    "trained",
    "accuracy",
    "mean_tokens",
    "tokens_fast",
    "tokens_verify",
    "tokens_slow",
    "tokens_summary",
    "tokens_answer",
    "truncated_share",
    "rl_rollout_tokens",
]
VERIFY_COLUMNS = [
    "name",
    "verify_right_yes",
    "verify_right_no",
    "verify_wrong_yes",
    "verify_wrong_no",
    "verify_right_none",
    "verify_wrong_none",
    "said_yes",
    "verify_accuracy",
    "slow_share",
]


# The comparisons the demo reports, each paired by problem (mean difference of accuracy and its standard error).
COMPARISONS = [
    ("thinker", "baseline"),  # the method's claim, at equal RL rollout tokens
    ("sft-thinker", "sft-baseline"),  # the same before RL: the chain's inference alone
    ("thinker-fast", "baseline"),  # the fast stage alone against the single turn at its own budget
    ("thinker-fast", "baseline-fast-budget"),  # the fast stage against the single turn at the same budget
    ("baseline", "sft-baseline"),  # what RL changed, each arm
    ("thinker", "sft-thinker"),
]


def paired_differences(eval_dir: Path) -> dict[str, dict[str, float]]:
    """``{"a - b": {"mean", "se"}}`` for each of :data:`COMPARISONS` whose two evaluations (one samples file
    each under ``eval_dir/NAME/samples/``) exist."""
    from ponder.eval.paired import paired_accuracy

    out = {}
    for a, b in COMPARISONS:
        fa, fb = (sorted((Path(eval_dir) / n / "samples").glob("*.jsonl")) for n in (a, b))
        if len(fa) == 1 and len(fb) == 1:
            mean, se = paired_accuracy(fa[0], fb[0])
            out[f"{a} - {b}"] = {"mean": mean, "se": se}
    return out


def format_paired(diffs: dict[str, dict[str, float]]) -> str:
    return "; ".join(f"{k}: {v['mean']:+.3f} ± {v['se']:.3f}" for k, v in diffs.items())


def write_report(
    out, seed, size, rows, sft_summary, rl_summaries, settings, times, t_start, load_start, *, preconditions
) -> dict:
    """``report.json`` (the preconditions, rows with how each system was trained, RL and SFT summaries,
    settings, timings), ``report.md`` (the tables), ``report.png``, ``tradeoff.png`` (accuracy against tokens
    per answer) and ``training_curves.png``; returns the report."""
    import os
    import time

    from ponder.eval.report import bar_plot, markdown_table, tradeoff_plot
    from ponder.io import write_json, write_text

    runs = {arm: out / f"rl-{arm}" for arm in rl_summaries}
    for row in rows:
        arm = "thinker" if "thinker" in row["name"] else "baseline"
        row["trained"] = "sft" if row["name"].startswith("sft-") else "sft+rl"
        row["rl_rollout_tokens"] = 0 if row["trained"] == "sft" else rl_summaries[arm]["rollout_tokens"]
    table = markdown_table(rows, COLUMNS)
    verify_table = markdown_table([r for r in rows if "said_yes" in r], VERIFY_COLUMNS)
    bar_plot(out / "report.png", rows, ["accuracy", "mean_tokens"], title=f"Thinker demo, seed {seed}")
    tradeoff_plot(out / "tradeoff.png", rows, title=f"Thinker demo, seed {seed}: accuracy against tokens")
    training_curves(out, runs)
    times["total"] = time.perf_counter() - t_start
    paired = paired_differences(out / "eval")
    report = {
        "demo": "thinker",
        "seed": seed,
        "size": size,
        "preconditions": preconditions,
        "rows": rows,
        "paired": paired,
        "table": table,
        "verification_table": verify_table,
        "rl": {
            arm: {
                "steps": s["steps"],
                "rollout_tokens": s["rollout_tokens"],
                "seconds": s["seconds"],
                "stage_seconds": s["stage_seconds"],
                **training_summary(runs[arm], arm),
            }
            for arm, s in rl_summaries.items()
        },
        "sft": {
            "steps": sft_summary["phase1"]["steps"] + sft_summary["steps"],
            "phase1_final_loss": (sft_summary["phase1"].get("final") or {}).get("loss"),
            "final_loss": (sft_summary.get("final") or {}).get("loss"),
            "own_answers": sft_summary["own"],
        },
        "settings": settings,
        "seconds": times,
        "load_average": {"start": list(load_start), "end": list(os.getloadavg())},
    }
    write_json(out / "report.json", report)
    write_text(
        out / "report.md",
        f"# Thinker demo (seed {seed}, {size})\n\n"
        f"Preconditions (SFT model, before RL): {format_preconditions(preconditions)}\n\n{table}\n\n"
        f"Differences paired by problem (mean ± standard error): {format_paired(paired)}\n\n"
        "Verification at inference (fast answer right/wrong x judgement):\n\n"
        f"{verify_table}\n",
    )
    return report

"""The real-model ThinkPO run's report: one row per model, paired per-problem differences, accuracy by size.

Every model is evaluated on the same held-out problems, so the comparisons are paired: for each problem the
difference of a metric between two models (greedy right or not, pass@1 over the sampled answers, maj@k right
or not, mean tokens), averaged over problems with the standard error ``sd(d) / sqrt(problems)``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.demos.thinkpo_report import is_long
from ponder.eval.metrics import majority_correct
from ponder.eval.paired import mean_se
from ponder.eval.report import bar_plot, markdown_table
from ponder.io import write_json, write_text
from ponder.records import read_problems, read_samples
from ponder.verify.rules import vote_with

COLUMNS = (
    "name",
    "greedy_accuracy",
    "greedy_tokens",
    "pass@1",
    "maj@k",
    "pass@k",
    "mean_tokens",
    "long_share",
    "truncated_share",
)
# (a, b): rows of the paired table are a - b.
COMPARISONS = (("thinkpo", "sft-continued"), ("thinkpo", "sft"), ("sft-continued", "sft"))
PAIRED = ("greedy", "pass@1", "maj@k", "tokens")


def per_problem(greedy_path: Path, sampled_path: Path) -> dict[str, dict[str, float]]:
    """``{problem id: {greedy, pass@1, maj@k, tokens}}`` from graded greedy and sampled samples files."""
    out: dict[str, dict[str, float]] = {}
    for s in read_samples(greedy_path):
        out[s.id] = {"greedy": float(s.correct[0]), "greedy_tokens": float(s.num_tokens[0])}
    for s in read_samples(sampled_path):
        n = len(s.responses)
        keys = vote_with("boxed", s.preds).labels(n)
        out[s.id].update(
            {
                "pass@1": sum(s.correct) / n,
                "maj@k": float(majority_correct(keys, s.correct)),
                "tokens": sum(s.num_tokens) / n,
                "long": sum(is_long(t) for t in s.responses) / n,
                "truncated": sum(f == "length" for f in s.finish_reasons) / n,
            }
        )
    return out


def paired(stats: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """One row per comparison a - b: mean paired difference and its SE for every metric in ``PAIRED``."""
    rows = []
    for a, b in COMPARISONS:
        ids = sorted(stats[a])
        row: dict[str, Any] = {"comparison": f"{a} - {b}"}
        for m in PAIRED:
            mean, se = mean_se([stats[a][i][m] - stats[b][i][m] for i in ids])
            row[m] = mean
            row[f"{m}_se"] = se
        rows.append(row)
    return rows


def model_row(name: str, stats: dict[str, dict[str, float]]) -> dict[str, Any]:
    vals = list(stats.values())

    def avg(key: str) -> float:
        return sum(v[key] for v in vals) / len(vals)

    return {
        "name": name,
        "greedy_accuracy": avg("greedy"),
        "greedy_tokens": avg("greedy_tokens"),
        "pass@1": avg("pass@1"),
        "maj@k": avg("maj@k"),
        "pass@k": sum(v["pass@1"] > 0 for v in vals) / len(vals),
        "mean_tokens": avg("tokens"),
        "long_share": avg("long"),
        "truncated_share": avg("truncated"),
    }


def by_ops(test: Path, stats: dict[str, dict[str, dict[str, float]]]) -> list[dict[str, Any]]:
    """Greedy and sampled accuracy of every model by the number of operations of the problem."""
    ops = {p.id: p.meta.get("ops") for p in read_problems(test)}
    rows = []
    for k in sorted({o for o in ops.values() if o is not None}):
        ids = [i for i, o in ops.items() if o == k]
        row: dict[str, Any] = {"ops": k, "problems": len(ids)}
        for name, s in stats.items():
            row[f"{name} greedy"] = sum(s[i]["greedy"] for i in ids) / len(ids)
            row[f"{name} pass@1"] = sum(s[i]["pass@1"] for i in ids) / len(ids)
        rows.append(row)
    return rows


def _paired_table(rows: list[dict]) -> str:
    head = "| comparison | " + " | ".join(PAIRED) + " |"
    rule = "|---|" + "---|" * len(PAIRED)
    body = [
        f"| {r['comparison']} | " + " | ".join(f"{r[m]:+.3f} ± {r[m + '_se']:.3f}" for m in PAIRED) + " |"
        for r in rows
    ]
    return "\n".join([head, rule, *body])


def finish_report(
    out: Path,
    *,
    cfg: dict,
    recipe: dict,
    preconditions: dict,
    runs: dict,
    pairs: dict,
    timings: dict,
    wall_seconds: float,
    cpu_seconds: float,
    load: tuple,
    log=print,
    names: Sequence[str] = ("sft", "sft-continued", "thinkpo"),
) -> dict[str, Any]:
    """Rows, paired differences and accuracy by size; write report.json/.md/.png; print the tables."""
    k = cfg["eval_samples"]
    stats = {
        n: per_problem(
            out / "eval" / f"{n}-greedy" / "samples" / "test.jsonl",
            out / "eval" / f"{n}-sampled" / "samples" / "test.jsonl",
        )
        for n in names
    }
    rows = [model_row(n, stats[n]) for n in names]
    diffs = paired(stats)
    sizes = by_ops(out / "data" / "test.jsonl", stats)
    report = {
        "demo": "thinkpo-real",
        "seed": cfg["seed"],
        "preconditions": preconditions,
        "rows": rows,
        "paired": diffs,
        "by_ops": sizes,
        "pairs": {key: pairs.get(key) for key in ("kept", "dropped", "chosen_tokens", "rejected_tokens")},
        "training": {
            name: {"steps": r.get("steps"), "seconds": r.get("seconds"), "final": r.get("final")}
            for name, r in runs.items()
        },
        "wall_seconds": wall_seconds,
        "cpu_seconds": cpu_seconds,
        "stage_seconds": timings,
        "load_average": {"start": list(load[0]), "end": list(load[1])},
        "settings": cfg,
        "recipe": recipe,
    }
    write_json(out / "report.json", report)
    head = (
        f"ThinkPO on {cfg['model']}, seed {cfg['seed']}: {cfg['test_problems']} held-out sums, greedy and "
        f"{k} samples at T {cfg['eval_temperature']} (maj@k, pass@k with k = {k})"
    )
    cost = (
        f"wall {wall_seconds / 60:.1f} min, CPU {cpu_seconds / 60:.1f} min; load average {load[0][0]:.2f} "
        f"at start, {load[1][0]:.2f} at end ({os.cpu_count()} cores); ThinkPO and control "
        f"{runs['thinkpo'].get('steps')} and {runs['sft-continued'].get('steps')} steps"
    )
    size_cols = ["ops", "problems", *[f"{n} greedy" for n in names], *[f"{n} pass@1" for n in names]]
    text = "\n".join(
        [
            head,
            "",
            markdown_table(rows, COLUMNS),
            "",
            "Paired per-problem differences (mean ± SE):",
            "",
            _paired_table(diffs),
            "",
            "Accuracy by number of operations:",
            "",
            markdown_table(sizes, size_cols),
            "",
            cost,
        ]
    )
    write_text(out / "report.md", text + "\n")
    bar_plot(out / "report.png", rows, ["greedy_accuracy", "pass@1", "mean_tokens"], title=head[:60])
    log(text)
    return report

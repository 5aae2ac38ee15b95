"""The PFPO-code demo's report: the measurements of pseudo feedback against the hidden truth, pass@1 before and
after, as Markdown tables and a two-panel plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ponder.eval.report import markdown_table, save_figure

ROW_COLUMNS = ["name", "accuracy", "pass@1_t1", "mean_tokens", "pairs"]
MEASURE_COLUMNS = [
    "candidates",
    "programs_passing_all",
    "kept_test_share",
    "pseudo_output_accuracy",
    "pairs",
    "pair_precision",
    "pair_ties",
    "chosen_correct_share",
    "gold_pairs",
]


def format_report(report: dict[str, Any]) -> str:
    """The demo's tables: the measurements of pseudo feedback, then pass@1 before and after."""
    proc = report["process"]
    lines = [
        f"**PFPO-code demo**, seed {report['seed']} ({report['model']['preset']}, "
        f"{report['model']['parameters']:,} parameters); wall time {report['wall_s']} s",
        "",
        "Pseudo feedback against the hidden truth:",
        "",
        markdown_table(report["measurements"], MEASURE_COLUMNS),
        "",
        f"Code pDPO: {proc['prefixes']} prefixes, {proc['positives']} positive, {proc['pairs']} pairs, "
        f"pair precision {_num(proc['pair_precision'])}",
        "",
        "pass@1 on held-out problems (greedy; and over samples at temperature 1):",
        "",
        markdown_table(report["rows"], ROW_COLUMNS),
    ]
    return "\n".join(lines)


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Two panels: the pseudo feedback measured against the hidden tests (policy pool, stand-in pool, code
    pDPO), and pass@1 per model (greedy, and over samples at temperature 1)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    groups = {m["candidates"]: m for m in report["measurements"]}
    groups["code pDPO"] = {"pair_precision": report["process"]["pair_precision"]}
    metrics = ["pseudo_output_accuracy", "pair_precision", "chosen_correct_share"]
    width = 0.8 / len(metrics)
    for k, metric in enumerate(metrics):
        xs = [i + (k - 1) * width for i in range(len(groups))]
        vals = [g.get(metric) for g in groups.values()]
        bars = left.bar(xs, [v or 0.0 for v in vals], width, label=metric, color=f"C{k}")
        left.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in vals], fontsize=7)
    left.set_xticks(range(len(groups)), list(groups))
    left.set_ylim(0, 1.1)
    left.set_title("pseudo feedback vs hidden tests")
    left.legend(fontsize=7, loc="lower right")
    rows = report["rows"]
    for k, metric in enumerate(["accuracy", "pass@1_t1"]):
        xs = [i + (k - 0.5) * 0.4 for i in range(len(rows))]
        label = "pass@1 greedy" if metric == "accuracy" else "pass@1 at T 1"
        bars = right.bar(xs, [r[metric] for r in rows], 0.4, label=label, color=f"C{k + 3}")
        right.bar_label(bars, labels=[f"{r[metric]:.2f}" for r in rows], fontsize=7)
    right.set_xticks(range(len(rows)), [r["name"] for r in rows])
    right.set_ylim(0, 1.1)
    right.set_title("held-out problems")
    right.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"PFPO-code demo, seed {report['seed']}")
    return save_figure(fig, path)


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"

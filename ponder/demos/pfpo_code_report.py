"""The PFPO-code demo's report: the preconditions, the pairs, pass@1 per arm (Markdown), one run's plot and
the plot over seeds (``python -m ponder.demos.pfpo_code_report OUT.png RUN/report.json ...``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.eval.report import markdown_table, save_figure

ROW_COLUMNS = ["name", "accuracy", "pass1_sampled", "mean_tokens", "pairs", "steps", "gained", "lost"]
HEAD_COLUMNS = [
    "greedy_pass",
    "pass1_sampled",
    "vote_best",
    "headroom",
    "teachable",
    "harmful",
    "disagree_share",
    "pseudo_output_accuracy",
    "pass_at_k",
]
ARM_COLORS = {"sft": "C7", "iter1": "C0", "dpo-gold-pairs": "C2", "sft-chosen": "C1"}


def format_report(report: dict[str, Any]) -> str:
    """The demo's tables: preconditions on the training prompts, pairs, then pass@1 per arm."""
    pairs = report["pairs"]
    rows = [{**r, **_likelihood(r)} for r in report["rows"]]
    lines = [
        f"**PFPO-code demo**, seed {report['seed']} ({report['model']['preset']}, "
        f"{report['model']['parameters']:,} parameters)",
        "",
        "Preconditions on the training prompts (measured before any training; `headroom` = vote-best - greedy):",
        "",
        markdown_table([report["headroom"]], HEAD_COLUMNS),
        "",
        f"Pairs: {pairs['outcome']} from pseudo tests (pair precision {_num(report['pair_precision']['outcome'])} "
        f"after matching), {pairs['gold']} from the hidden tests; both cut to {pairs['matched']}.",
        "",
        "pass@1 on held-out problems (greedy; and over samples at T 1); gained / lost: problems against sft;",
        "chosen / rejected: log-prob change (nats, last fifth of the steps):",
        "",
        markdown_table(rows, [*ROW_COLUMNS, "chosen", "rejected"]),
    ]
    return "\n".join(lines)


def _likelihood(row: dict[str, Any]) -> dict[str, Any]:
    d = row.get("likelihood") or {}
    return {"chosen": d.get("chosen_logp_change"), "rejected": d.get("rejected_logp_change")}


def plot_report(report: dict[str, Any], path: str | Path) -> Path:
    """Greedy pass@1 and pass@1 at T 1 per arm for one run."""
    return plot_seeds([report], path)


def plot_seeds(reports: Sequence[dict[str, Any]], path: str | Path, title: str = "PFPO-code demo") -> Path:
    """Greedy accuracy (pass@1) per arm and seed (bars), with the seeds' mean headroom in the title; the
    math demo's reports (headroom measured on its sampled test set) plot the same way."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["name"] for r in reports[0]["rows"]]
    fig, ax = plt.subplots(figsize=(max(5.0, 2.4 + 1.8 * len(reports)), 4.0))
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        vals = [next((r["accuracy"] for r in rep["rows"] if r["name"] == name), None) for rep in reports]
        xs = [i + (k - (len(names) - 1) / 2) * width for i in range(len(reports))]
        bars = ax.bar(xs, [v or 0.0 for v in vals], width, label=name, color=ARM_COLORS.get(name, f"C{k}"))
        ax.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in vals], fontsize=7)
    ax.set_xticks(range(len(reports)), [f"seed {r['seed']}" for r in reports])
    ax.set_ylim(0, 1.15)
    ax.set_ylabel("greedy accuracy / pass@1 (held-out)")
    heads = [h for h in map(_headroom, reports) if h is not None]
    if heads:
        title += f"\nheadroom (vote over greedy), mean over seeds: {sum(heads) / len(heads):+.3f}"
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper left", ncol=len(names))
    return save_figure(fig, path)


def _headroom(report: dict[str, Any]) -> float | None:
    h = report["headroom"]
    return h.get("headroom", h.get("test_sampled", {}).get("headroom"))


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


if __name__ == "__main__":  # the docs' plot over the report seeds
    reports = [json.loads(Path(p).read_text()) for p in sys.argv[2:]]
    plot_seeds(
        reports, sys.argv[1], "PFPO-code demo" if reports[0].get("demo") == "pfpo-code" else "PFPO demo"
    )

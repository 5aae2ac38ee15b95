"""Reports people compare: Markdown tables and PNG plots.

``rows`` are dicts with a ``name`` and metric values; every demo and evaluation writes them to
``report.json`` and renders them here, so all tables in ponder look the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ponder.eval.metrics import change_percent


def _fmt(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def markdown_table(rows: Sequence[dict], columns: Sequence[str]) -> str:
    """A Markdown table with one row per dict and the given columns (missing values shown as –)."""
    head = "| " + " | ".join(columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def compare_rows(before: dict, after: dict, metrics: Sequence[str]) -> list[dict]:
    """ThinkPO-style comparison: one row per metric with before, after and change in percent."""
    return [
        {
            "metric": m,
            "before": before.get(m),
            "after": after.get(m),
            "change %": change_percent(before.get(m), after.get(m)),
        }
        for m in metrics
    ]


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (PNG, 110 dpi; folders made) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bar_plot(path: str | Path, rows: Sequence[dict], metrics: Sequence[str], title: str = "") -> Path:
    """One panel per metric, one bar per row (e.g. accuracy and mean tokens per model). Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    names = [str(r.get("name", i)) for i, r in enumerate(rows)]
    for ax, m in zip(axes[0], metrics, strict=True):
        vals = [r.get(m) or 0.0 for r in rows]
        bars = ax.bar(names, vals, color=[f"C{i}" for i in range(len(rows))])
        ax.bar_label(bars, labels=[_fmt(r.get(m)) for r in rows], fontsize=8)
        ax.set_title(m)
        ax.tick_params(axis="x", labelrotation=20)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def curve_plot(
    path: str | Path,
    series: dict[str, Sequence[tuple[float, float]]],
    xlabel: str,
    ylabel: str,
    title: str = "",
) -> Path:
    """Line plot of named (x, y) series, e.g. reward per step for each run. Writes a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    for name, pts in series.items():
        if pts:
            xs, ys = zip(*pts, strict=True)
            ax.plot(xs, ys, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return save_figure(fig, path)


def label_below(points: dict[str, tuple[float, float]], name: str) -> bool:
    """Whether the point ``name`` of ``points`` (name -> (tokens, accuracy)) is labelled below its marker.

    A row and its starting point (``sft-`` + name) often nearly coincide: the higher of the two is labelled
    above, the lower below; at equal accuracy, or without a partner, a starting point below."""
    start = name.startswith("sft-")
    partner = points.get(name[4:] if start else f"sft-{name}")
    y = points[name][1]
    return start if partner is None or partner[1] == y else y < partner[1]


def tradeoff_plot(path: str | Path, rows: Sequence[dict], title: str = "") -> Path:
    """Accuracy against generated tokens per answer, one labelled point per row (``name``, ``accuracy``,
    ``mean_tokens``; rows missing either are skipped). Rows named ``sft-...`` (starting points) are hollow."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    points = {
        str(r.get("name", "")): (r["mean_tokens"], r["accuracy"])
        for r in rows
        if r.get("mean_tokens") is not None and r.get("accuracy") is not None
    }
    for name, (x, y) in points.items():
        hollow = name.startswith("sft-")
        ax.scatter([x], [y], s=40, facecolors="none" if hollow else "C0", edgecolors="C0")
        below = label_below(points, name)
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, -10 if below else 4), fontsize=8)
    ax.set_xlabel("generated tokens per answer")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.05)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)

"""The ThinkPO demo's report: one row per model, the table, ``report.json``/``report.md`` and the PNG.

Besides the evaluation runner's metrics, each row says how the model answers: ``long_share`` (answers
that reason to the end: for neighbour sums, that search until a pair is found,
:func:`ponder.tasks.neighbour_sum.searched`), the accuracy of long and of short (hasty) answers, and
``pair_margin`` -- the mean of ``log p(chosen) - log p(rejected)`` over the ThinkPO pairs, summed over
response tokens, which DPO raises (its implicit reward margin is β times the change of this quantity from
the reference).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ponder.eval.paired import paired_accuracy
from ponder.eval.report import bar_plot, markdown_table
from ponder.io import write_json, write_text
from ponder.records import read_samples
from ponder.verify.rules import grade_with

COLUMNS = (
    "name",
    "accuracy",
    "mean_tokens",
    "long_share",
    "long_accuracy",
    "short_accuracy",
    "pass@4",
    "maj@4",
    "mean_tokens_correct",
    "truncated_share",
    "pair_margin",
)
LONG_MARK = "Step 1:"


def is_long(text: str) -> bool:
    """A long (step-by-step) answer of the arithmetic family: it works through ``Step 1:`` first."""
    return text.lstrip().startswith(LONG_MARK)


def style_stats(samples_path: str | Path, long=is_long) -> dict[str, float | None]:
    """Share of long answers (``long(text)`` true) and the accuracy of each style, from an evaluation's
    samples file."""
    counts = {"long": [0, 0], "short": [0, 0]}
    for s in read_samples(samples_path):
        for text in s.responses:
            style = "long" if long(text) else "short"
            counts[style][1] += 1
            counts[style][0] += int(grade_with("boxed", text, s.answer or "").correct)
    total = counts["long"][1] + counts["short"][1]
    return {
        "long_share": counts["long"][1] / total if total else None,
        "long_accuracy": counts["long"][0] / counts["long"][1] if counts["long"][1] else None,
        "short_accuracy": counts["short"][0] / counts["short"][1] if counts["short"][1] else None,
    }


def pair_logprobs(model_dir: str | Path, pairs_path: str | Path, tokens_per_microbatch: int = 4096):
    """``[pairs, 2]`` tensor of summed log-probs of (chosen, rejected) under a model (packed, no grad)."""
    import torch

    from ponder.train.data import read_pair_records
    from ponder.train.encode import Encoder, Where
    from ponder.train.logprobs import logprobs
    from ponder.train.model import load_model, load_tokenizer
    from ponder.train.packing import pack, plan_microbatches

    encoder = Encoder(load_tokenizer(model_dir))
    groups = [
        encoder.encode_pair(pair, Where(pairs_path, line)) for line, pair in read_pair_records(pairs_path)
    ]
    model = load_model(model_dir, trainable=False)
    out = torch.zeros(len(groups), 2)
    with torch.no_grad():
        for idx in plan_microbatches(groups, tokens_per_microbatch):
            seq = logprobs(model, pack([groups[i] for i in idx])).sequences
            out[idx] = seq.view(-1, 2)
    return out


def build_rows(
    evals: dict[str, dict], eval_dirs: dict[str, Path], margins: dict[str, float], k: int, long=is_long
) -> list[dict]:
    """One row per model from its evaluation report (first benchmark), style stats and pair margin."""
    rows = []
    for name, report in evals.items():
        (bench, summary), *_ = report["benchmarks"].items()
        row = {"name": name}
        for key in (
            "accuracy",
            "mean_tokens",
            "mean_tokens_correct",
            "truncated_share",
            f"pass@{k}",
            f"maj@{k}",
        ):
            row[key] = summary.get(key)
        row.update(style_stats(eval_dirs[name] / "samples" / f"{bench}.jsonl", long))
        row["pair_margin"] = margins.get(name)
        rows.append(row)
    return rows


def verdict(rows: Sequence[dict], samples: dict[str, Path] | None = None) -> dict[str, Any]:
    """ThinkPO against the control: differences in accuracy and mean tokens, and whether both are higher;
    with ``samples`` (model name -> its samples file) also the problem-paired standard errors of ThinkPO -
    control and of control - SFT (the latter: what more SFT alone changes)."""
    by = {r["name"]: r for r in rows}
    t, c = by["thinkpo"], by["sft-continued"]
    d_acc = t["accuracy"] - c["accuracy"]
    d_tok = t["mean_tokens"] - c["mean_tokens"]
    out = {
        "accuracy_vs_control": d_acc,
        "mean_tokens_vs_control": d_tok,
        "thinkpo_above_control": d_acc > 0 and d_tok > 0,
    }
    if samples:
        out["accuracy_vs_control_se"] = paired_accuracy(samples["thinkpo"], samples["sft-continued"])[1]
        d, se = paired_accuracy(samples["sft-continued"], samples["sft"])
        out["control_vs_sft"], out["control_vs_sft_se"] = d, se
    return out


def finish_report(
    out: Path,
    *,
    cfg: dict,
    recipe: dict,
    models: dict,
    evals: dict,
    runs: dict,
    pairs: dict,
    timings: dict,
    wall_seconds: float,
    load: tuple,
    log=print,
) -> dict[str, Any]:
    """Margins on the pairs, rows, verdict; write report.json, report.md and report.png; print the table."""
    k = cfg["eval_samples"]
    lp = {name: pair_logprobs(m, pairs["output"]) for name, m in models.items()}
    margins = {name: float((v[:, 0] - v[:, 1]).mean()) for name, v in lp.items()}
    from ponder.tasks.neighbour_sum import searched

    dirs = {name: out / "eval" / name for name in evals}
    rows = build_rows(evals, dirs, margins, k, searched)
    columns = [c.replace("@4", f"@{k}") for c in COLUMNS]
    table = markdown_table(rows, columns)
    bench = {name: next(iter(r["benchmarks"])) for name, r in evals.items()}
    result = verdict(rows, {name: dirs[name] / "samples" / f"{bench[name]}.jsonl" for name in evals})
    report = {
        "demo": "thinkpo",
        "seed": cfg["seed"],
        "rows": rows,
        "verdict": result,
        "pairs": {
            key: pairs.get(key)
            for key in ("kept", "dropped", "chosen_tokens", "rejected_tokens", "gap_tokens")
        },
        "training": {
            name: {"steps": r.get("steps"), "seconds": r.get("seconds"), "final": r.get("final")}
            for name, r in runs.items()
        },
        "reward_margin": {
            # DPO's implicit reward margin over the pairs against the SFT reference, per unit of beta
            name: margins[name] - margins["sft"]
            for name in margins
        },
        "wall_seconds": wall_seconds,
        "stage_seconds": timings,
        "load_average": {"start": list(load[0]), "end": list(load[1])},
        "models": models,
        "settings": cfg,
        "recipe": recipe,
    }
    write_json(out / "report.json", report)
    head = (
        f"ThinkPO demo, seed {cfg['seed']}: {cfg['test_problems']} held-out problems x {k} samples, "
        f"T {cfg['eval_temperature']}"
    )
    text = "\n".join([head, "", table, "", _verdict_line(result), _cost_line(wall_seconds, load)])
    write_text(out / "report.md", text + "\n")
    bar_plot(out / "report.png", rows, ["accuracy", "mean_tokens", "long_share"], title=head)
    log(text)
    return report


def _verdict_line(v: dict) -> str:
    word = "above" if v["thinkpo_above_control"] else "NOT above"
    se = f" (paired SE {v['accuracy_vs_control_se']:.3f})" if "accuracy_vs_control_se" in v else ""
    return (
        f"ThinkPO vs SFT continued: accuracy {v['accuracy_vs_control']:+.3f}{se}, mean tokens "
        f"{v['mean_tokens_vs_control']:+.1f} -> {word} the control in accuracy and length"
    )


def _cost_line(seconds: float, load: tuple) -> str:
    return (
        f"wall time {seconds / 60:.1f} min; load average {load[0][0]:.2f} at start, {load[1][0]:.2f} at end "
        f"({os.cpu_count()} cores)"
    )

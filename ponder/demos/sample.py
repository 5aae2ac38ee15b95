"""``ponder demo sample``: build a tiny model, sample it on synthetic problems, report per task family.

Everything is real and offline: a nano Qwen2 model with random weights and ponder's own tokenizer, the three
synthetic families, and the hf backend writing resumable sample files. The model is untrained, so the text is
noise; what the demo shows is the machinery end to end and its speed on this machine.

Outputs in ``OUT``: ``model/``, ``problems-FAMILY.jsonl``, ``samples-FAMILY.jsonl`` and ``report.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.generation.stage import load_prompts, run_generate
from ponder.io import write_json, write_records
from ponder.models.tiny import build_tiny_model, count_parameters
from ponder.records import read_samples
from ponder.tasks.synthetic import FAMILIES, make

COLUMNS = ("family", "problems", "samples", "mean_tokens", "eos_share", "tokens_per_s")


def run_sample_demo(
    out: str | Path,
    seed: int = 0,
    *,
    preset: str = "nano",
    problems_per_family: int = 8,
    samples_per_prompt: int = 4,
    max_new_tokens: int = 48,
    batch_size: int = 64,
    threads: int = 1,
) -> dict[str, Any]:
    """Run the demo into ``out``; return the report (also written to ``out/report.json``).

    ``threads``: torch CPU threads. One by default: the nano model's matrices are too small to gain from more,
    and on a machine busy with other jobs two threads were measured 5-40x slower than one.
    """
    import torch

    torch.set_num_threads(threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model_dir = build_tiny_model(out / "model", preset, seed)
    generator = HFGenerator(model_dir, batch_size=batch_size)
    params = SamplingParams(
        n=samples_per_prompt, temperature=1.0, top_p=1.0, max_new_tokens=max_new_tokens, seed=seed
    )
    rows = []
    total_tokens = 0
    for family in FAMILIES:
        problems_path = out / f"problems-{family}.jsonl"
        samples_path = out / f"samples-{family}.jsonl"
        write_records(problems_path, make(family, problems_per_family, seed))
        samples_path.unlink(missing_ok=True)  # a fresh run each time, so the speed column is measured
        summary = run_generate(generator, load_prompts(problems_path), samples_path, params, desc=family)
        samples = list(read_samples(samples_path))
        counts = [t for s in samples for t in s.num_tokens]
        reasons = [r for s in samples for r in s.finish_reasons]
        total_tokens += sum(counts)
        rows.append(
            {
                "family": family,
                "problems": len(samples),
                "samples": len(counts),
                "mean_tokens": round(sum(counts) / len(counts), 1),
                "eos_share": round(reasons.count("stop") / len(reasons), 3),
                "tokens_per_s": round(summary["tokens_per_s"], 1),
            }
        )
    report = {
        "demo": "sample",
        "seed": seed,
        "threads": threads,
        "model": {"preset": preset, "parameters": count_parameters(preset), "path": str(model_dir)},
        "sampling": {
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_new_tokens": params.max_new_tokens,
        },
        "families": rows,
        "generated_tokens": total_tokens,
    }
    write_json(out / "report.json", report)
    return report


def format_report(report: dict[str, Any]) -> str:
    """What ``ponder demo sample`` prints: the model and sampling, then a table per family."""
    m = report["model"]
    return (
        f"model: {m['preset']} ({m['parameters']:,} parameters, random weights); "
        f"{report['sampling']['n']} samples per problem, up to {report['sampling']['max_new_tokens']} tokens\n"
        + format_table(report["families"])
    )


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of the report's rows (one line per family)."""
    cells = [list(COLUMNS)] + [[str(r[c]) for c in COLUMNS] for r in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(COLUMNS))]
    lines = [
        "  ".join(
            v.ljust(w) if k == 0 else v.rjust(w) for k, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

"""``ponder eval`` and ``ponder eval compare``."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import app, quiet
from ponder.cli.options import settings
from ponder.eval.stage import EvalSettings
from ponder.generation.backend import BackendSettings

eval_app = typer.Typer(invoke_without_command=True, add_completion=False, rich_markup_mode=None)
app.add_typer(eval_app, name="eval")


@eval_app.callback()
@settings(eval=EvalSettings, backend=BackendSettings)
def evaluate(
    ctx: typer.Context,
    model: str | None = typer.Option(
        None, "--model", "-m", help="Model folder or hub name (hf, vllm); the served name (openai)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Run folder (report.json/md/png, samples/); resumed if present."
    ),
    *,
    eval: EvalSettings,  # noqa: A002 -- the section's name in every config
    backend: BackendSettings,
) -> None:
    """Sample n answers per problem, grade them, and write report.json, report.md and report.png.

    With --thinker (or --thinker-fast) each answer comes from Thinker's inference chain (or its Fast Thinking
    stage alone) and the report adds tokens per stage.

    Example: ponder eval --model runs/sft --benchmarks test.jsonl,gsm.jsonl:number --n 4 --temperature 0.7 --out runs/eval/sft
    """
    if ctx.invoked_subcommand is not None:
        return
    from ponder.eval.runner import render_markdown
    from ponder.eval.stage import evaluate_model

    quiet()
    report = evaluate_model(model, out, eval, backend)
    typer.echo(render_markdown(report))
    typer.echo(f"report: {out / 'report.json'}")


@eval_app.command("compare")
def eval_compare(
    runs: list[Path] = typer.Argument(..., help="Run folders (or report.json files), first = before."),
    metrics: str = typer.Option("accuracy,mean_tokens", help="Comma-separated metrics to compare."),
) -> None:
    """Print a before/after table: each metric per benchmark, one column per run, change in percent.

    Example: ponder eval compare runs/eval/sft runs/eval/thinkpo
    """
    from ponder.eval.runner import compare_runs

    typer.echo(compare_runs(runs, [m.strip() for m in metrics.split(",") if m.strip()]))

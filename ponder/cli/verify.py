"""``ponder grade`` and ``ponder exec``: answers and programs checked."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import app
from ponder.cli.options import input_option, output_option, settings
from ponder.verify.exec_stage import ExecSettings
from ponder.verify.grade_stage import GradeSettings


@app.command("grade")
@settings(grade=GradeSettings)
def grade(
    input_path: Path = typer.Option(
        None, "--input", "-i", help="Samples file to grade (.jsonl or .parquet)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Graded samples file to write (resumable)."),
    pred: str = typer.Option(None, "--pred", help="Grade one response (or answer) against --gold instead."),
    gold: str = typer.Option(None, "--gold", help="The gold answer for --pred."),
    *,
    grade: GradeSettings,
) -> None:
    """Add preds[], correct[] (with a gold answer) and the majority vote to every sample; or grade one
    --pred against --gold and print the verdict as JSON.

    Example: ponder grade --input samples.jsonl --output graded.jsonl --rule math --workers 2
    """
    from ponder.verify.grade_stage import grade_command

    typer.echo(grade_command(grade, input_path, output, pred, gold))


@app.command("exec")
@settings(run=ExecSettings)
def exec_programs(
    input: Path = input_option(
        "Programs: JSONL/Parquet records {id, source, tests, mode?, entry_point?, timeout_s?, memory_mb?}."
    ),
    output: Path = output_option("Results file to write (resumable: finished ids are skipped)."),
    *,
    run: ExecSettings,
) -> None:
    """Run programs on their tests in the sandbox; write one result record per program.

    Example: ponder exec --input programs.jsonl --output results.jsonl --workers 2
    """
    from ponder.verify.exec_stage import exec_command

    typer.echo(exec_command(input, output, run))

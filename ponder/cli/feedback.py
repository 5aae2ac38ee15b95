"""``ponder label`` and ``ponder tests generate``: pseudo feedback for math and code."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import app, group, quiet
from ponder.cli.options import (
    input_option,
    model_option,
    output_option,
    settings,
    summary_option,
    summary_text,
)
from ponder.feedback.labels import LabelSettings
from ponder.feedback.test_inputs_stage import InputSettings
from ponder.generation.backend import BackendSettings


@app.command("label")
@settings(label=LabelSettings)
def label(
    input_path: Path = input_option("Samples file (ponder generate output)."),
    output: Path = output_option("Labelled samples to write (resumable)."),
    *,
    label: LabelSettings,
) -> None:
    """Label sampled solutions by gold answers or by the majority vote of the samples (PFPO pseudo labels).

    Every problem is written; those not kept have label null and a drop_reason. Saves NAME.summary.json.

    Example: ponder label --input samples.jsonl --output labelled.jsonl --by vote --min-vote-share 0.5
    """
    from ponder.feedback.labels import label_file

    typer.echo("\n".join(label_file(input_path, output, label).lines()))


tests_app = group("tests", "Test inputs for code problems (PFPO's pseudo tests).")


@tests_app.command("generate")
@settings(inputs=InputSettings, backend=BackendSettings)
def tests_generate(
    input: Path = input_option("Problems file (.jsonl or .parquet)."),
    output: Path = output_option("Problems with meta.test_inputs (resumable)."),
    model: str | None = model_option(
        required=False, help="Model that writes the inputs (folder, hub name, or served name)."
    ),
    summary: Path | None = summary_option(),
    *,
    inputs: InputSettings,
    backend: BackendSettings,
) -> None:
    """Write test inputs for code problems: a model writes them (JSON, parsed and repaired), or the task's sampler.

    Example: ponder tests generate --backend openai --base-url http://127.0.0.1:8000/v1 --model gpt-4o --input problems.jsonl --output with_inputs.jsonl
    """
    from ponder.feedback.test_inputs_stage import generate_test_inputs

    quiet()
    s = generate_test_inputs(input, output, inputs, model=model, backend=backend, summary_file=summary)
    typer.echo(summary_text(s))

"""``ponder thinker infer``: the Thinker inference chain over a problem file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ponder.cli import group, quiet
from ponder.cli.options import input_option, model_option, output_option, settings
from ponder.env.infer import InferSettings
from ponder.generation.backend import BackendSettings

thinker_app = group("thinker", "The Thinker task: the four-stage inference chain.")


@thinker_app.command("infer")
@settings(infer=InferSettings, backend=BackendSettings)
def thinker_infer(
    overrides: list[str] = typer.Argument(
        None, help="Thinker task overrides as key=value, e.g. fast_budget_tokens=512.", show_default=False
    ),
    model: str = model_option(help="Model folder or hub name (the served name for openai)."),
    input: Path = input_option("Problems (.jsonl or .parquet); gold answers are optional."),
    output: Path = output_option("Episodes file to write (resumable)."),
    config: Path = typer.Option(
        None,
        "--config",
        help="YAML with the Thinker task fields, or a recipe config with a thinker: section.",
    ),
    *,
    infer: InferSettings,
    backend: BackendSettings,
) -> None:
    """Run the Thinker inference chain: Fast Thinking, Verification, and on No Slow Thinking and Summarization.

    Writes one Episode record per dialogue (every stage's prompt, answer, tokens and verdict) and prints
    the accuracy of the final answers (when the problems have gold answers) and the mean tokens per stage.

    Example: ponder thinker infer --model runs/rl/model --input test.jsonl --output episodes.jsonl --n 4 fast_budget_tokens=512
    """
    from ponder.env.infer import infer_file
    from ponder.env.thinker import load_env_config

    env = load_env_config(str(config) if config else None, overrides or [])
    quiet()
    typer.echo(json.dumps(infer_file(input, output, model, infer, env=env, backend=backend), indent=2))

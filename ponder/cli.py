"""The ``ponder`` command line: thin wrappers that parse options and call a stage or a recipe.

Errors caused by input (bad files, bad config) print one line ``ponder: error: ...`` and exit with 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ponder.errors import PonderError

app = typer.Typer(
    name="ponder",
    help="Post-training language models to reason better: ThinkPO, PFPO and Thinker.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _quiet_transformers() -> None:
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


@app.command("tiny-model")
def tiny_model(
    out_dir: Path = typer.Argument(..., help="Folder to write the model and tokenizer to."),
    preset: str = typer.Option("nano", help="Size: nano (~0.5M params), micro (~3M), small (~20M)."),
    seed: int = typer.Option(0, help="Seed for the random weights (same seed, same model)."),
) -> None:
    """Build a tiny randomly initialised Qwen2 model with a locally trained tokenizer.

    Example: ponder tiny-model runs/tiny --preset nano --seed 0
    """
    from ponder.models.tiny import PRESETS, build_tiny_model, count_parameters

    if preset not in PRESETS:
        raise PonderError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    _quiet_transformers()
    out = build_tiny_model(out_dir, preset, seed)
    typer.echo(f"wrote {preset} model ({count_parameters(preset):,} parameters) to {out}")


@app.command("synth")
def synth(
    family: str = typer.Argument(..., help="Task family: arithmetic, linear or code."),
    output: Path = typer.Option(..., "--output", "-o", help="Problems file to write (.jsonl or .parquet)."),
    n: int = typer.Option(100, help="Number of problems."),
    seed: int = typer.Option(0, help="Seed (same seed, same problems)."),
    knob: list[str] = typer.Option([], "--knob", "-k", help="Difficulty knob as key=value, e.g. -k max_ops=5."),
) -> None:
    """Write synthetic problems (gold answer, long and short solutions in meta, tests for code).

    Example: ponder synth arithmetic --n 200 --seed 1 -k max_ops=5 --output problems.jsonl
    """
    import inspect

    import yaml

    from ponder.io import write_records
    from ponder.tasks.synthetic import FAMILIES, make

    if family not in FAMILIES:
        raise PonderError(f"unknown task family {family!r}; choose one of {', '.join(FAMILIES)}")
    params = inspect.signature(FAMILIES[family]).parameters
    knobs = {}
    for item in knob:
        key, sep, val = item.partition("=")
        if not sep or key not in params or params[key].kind is not inspect.Parameter.KEYWORD_ONLY:
            known = [k for k, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY]
            raise PonderError(f"--knob {item!r}: expected key=value with key one of {', '.join(known)}")
        knobs[key] = yaml.safe_load(val)
    count = write_records(output, make(family, n, seed, **knobs))
    typer.echo(f"wrote {count} {family} problems to {output}")


@app.command("check")
def check(
    path: Path = typer.Argument(..., help="A record file (.jsonl or .parquet)."),
    kind: str = typer.Option("problem", help="Record kind: problem, sample, pair or episode."),
) -> None:
    """Validate a record file; print the record count, or one line naming the bad line and field.

    Example: ponder check problems.jsonl --kind problem
    """
    from ponder import records

    kinds = {"problem": records.Problem, "sample": records.Sample, "pair": records.Pair, "episode": records.Episode}
    if kind not in kinds:
        raise PonderError(f"--kind: unknown record kind {kind!r}; choose one of {', '.join(kinds)}")
    n = records.validate_file(path, kinds[kind])
    typer.echo(f"{path}: {n} valid {kind} records")


train_app = typer.Typer(
    help="Train a model: supervised fine-tuning or DPO-family preference optimisation.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
app.add_typer(train_app, name="train")

_OVERRIDES_HELP = "Config overrides as key=value (see --show-config), e.g. lr=1e-6 beta=0.1."


@train_app.command("sft")
def train_sft(
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP, show_default=False),
    model: str = typer.Option(None, "--model", help="Model to start from (folder or hub name)."),
    data: list[str] = typer.Option(None, "--data", help="Training file, PATH or PATH:RATIO; repeat to mix."),
    output: Path = typer.Option(None, "--output", "-o", help="Run folder to write."),
    config: Path = typer.Option(None, "--config", help="YAML config file (fields of --show-config)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its latest checkpoint."),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """Supervised fine-tuning on prompt-completion, conversational, sample or pair files (packed, no padding).

    Writes OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in
    OUTPUT/model. Multi-process: torchrun --nproc_per_node N -m ponder train sft ... (see docs/training.md).

    Example: ponder train sft --model runs/tiny --data sft.jsonl --output runs/sft lr=1e-4 epochs=2
    """
    from ponder.recipes import sft

    _train(sft.SFTConfig, sft.run, overrides, config, show_config, model=model, data=data, output=output,
           resume=resume or None)


@train_app.command("dpo")
def train_dpo(
    overrides: list[str] = typer.Argument(None, help=_OVERRIDES_HELP, show_default=False),
    model: str = typer.Option(None, "--model", help="Policy to start from (folder or hub name)."),
    ref_model: str = typer.Option(None, "--ref-model", help="Reference model (default: the starting policy)."),
    data: list[str] = typer.Option(None, "--data", help="Pair file, PATH or PATH:RATIO; repeat (or comma-join) "
                                                        "to mix, e.g. --data new.jsonl:1.0 --data old.jsonl:0.5."),
    output: Path = typer.Option(None, "--output", "-o", help="Run folder to write."),
    config: Path = typer.Option(None, "--config", help="YAML config file (fields of --show-config)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --output from its latest checkpoint."),
    show_config: bool = typer.Option(False, "--show-config", help="Print every config field and exit."),
) -> None:
    """DPO-family training (sigmoid/cDPO, rDPO, IPO, hinge, + SFT term) on preference pairs.

    Pairs are packed without padding and each prompt is computed once for chosen and rejected. Writes
    OUTPUT/metrics.jsonl, tensorboard/, checkpoints/ (with save_every) and the final model in OUTPUT/model.

    Example: ponder train dpo --model runs/sft/model --data pairs.jsonl --output runs/dpo beta=0.1 lr=1e-6
    """
    from ponder.recipes import dpo

    _train(dpo.DPOConfig, dpo.run, overrides, config, show_config, model=model, ref_model=ref_model, data=data,
           output=output, resume=resume or None)


def _train(cls, run, overrides, config_path, show_config, **values) -> None:
    from ponder.config import describe, load_config
    from ponder.train import distributed

    if show_config:
        typer.echo(describe(cls))
        return
    values = {k: (str(v) if isinstance(v, Path) else v) for k, v in values.items() if v not in (None, [])}
    cfg = load_config(cls, config_path, overrides or [], **values)
    summary = run(cfg)
    final = summary.get("final") or {}
    if final and distributed.is_main_process():
        typer.echo(f"step {final['step']}: loss {final['loss']:.4f}; model written to {summary['model']}")
    distributed.shutdown()


def main() -> None:
    try:
        app()
    except PonderError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)

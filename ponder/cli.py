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
    knob: list[str] = typer.Option(
        [], "--knob", "-k", help="Difficulty knob as key=value, e.g. -k max_ops=5."
    ),
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

    kinds = {
        "problem": records.Problem,
        "sample": records.Sample,
        "pair": records.Pair,
        "episode": records.Episode,
    }
    if kind not in kinds:
        raise PonderError(f"--kind: unknown record kind {kind!r}; choose one of {', '.join(kinds)}")
    n = records.validate_file(path, kinds[kind])
    typer.echo(f"{path}: {n} valid {kind} records")


@app.command("exec")
def exec_programs(
    input: Path = typer.Option(
        ...,
        "--input",
        "-i",
        help="Programs: JSONL/Parquet records {id, source, tests, mode?, entry_point?, timeout_s?, memory_mb?}.",
    ),
    output: Path = typer.Option(
        ..., "--output", "-o", help="Results file to write (resumable: finished ids are skipped)."
    ),
    workers: int = typer.Option(0, help="Sandbox workers (0: one per CPU core)."),
    record_outputs: bool = typer.Option(
        False,
        "--record-outputs",
        help="Record what each program prints or returns instead of checking expected outputs.",
    ),
    timeout_s: float = typer.Option(5.0, help="Wall-clock limit per test in seconds (records may set their own)."),
    memory_mb: int = typer.Option(512, help="Memory limit per program in MiB (records may set their own)."),
    isolation: str = typer.Option("auto", help="auto (namespaces, else rlimits with a warning), namespaces or rlimits."),
) -> None:
    """Run programs on their tests in the sandbox; write one result record per program.

    Example: ponder exec --input programs.jsonl --output results.jsonl --workers 2
    """
    from ponder.verify.exec_stage import exec_command

    typer.echo(exec_command(input, output, workers, record_outputs, timeout_s, memory_mb, isolation))


@app.command("grade")
def grade(
    input_path: Path = typer.Option(
        None, "--input", "-i", help="Samples file to grade (.jsonl or .parquet)."
    ),
    output: Path = typer.Option(None, "--output", "-o", help="Graded samples file to write (resumable)."),
    rule: str = typer.Option("math", help="Grading rule: math, boxed, number or choice."),
    workers: int = typer.Option(0, help="Processes to grade with (0: one per CPU core)."),
    pred: str = typer.Option(None, "--pred", help="Grade one response (or answer) against --gold instead."),
    gold: str = typer.Option(None, "--gold", help="The gold answer for --pred."),
) -> None:
    """Add preds[], correct[] (with a gold answer) and the majority vote to every sample; or grade one
    --pred against --gold and print the verdict as JSON.

    Example: ponder grade --input samples.jsonl --output graded.jsonl --rule math --workers 2
    """
    import json

    from ponder.verify.rules import RULES, grade_with

    if pred is not None or gold is not None:
        if pred is None or gold is None or input_path is not None or output is not None:
            raise PonderError("--pred and --gold go together, without --input/--output")
        if rule not in RULES:
            raise PonderError(f"--rule: unknown grading rule {rule!r}; choose one of {', '.join(RULES)}")
        typer.echo(json.dumps(grade_with(rule, pred, gold).to_dict(), ensure_ascii=False))
        return
    if input_path is None or output is None:
        raise PonderError("give --input and --output (or --pred and --gold)")
    from ponder.verify.grade_stage import grade_file

    s = grade_file(input_path, output, rule=rule, workers=workers)
    line = f"graded {s.samples} samples to {output}"
    if s.resumed:
        line += f" ({s.resumed} already done)"
    if s.responses_with_gold:
        line += f"; accuracy {s.accuracy:.4f} over {s.responses_with_gold} responses"
        line += f", vote accuracy {s.vote_accuracy:.4f} over {s.samples_with_gold} samples"
    typer.echo(line)


# --------------------------------------------------------------------------- ThinkPO

pairs_app = typer.Typer(help="Build preference pairs (ThinkPO, PFPO).", no_args_is_help=True)
app.add_typer(pairs_app, name="pairs")


@pairs_app.command("thinkpo")
def pairs_thinkpo(
    long: Path = typer.Option(
        ...,
        "--long",
        help="Long solutions: samples, prompt-completion, messages or problems (meta.long) records.",
    ),
    short: Path = typer.Option(
        ..., "--short", help="Short samples of the same prompts (e.g. from ponder generate)."
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Pairs file to write (TRL format; resumable)."),
    tokenizer: str = typer.Option(
        None, help="Tokenizer (model folder) to count tokens; default: the files' num_tokens."
    ),
    min_gap_tokens: int = typer.Option(1, help="Smallest chosen-minus-rejected length in tokens."),
    max_gap_tokens: int = typer.Option(
        None, help="Largest chosen-minus-rejected length in tokens (default: none)."
    ),
    wrong_short_share: float = typer.Option(
        0.0, help="Share of pairs that may have a wrong short answer (paper: 0.2)."
    ),
    seed: int = typer.Option(0, help="Seed for drawing wrong-short pairs."),
    conversational: bool = typer.Option(False, help="Write chat messages even for text prompts."),
    workers: int = typer.Option(1, help="Processes grading answers (0: one per core)."),
) -> None:
    """ThinkPO pairs: long solution chosen, short sample with the same (gold) answer rejected; prints and saves
    a summary (kept/dropped per reason, length-gap histogram) next to the output.

    Example: ponder pairs thinkpo --long sft.jsonl --short short.jsonl --output pairs.jsonl --tokenizer runs/sft/model
    """
    from ponder.pairs.thinkpo import PairSettings, format_summary, hf_token_counter
    from ponder.pairs.thinkpo_stage import build_thinkpo_pairs

    try:
        settings = PairSettings(
            min_gap_tokens=min_gap_tokens,
            max_gap_tokens=max_gap_tokens,
            wrong_short_share=wrong_short_share,
            seed=seed,
        )
    except ValueError as e:
        raise PonderError(str(e)) from None
    counter = None
    if tokenizer is not None:
        _quiet_transformers()
        counter = hf_token_counter(tokenizer)
    summary = build_thinkpo_pairs(
        long, short, output, settings, token_counter=counter, conversational=conversational, workers=workers
    )
    typer.echo(format_summary(summary))
    typer.echo(f"wrote {summary['kept']} pairs to {output}; summary {summary['summary_path']}")


def main() -> None:
    try:
        app()
    except PonderError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)

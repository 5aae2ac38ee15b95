"""``ponder pairs {thinkpo,outcome,process,code,code-process}``: preference pairs in TRL's format."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import group, quiet
from ponder.cli.options import (
    input_option,
    model_option,
    output_option,
    settings,
    summary_option,
    summary_text,
)
from ponder.generation.backend import BackendSettings
from ponder.pairs.code_process_stage import CodeProcessSettings
from ponder.pairs.code_stage import CodePairSettings
from ponder.pairs.outcome import OutcomeSettings
from ponder.pairs.process import ProcessSettings
from ponder.pairs.thinkpo import ThinkPOPairSettings

pairs_app = group("pairs", "Build preference pairs (TRL format): ThinkPO, PFPO outcome and process pairs.")


@pairs_app.command("thinkpo")
@settings(pairs=ThinkPOPairSettings)
def pairs_thinkpo(
    long: Path = typer.Option(
        ..., help="Long solutions: samples, prompt-completion, messages or problems (meta.long) records."
    ),
    short: Path = typer.Option(..., help="Short samples of the same prompts (e.g. from ponder generate)."),
    output: Path = output_option("Pairs file to write (TRL format; resumable)."),
    tokenizer: str = typer.Option(
        None, help="Tokenizer (model folder) to count tokens; default: the files' num_tokens."
    ),
    *,
    pairs: ThinkPOPairSettings,
) -> None:
    """ThinkPO pairs: long solution chosen, short sample with the same (gold) answer rejected; prints and saves
    a summary (kept/dropped per reason, length-gap histogram) next to the output.

    Example: ponder pairs thinkpo --long sft.jsonl --short short.jsonl --output pairs.jsonl --tokenizer runs/sft/model
    """
    from ponder.pairs.thinkpo import format_summary
    from ponder.pairs.thinkpo_stage import build_thinkpo_pairs

    quiet()
    summary = build_thinkpo_pairs(long, short, output, pairs, tokenizer=tokenizer)
    typer.echo(format_summary(summary))
    typer.echo(f"wrote {summary['kept']} pairs to {output}; summary {summary['summary_path']}")


@pairs_app.command("outcome")
@settings(pairs=OutcomeSettings)
def pairs_outcome(
    input_path: Path = input_option("Labelled samples (ponder label output)."),
    output: Path = output_option("Pairs file to write."),
    *,
    pairs: OutcomeSettings,
) -> None:
    """Outcome pairs: responses that reach the label against those that do not (PFPO outcome DPO).

    Example: ponder pairs outcome --input labelled.jsonl --output pairs_outcome.jsonl --pairing each_positive
    """
    from ponder.pairs.outcome import build_outcome_pairs

    typer.echo("\n".join(build_outcome_pairs(input_path, output, pairs).lines()))


@pairs_app.command("process")
@settings(pairs=ProcessSettings, backend=BackendSettings)
def pairs_process(
    input_path: Path = input_option("Labelled samples (ponder label output)."),
    output: Path = output_option("Pairs file; NAME.completions.jsonl is kept beside it."),
    model: str = model_option(help="Model that completes the prefixes (the sampling model)."),
    *,
    pairs: ProcessSettings,
    backend: BackendSettings,
) -> None:
    """Process pairs (pDPO): cut sampled solutions into prefixes, complete each prefix with the model,
    value it by the completions that reach the label, pair high-value against low-value prefixes.

    Example: ponder pairs process --input labelled.jsonl --output pairs_process.jsonl --model runs/sft/model
    """
    from ponder.pairs.process import build_process_pairs

    quiet()
    typer.echo("\n".join(build_process_pairs(input_path, output, model, pairs, backend=backend).lines()))


@pairs_app.command("code")
@settings(pairs=CodePairSettings)
def pairs_code(
    problems: Path = typer.Option(..., help="Problems with meta.test_inputs (pseudo) or tests (gold)."),
    samples: Path = typer.Option(..., help="Sampled responses (ponder generate output), joined by id."),
    output: Path = output_option("Pair file to write."),
    scores: Path | None = typer.Option(
        None, help="Per-problem scores file, resumable (default: OUTPUT.scores.jsonl)."
    ),
    summary: Path | None = summary_option(),
    *,
    pairs: CodePairSettings,
) -> None:
    """Run every sampled program on the test inputs, vote pseudo outputs, and pair programs by pass counts.

    Example: ponder pairs code --problems with_inputs.jsonl --samples samples.jsonl --output pairs.jsonl --margin 6 --min-success 5
    """
    from ponder.pairs.code_stage import run_code_pairs

    s = run_code_pairs(problems, samples, output, pairs, scores_path=scores, summary_file=summary)
    typer.echo(summary_text(s))


@pairs_app.command("code-process")
@settings(pairs=CodeProcessSettings, backend=BackendSettings)
def pairs_code_process(
    problems: Path = typer.Option(..., help="Problems (with tests for --labels gold)."),
    samples: Path = typer.Option(..., help="Sampled responses whose prefixes are cut (joined by id)."),
    output: Path = output_option("Prefix-pair file to write (meta.prefix: true)."),
    model: str = model_option(help="Policy that completes the prefixes."),
    scores: Path | None = typer.Option(
        None, help="Scores file of `ponder pairs code` (its pseudo tests value completions)."
    ),
    values: Path | None = typer.Option(
        None, help="Per-problem prefix values, resumable (default: OUTPUT.values.jsonl)."
    ),
    summary: Path | None = summary_option(),
    *,
    pairs: CodeProcessSettings,
    backend: BackendSettings,
) -> None:
    """Code pDPO: cut sampled programs into prefixes, value each by the tests its completions pass, pair them.

    Example: ponder pairs code-process --problems with_inputs.jsonl --samples samples.jsonl --scores pairs.scores.jsonl --model runs/sft/model --output prefix_pairs.jsonl
    """
    from ponder.pairs.code_process_stage import code_process_file

    quiet()
    s = code_process_file(
        problems,
        samples,
        output,
        model,
        pairs,
        backend,
        scores_path=scores,
        values_path=values,
        summary_file=summary,
    )
    typer.echo(summary_text(s))

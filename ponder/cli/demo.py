"""``ponder demo {sample,thinkpo,thinkpo-real,pfpo,pfpo-code,thinker}``: the miniatures, each writing OUT/report.json."""

from __future__ import annotations

from pathlib import Path

import typer

from ponder.cli import group, quiet
from ponder.cli.options import show_config_option

demo_app = group("demo", "End-to-end demos on tiny models; each writes OUT/report.json.")


def out_option(default: str, help: str) -> Path:  # noqa: A002
    return typer.Option(Path(default), help=help)


@demo_app.command("sample")
def demo_sample(
    out: Path = out_option("runs/demo", "Folder for the model, problems, samples and report.json."),
    seed: int = typer.Option(0, help="Seed for the model, the problems and the sampling."),
) -> None:
    """Build a tiny model, sample it on synthetic problems of every family, print a table per family.

    Example: ponder demo sample --out runs/demo --seed 0
    """
    from ponder.demos.sample import format_report, run_sample_demo

    quiet()
    typer.echo(format_report(run_sample_demo(out, seed)))
    typer.echo(f"report: {Path(out) / 'report.json'}")


@demo_app.command("thinkpo")
def demo_thinkpo(
    overrides: list[str] = typer.Argument(
        None,
        help="Demo settings as key=value (see --show-config); recipe settings as thinkpo.KEY=VALUE "
        "(e.g. thinkpo.dpo.beta=0.05).",
        show_default=False,
    ),
    out: Path = out_option("runs/demo", "Folder for data, models, evaluations and report.json."),
    seed: int = typer.Option(0, help="Seed of the model, the data, training and sampling."),
    show_config: bool = show_config_option(),
) -> None:
    """ThinkPO end to end on a tiny model: SFT on long CoT of varying thoroughness, a separately trained short-CoT
    model's answers, pairs, ThinkPO, the control (SFT continued as many steps on the same data), evaluation of
    all three; prints the preconditions and the table, writes OUT/report.json.

    Example: ponder demo thinkpo --seed 1 --out runs/demo-1
    """
    from ponder.config import describe
    from ponder.demos.thinkpo import DemoConfig, demo_config, run_demo

    if show_config:
        typer.echo(describe(DemoConfig))
        return
    quiet()
    run_demo(out, demo_config(overrides or [], seed), log=typer.echo)
    typer.echo(f"report: {out / 'report.json'}")


@demo_app.command("thinkpo-real")
def demo_thinkpo_real(
    overrides: list[str] = typer.Argument(
        None,
        help="Settings as key=value (see --show-config); recipe settings as thinkpo.KEY=VALUE "
        "(e.g. thinkpo.sft.lr=2e-4).",
        show_default=False,
    ),
    out: Path = out_option("runs/thinkpo-real", "Folder for data, models, evaluations and report.json."),
    seed: int = typer.Option(100, help="Seed of the data, training and sampling (report seeds: 201-203)."),
    show_config: bool = show_config_option(),
) -> None:
    """ThinkPO on a real model (default runs/smollm2-135m, `make real-model`): long-CoT SFT, preconditions,
    ThinkPO, the step-matched SFT-continued control, greedy and sampled evaluation with paired differences.

    Example: ponder demo thinkpo-real --seed 201 --out runs/thinkpo-real-201
    """
    from ponder.config import describe
    from ponder.demos.thinkpo_real import RealConfig, real_config, run_real

    if show_config:
        typer.echo(describe(RealConfig))
        return
    quiet()
    run_real(out, real_config(overrides or [], seed), log=typer.echo)
    typer.echo(f"report: {out / 'report.json'}")


@demo_app.command("pfpo")
def demo_pfpo(
    out: Path = out_option("runs/demo-pfpo", "Folder for the models, the data, report.json and PNG."),
    seed: int = typer.Option(0, help="Seed of the model, the problems, sampling and training."),
    size: str = typer.Option("full", help="full (the documented demo) or smallest (a quick structural run)."),
    compare: bool = typer.Option(
        True,
        help="Also run the step-matched controls: outcome pairs only, gold labels, SFT on the chosen sides.",
    ),
) -> None:
    """Tiny model SFT on synthetic sums whose greedy answers follow a teacher's slip while the vote is right
    (the precondition, printed first), then two label-free PFPO iterations (gold answers are used for
    evaluation alone) and the controls. Prints the table; writes OUT/report.json.

    Example: ponder demo pfpo --seed 1 --out runs/demo-pfpo
    """
    from ponder.demos.pfpo import run_demo

    quiet()
    report = run_demo(out, seed=seed, size=size, compare=compare, log=lambda m: typer.echo(m, err=True))
    typer.echo(report["table"])
    typer.echo(f"report: {Path(out) / 'report.json'}")


@demo_app.command("pfpo-code")
def demo_pfpo_code(
    out: Path = out_option("runs/demo-pfpo-code", "Folder for models, data, pairs and report.json."),
    seed: int = typer.Option(0, help="Seed for the model, the problems, sampling and training."),
    size: str = typer.Option(
        "full", help="full (the documented demo) or smoke (a few-minute check of the machinery)."
    ),
) -> None:
    """PFPO for code on the pipeline family: the preconditions (greedy vs the pseudo-test vote) measured
    first, then one PFPO-code iteration beside gold-pair DPO and SFT on the chosen sides (equal steps).

    Example: ponder demo pfpo-code --seed 0 --out runs/demo-pfpo-code
    """
    from ponder.demos.pfpo_code import format_report, run_pfpo_code_demo

    quiet()
    report = run_pfpo_code_demo(out, seed, size=size)
    typer.echo(format_report(report))
    typer.echo(f"report: {Path(out) / 'report.json'}")


@demo_app.command("thinker")
def demo_thinker(
    seed: int = typer.Option(0, help="Seed of the tiny model, the problems and every sampling step."),
    out: Path = typer.Option(
        Path("runs/demo-thinker"), "--out", help="Folder for report.json, report.md, PNGs and runs."
    ),
    size: str = typer.Option(
        "full", help="full (the reported demo, about 15 minutes) or smoke (about 2 minutes)."
    ),
    threads: int = typer.Option(
        0, help="Torch CPU threads; 0 picks 1 or 2, whichever runs faster right now."
    ),
) -> None:
    """Thinker against the single-turn QA baseline on a tiny model, at equal RL token budgets.

    A tiny model learns the four stages and the single-turn answer by SFT on neighbour sums (checking an answer
    is one line, finding it a search), including Verification of its own sampled fast answers; the
    preconditions are printed; then each arm is trained with PPO on the same number of generated tokens and
    both are evaluated on held-out problems: baseline (single turn, also cut to the fast budget), thinker (the
    inference chain) and thinker-fast (Fast Thinking alone).

    Example: ponder demo thinker --seed 1 --out runs/demo-thinker-1
    """
    from ponder.demos.thinker import run_demo

    quiet()
    report = run_demo(seed=seed, out=out, size=size, threads=threads)
    typer.echo(report["table"])
    typer.echo(f"report: {out / 'report.json'}")

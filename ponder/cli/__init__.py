"""The ``ponder`` command line: parse options, call a stage or a recipe, print what it returns.

One module per command group; the options of every stage come from its settings dataclass
(:mod:`ponder.cli.options`), so commands hold no stage logic. Errors caused by input (bad files, bad config,
bad options) print one line ``ponder: error: ...`` and exit with 2.
"""

from __future__ import annotations

import os
import sys

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


COLUMNS_HELP = (
    "Rename input columns for this command, FIELD=COLUMN[,...] (e.g. prompt=question,answer=solution); "
    "may be given anywhere on the command line."
)


@app.callback()
def _options(columns: str = typer.Option("", "--columns", help=COLUMNS_HELP, show_default=False)) -> None:
    """Post-training language models to reason better: ThinkPO, PFPO and Thinker."""
    from ponder import sources

    sources.set_columns(sources.parse_columns(columns))


def lift_columns(argv: list[str]) -> list[str]:
    """``argv`` with ``--columns VALUE`` moved before the command (where the option belongs), so it may be
    given after the command's name like its own options."""
    rest, lifted = [], []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--" or a in ("--help", "-h"):
            rest.extend(argv[i:])
            break
        if a == "--columns" and i + 1 < len(argv):
            lifted += argv[i : i + 2]
            i += 2
            continue
        if a.startswith("--columns="):
            lifted.append(a)
        else:
            rest.append(a)
        i += 1
    return lifted + rest


def group(name: str, help: str, **kwargs) -> typer.Typer:  # noqa: A002
    """A sub-command group of ``ponder`` (``ponder pairs ...``)."""
    sub = typer.Typer(help=help, no_args_is_help=True, add_completion=False, rich_markup_mode=None, **kwargs)
    app.add_typer(sub, name=name)
    return sub


def quiet() -> None:
    """No per-file progress bars or info logs from transformers when a command loads a model."""
    from ponder.train.model import quiet_transformers

    quiet_transformers()


# The command modules register themselves on ``app`` (imported for that effect, in --help order).
from ponder.cli import (  # noqa: E402, F401
    data,
    demo,
    evaluate,
    feedback,
    generate,
    pairs,
    run,
    thinker,
    train,
    verify,
)

# typer's own click: a usage error (unknown option, a value outside its choices) becomes one line too
UsageError = typer.BadParameter.__mro__[1]


def main() -> None:
    from ponder import ranks

    if not ranks.is_main():  # several processes: process 0 prints the result; errors still reach stderr
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- for the life of the process
    try:
        code = app(args=lift_columns(sys.argv[1:]), prog_name="ponder", standalone_mode=False)
    except UsageError as e:
        if (
            type(e).__name__ == "NoArgsIsHelpError"
        ):  # `ponder` or `ponder pairs` alone: the help is the answer
            print(e.format_message(), file=sys.stderr)
            sys.exit(2)
        param = getattr(e, "param", None)
        if param is not None and getattr(param, "opts", None):
            message = f"{param.opts[0]}: {str(e.message).removeprefix('Value error, ')}"
        else:
            message = e.format_message()
        print(f"ponder: error: {message}", file=sys.stderr)
        sys.exit(2)
    except PonderError as e:
        print(f"ponder: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("ponder: interrupted", file=sys.stderr)
        sys.exit(130)
    ranks.finish(code or 0)
    sys.exit(code or 0)

"""Every ``ponder ...`` command shown in the README and the guides parses: the command exists and takes the
options and arguments written there (a renamed option would break them)."""

import re
import shlex
from pathlib import Path

import pytest
import typer

from ponder.cli import app, lift_columns
from ponder.sources import parse_columns

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(path: Path) -> list[tuple[int, str]]:
    """``(line, command)`` of every ``ponder`` command in the shell blocks of a Markdown file (continuation lines
    joined, comments and a trailing ``&`` dropped; placeholders with ``...`` skipped)."""
    out = []
    fenced, in_block, pending, start = False, False, "", 0
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.startswith("```"):  # a fence opens a block (shell or not) or closes the open one
            fenced = not fenced
            in_block = fenced and line.strip("`").strip() in ("sh", "bash", "")
            continue
        if not in_block:
            continue
        text = pending + line.split(" #", 1)[0].rstrip()
        if text.endswith("\\"):
            pending, start = text[:-1] + " ", start or k
            continue
        pending, first = "", start or k
        start = 0
        text = text.strip().removesuffix("&").strip()
        if text.startswith("ponder ") and "..." not in text and "$" not in text:
            out.append((first, text))
    return out


CASES = [(f"{p.name}:{k}", cmd) for p in DOCS for k, cmd in command_lines(p)]


def test_the_docs_show_commands():
    assert len(CASES) > 40


@pytest.mark.parametrize(("where", "cmd"), CASES, ids=[w for w, _ in CASES])
def test_documented_command_parses(where, cmd):
    args = lift_columns(shlex.split(cmd)[1:])
    while args and args[0].startswith("--columns"):  # the option of `ponder` itself, given anywhere
        parse_columns(args.pop(0).partition("=")[2] or args.pop(0))
    command = typer.main.get_command(app)
    path = ["ponder"]
    while getattr(command, "commands", None) and args and args[0] in command.commands:
        path.append(args[0])
        command = command.commands[args.pop(0)]
    assert not getattr(command, "commands", None) or not args or args[0].startswith("-"), f"{where}: {cmd}"
    command.make_context(" ".join(path), list(args))  # raises on an unknown option or a bad value
    assert re.fullmatch(r"[\w.\-/ ]+", " ".join(path))

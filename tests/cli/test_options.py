"""Every stage option on the command line is its settings dataclass's field: same name, default and help; a
value the dataclass refuses is one line naming the option."""

import dataclasses
import subprocess
import typing

import pytest
import typer

from ponder.cli import app
from ponder.cli.options import CONFIG_ATTR, SETTINGS_ATTR, build, flag_of, settings
from ponder.config import default_of, is_required, option
from ponder.errors import PonderError
from tests.helpers import ponder_cmd, subprocess_env


def _commands():
    """``(path, our function, click command)`` of every command."""
    root = typer.main.get_command(app)
    out = []

    def walk(t: typer.Typer, prefix: list[str], group):
        if t.registered_callback is not None and t.registered_callback.callback is not None and prefix:
            out.append((" ".join(prefix), t.registered_callback.callback, group))
        for info in t.registered_commands:
            name = info.name or info.callback.__name__.replace("_", "-")
            out.append((" ".join([*prefix, name]), info.callback, group.commands[name]))
        for g in t.registered_groups:
            walk(g.typer_instance, [*prefix, g.name], group.commands[g.name])

    walk(app, [], root)
    return out


COMMANDS = _commands()
WITH_SETTINGS = [(p, f, c) for p, f, c in COMMANDS if hasattr(f, SETTINGS_ATTR)]


def test_the_stage_commands_take_their_options_from_settings():
    paths = {p for p, _, _ in WITH_SETTINGS}
    stages = {"generate", "grade", "exec", "label", "tests generate", "eval", "thinker infer", "serve"}
    stages |= {f"pairs {k}" for k in ("thinkpo", "outcome", "process", "code", "code-process")}
    assert stages <= paths
    configs = {p for p, f, _ in COMMANDS if hasattr(f, CONFIG_ATTR)}
    assert configs == {"train sft", "train dpo", "train rl"}


@pytest.mark.parametrize(("path", "fn", "cmd"), WITH_SETTINGS, ids=[p for p, _, _ in WITH_SETTINGS])
def test_every_option_default_and_help_is_the_dataclass_fields(path, fn, cmd):
    params = {p.name: p for p in cmd.params}
    for cls, only in getattr(fn, SETTINGS_ATTR).values():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]) or (only is not None and f.name not in only):
                continue
            p = params[f.name]
            assert flag_of(f) in p.opts + p.secondary_opts, (path, f.name)
            assert p.help == f.metadata["help"] and p.help, (path, f.name)
            default = default_of(f)
            if typing.get_origin(hints[f.name]) is list and not f.metadata.get("repeat"):
                default = ",".join(map(str, default))
            assert p.required == is_required(f) and (p.required or p.default == default), (path, f.name)


@pytest.mark.parametrize(("path", "fn", "cmd"), [c for c in COMMANDS if hasattr(c[1], CONFIG_ATTR)])
def test_trainer_options_carry_the_config_fields_help(path, fn, cmd):
    cls, names = getattr(fn, CONFIG_ATTR)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    params = {p.name: p for p in cmd.params}
    for name in names:
        assert params[name].help == fields[name].metadata["help"]
        assert flag_of(fields[name]) in params[name].opts


@dataclasses.dataclass(frozen=True)
class Knobs:
    count: int = option(2, help="How many.")
    sizes: list[int] = option([1, 2], help="Sizes, comma-separated.")
    words: list[str] = option([], repeat=True, help="A word (repeatable).")
    strict: bool = option(True, flag="--strict/--lenient", help="Be strict.")

    def __post_init__(self):
        if self.count > max(self.sizes, default=0) + 10:
            raise ValueError(f"count must be at most max(sizes) + 10, got {self.count}")


def test_a_new_setting_is_one_field():
    """A command decorated with a dataclass gets one option per field, built back into the dataclass."""
    seen = []
    tiny = typer.Typer()

    @tiny.command()
    @settings(knobs=Knobs)
    def show(*, knobs: Knobs) -> None:
        seen.append(knobs)

    from typer.testing import CliRunner

    res = CliRunner().invoke(
        tiny, ["--count", "3", "--sizes", "4,5", "--words", "a", "--words", "b", "--lenient"]
    )
    assert res.exit_code == 0, res.output
    assert seen == [Knobs(count=3, sizes=[4, 5], words=["a", "b"], strict=False)]
    res = CliRunner().invoke(tiny, [])
    assert res.exit_code == 0 and seen[-1] == Knobs()


def test_a_refused_value_names_the_option():
    with pytest.raises(PonderError, match=r"^--count must be at most max\(--sizes\) \+ 10, got 30$"):
        build(Knobs, {"count": 30, "sizes": "1", "words": [], "strict": True})
    with pytest.raises(PonderError, match="--sizes"):
        build(Knobs, {"count": 1, "sizes": "x,y", "words": [], "strict": True})


def test_a_refused_value_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run(
        ponder_cmd(
            "pairs", "process", "-i", "in.jsonl", "-o", "out.jsonl", "-m", "m", "--value-threshold", "9"
        ),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "ponder: error: --value-threshold must be in [0, 3] (the completions per prefix), got 9"
    )

"""Command-line options made from the stages' settings dataclasses, and the options every command shares.

``@settings(process=ProcessSettings, backend=BackendSettings)`` on a command adds one option per field of each
dataclass -- its name (``--field-name``, or the field's ``flag``), its default and its help all come from the
field -- and hands the command one built dataclass per group (``process=ProcessSettings(...)``). A setting is
therefore declared once, next to its stage, and appears on the command line, in YAML and in ``key=value``
overrides alike. A value the dataclass refuses becomes one line naming the option.

List fields are one comma-separated option (``--k 1,4``), or an option given once per item when the field is
marked ``repeat`` (``--stop A --stop B``). Nested dataclasses (a recipe's sections) are not options.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import typing
from collections.abc import Callable
from typing import Any, get_args, get_origin

import typer

from ponder.config import coerce, default_of, is_required
from ponder.errors import ConfigError, PonderError

SETTINGS_ATTR = "__ponder_settings__"
CONFIG_ATTR = "__ponder_config__"


def flag_of(f: dataclasses.Field) -> str:
    """The command-line name of a field: its ``flag`` (first part of ``--on/--off``) or ``--field-name``."""
    return f.metadata.get("flag", "--" + f.name.replace("_", "-")).split("/")[0]


def _is_list(tp: Any) -> bool:
    return get_origin(tp) in (list, tuple)


def field_option(f: dataclasses.Field, tp: Any) -> tuple[Any, Any]:
    """``(annotation, typer.Option)`` of one settings field."""
    names = [f.metadata.get("flag", flag_of(f))] + ([f.metadata["short"]] if "short" in f.metadata else [])
    help_text = f.metadata.get("help", "")
    default = ... if is_required(f) else default_of(f)
    if _is_list(tp) and not f.metadata.get("repeat"):
        # one comma-separated value, parsed like a YAML/override value
        shown = None if default is ... else ",".join(map(str, default))
        return str | None, typer.Option(shown, *names, help=help_text)
    if _is_list(tp):
        return list[get_args(tp)[0]], typer.Option(default, *names, help=help_text)
    return tp, typer.Option(default, *names, help=help_text)


def _fields(cls: type, only: tuple[str, ...] | None) -> list[tuple[dataclasses.Field, Any]]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp) or (only is not None and f.name not in only):
            continue
        out.append((f, tp))
    return out


def _flagged(message: str, fields: list[tuple[dataclasses.Field, Any]]) -> str:
    """A dataclass's message about ``field_name`` as one about its option (``max_steps`` -> ``--max-steps``)."""
    for f, _ in fields:
        message = re.sub(rf"(?<![\w-]){f.name}(?!\w)", flag_of(f), message, count=1)
    return message


def build(cls: type, values: dict[str, Any], only: tuple[str, ...] | None = None) -> Any:
    """The dataclass from parsed option values; a refused value is a PonderError naming the option."""
    fields = _fields(cls, only)
    kwargs = {}
    for f, tp in fields:
        value = values[f.name]
        if _is_list(tp) and isinstance(value, str):
            try:
                value = coerce(value, tp, flag_of(f))
            except ConfigError as e:
                raise PonderError(str(e)) from None
        elif _is_list(tp) and value is not None:
            value = list(value)
        if value is None and _is_list(tp):
            continue  # not given: the field's default
        kwargs[f.name] = value
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise PonderError(_flagged(str(e), fields)) from None


def settings(**groups: type | tuple[type, tuple[str, ...]]) -> Callable:
    """Decorate a command: add the options of each settings dataclass (``name=Cls`` or ``name=(Cls, fields)``
    for some of its fields) and pass the command ``name=Cls(...)``. Options of two groups may not clash."""

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        own = [p for name, p in sig.parameters.items() if name not in groups]
        taken = {p.name for p in own}
        params = list(own)
        plan: dict[str, tuple[type, tuple[str, ...] | None]] = {}
        for group, spec in groups.items():
            cls, only = spec if isinstance(spec, tuple) else (spec, None)
            plan[group] = (cls, only)
            for f, tp in _fields(cls, only):
                if f.name in taken:
                    raise TypeError(f"{fn.__name__}: option {f.name!r} of {cls.__name__} is already taken")
                taken.add(f.name)
                annotation, opt = field_option(f, tp)
                params.append(
                    inspect.Parameter(
                        f.name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=annotation
                    )
                )

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            built = {}
            for group, (cls, only) in plan.items():
                names = [f.name for f, _ in _fields(cls, only)]
                built[group] = build(cls, {n: kwargs.pop(n) for n in names}, only)
            return fn(**kwargs, **built)

        command.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=sorted(params, key=lambda p: p.kind)
        )
        command.__annotations__ = {p.name: p.annotation for p in params}
        setattr(command, SETTINGS_ATTR, plan)
        return command

    return wrap


def from_config(cls: type, *names: str) -> Callable:
    """Decorate a command that loads ``cls`` from ``--config`` and ``key=value`` overrides: add an option for
    each named field (help from the field; not given = the config's value) and pass them as ``given``."""

    def wrap(fn: Callable) -> Callable:
        sig = inspect.signature(fn)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        params = [p for n, p in sig.parameters.items() if n != "given"]
        for name in names:
            f, tp = fields[name], hints[name]
            opts = [flag_of(f)] + ([f.metadata["short"]] if "short" in f.metadata else [])
            if tp is bool:
                annotation, default = bool, False
            elif _is_list(tp):
                annotation, default = list[str] | None, None
            else:
                annotation, default = str | None, None
            opt = typer.Option(default, *opts, help=f.metadata.get("help", ""), show_default=False)
            params.append(
                inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=opt, annotation=annotation)
            )

        @functools.wraps(fn)
        def command(**kwargs: Any) -> Any:
            given = {n: kwargs.pop(n) for n in names}
            given = {n: v for n, v in given.items() if v not in (None, False, [])}
            return fn(**kwargs, given=given)

        command.__signature__ = sig.replace(parameters=sorted(params, key=lambda p: p.kind))  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params}
        setattr(command, CONFIG_ATTR, (cls, names))
        return command

    return wrap


# --------------------------------------------------------------------------- options shared by commands

MODEL_HELP = "Model folder or hub name (hf, vllm); the served model name (openai)."


def model_option(required: bool = True, help: str = MODEL_HELP) -> Any:  # noqa: A002
    return typer.Option(... if required else None, "--model", "-m", help=help)


def input_option(help: str) -> Any:  # noqa: A002
    return typer.Option(..., "--input", "-i", help=help)


def output_option(help: str) -> Any:  # noqa: A002
    return typer.Option(..., "--output", "-o", help=help)


def summary_option() -> Any:
    return typer.Option(None, help="Where to save the summary (default: OUTPUT.summary.json).")


OVERRIDES_HELP = "Config overrides as key=value (see --show-config), e.g. lr=1e-6 beta=0.1."


def overrides_argument(help: str = OVERRIDES_HELP) -> Any:  # noqa: A002
    return typer.Argument(None, help=help, show_default=False)


def config_option() -> Any:
    return typer.Option(None, "--config", help="YAML config file (fields of --show-config).")


def show_config_option() -> Any:
    return typer.Option(False, "--show-config", help="Print every config field and exit.")


def summary_text(summary: dict[str, Any]) -> str:
    """A stage summary as a two-column Markdown table (nested values as ``key=value`` lists), then where it
    was saved (``summary_file``)."""
    from ponder.eval.report import markdown_table

    rows = []
    for k, v in summary.items():
        if k == "summary_file":
            continue
        if isinstance(v, dict):
            v = ", ".join(f"{a}={b}" for a, b in v.items()) or "–"
        rows.append({"metric": k, "value": v})
    text = markdown_table(rows, ["metric", "value"])
    return text + (f"\nsummary: {summary['summary_file']}" if "summary_file" in summary else "")

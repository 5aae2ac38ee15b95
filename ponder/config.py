"""Frozen config dataclasses loaded from YAML and ``key=value`` overrides.

Each recipe has one frozen dataclass; every field is declared with :func:`option`, which carries its help
text. :func:`load_config` applies, in order: the dataclass defaults, a YAML file, then ``key=value``
overrides (dotted keys reach nested configs: ``train.lr=1e-6``). Unknown keys and values of the wrong
type are errors that name the file, the line and the key, and suggest the closest known key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from ponder.errors import ConfigError

C = TypeVar("C")
_MISSING = dataclasses.MISSING


def option(
    default: Any = _MISSING,
    help: str = "",  # noqa: A002 -- mirrors argparse
    *,
    flag: str | None = None,
    short: str | None = None,
    repeat: bool = False,
    **kwargs: Any,
) -> Any:
    """Declare a settings field with its help text: the one declaration its command-line option, its YAML key
    and its ``key=value`` override come from. ``flag`` names the command-line option when it is not
    ``--field-name`` (e.g. ``"--from"``, or ``"--filter-all-same/--keep-all-same"`` for a bool); ``short`` adds
    a one-letter alias; a list field is one comma-separated option unless ``repeat`` (the option is given once
    per item). Mutable defaults (list, dict) are copied per instance."""
    metadata: dict[str, Any] = {"help": help}
    if repeat:
        metadata["repeat"] = True
    if flag is not None:
        metadata["flag"] = flag
    if short is not None:
        metadata["short"] = short
    if isinstance(default, list | dict | set):
        value = default
        return dataclasses.field(default_factory=lambda: type(value)(value), metadata=metadata, **kwargs)
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


def default_of(f: dataclasses.Field) -> Any:
    """A field's default value (``_MISSING`` for a required field)."""
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:
        return f.default_factory()
    return _MISSING


def is_required(f: dataclasses.Field) -> bool:
    return f.default is _MISSING and f.default_factory is _MISSING


def at_least(settings: Any, minimum: float, *names: str) -> None:
    """Refuse a settings object whose fields ``names`` are below ``minimum`` (the message names the field)."""
    for name in names:
        value = getattr(settings, name)
        if value < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_unset(section: Any, names: Sequence[str], where: str, why: str) -> None:
    """Refuse a section whose ``names`` differ from their defaults: a recipe sets those fields itself
    (``why`` says from what), so a value given for them would be silently overwritten."""
    for f in dataclasses.fields(section):
        if f.name in names and getattr(section, f.name) != default_of(f):
            raise ValueError(f"{where}.{f.name} is set by the recipe ({why}); remove it from {where}")


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML mapping to its 1-based line number."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node, prefix):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = prefix + (str(k.value),)
                lines[key] = k.start_mark.line + 1
                walk(v, key)

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return lines


def _type_label(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; strings from the command line are parsed as YAML."""
    origin = get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = get_args(tp)
        is_null = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
        if type(None) in args and is_null:
            return None
        for a in args:
            if a is not type(None):
                try:
                    return coerce(value, a, where)
                except ConfigError:
                    pass
        raise ConfigError(f"{where}: expected {_type_label(tp)}, got {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value in choices:
            return value
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, choices))}, got {value!r}")
    if origin in (list, tuple, Sequence):
        if isinstance(value, str):
            parsed = (
                yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v]
            )
            value = parsed
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item_tp, *_) = get_args(tp) or (Any,)
        items = [coerce(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.replace("_", ""))
            except ValueError:
                pass
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{where}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:  # YAML 1.1 reads "1e-6" as a string; accept it as the number it obviously is
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{where}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping of {tp.__name__} fields, got {value!r}")
        return value  # merged field by field by the caller
    raise ConfigError(f"{where}: unsupported field type {_type_label(tp)}")


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unknown(key: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key.split(".")[-1], known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _build(cls: type[C], values: dict[str, Any], prefix: str, locate) -> C:
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in values.items():
        path = f"{prefix}{key}"
        if key not in fields:
            raise _unknown(path, sorted(fields), locate(path))
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            if not isinstance(raw, dict):
                raise ConfigError(f"{locate(path)}: expected a mapping of {tp.__name__} fields, got {raw!r}")
            base = default_of(fields[key])
            if dataclasses.is_dataclass(
                base
            ):  # a recipe's default section: its values are the starting point
                raw = _deep_merge(_shallow(base), raw)
            kwargs[key] = _build(tp, raw, f"{path}.", locate)
        else:
            kwargs[key] = coerce(raw, tp, locate(path))
    for name, f in fields.items():
        if name not in kwargs and f.default is _MISSING and f.default_factory is _MISSING:
            tp = hints[name]
            if dataclasses.is_dataclass(tp):
                kwargs[name] = _build(tp, {}, f"{prefix}{name}.", locate)
            else:
                raise ConfigError(f"{locate(prefix + name)}: required key '{prefix}{name}' is not set")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{locate(prefix.rstrip('.') or cls.__name__)}: {e}") from None


def _shallow(instance: Any) -> dict[str, Any]:
    """The fields of a dataclass instance as a tree of plain values (nested sections as dicts)."""
    return {
        f.name: _shallow(v) if dataclasses.is_dataclass(v := getattr(instance, f.name)) else v
        for f in dataclasses.fields(instance)
    }


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override '{key}': '{p}' is not a nested config")
    node[parts[-1]] = value


def _deep_merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_config(
    cls: type[C], path: str | Path | None = None, overrides: Sequence[str] = (), **values: Any
) -> C:
    """Build ``cls`` from its defaults, then the YAML file at ``path``, then ``key=value`` overrides.

    ``values`` (Python keyword arguments, e.g. from CLI options) apply between the file and the overrides.
    """
    tree: dict[str, Any] = {}
    lines: dict[tuple[str, ...], int] = {}
    source = "<config>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            raise ConfigError(f"{where}: invalid YAML ({getattr(e, 'problem', e)})") from None
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}:1: expected a mapping of config keys at the top level")
        tree = loaded
        lines = _yaml_lines(text)
    override_keys: dict[str, str] = {}
    values_tree: dict[str, Any] = {}
    for k, v in values.items():
        if v is not None:
            _set_dotted(values_tree, k, v)
    tree = _deep_merge(tree, values_tree)
    for item in overrides:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}': expected key=value")
        key = key.strip().lstrip("-").replace("-", "_")
        override_keys[key] = item
        _set_dotted(tree, key, val)

    def locate(key: str) -> str:
        if key in override_keys:
            return f"override '{override_keys[key]}'"
        line = lines.get(tuple(key.split(".")))
        return f"{source}:{line}" if line else source

    return _build(cls, tree, "", locate)


def extend(settings: Any, cls: type[C], **more: Any) -> C:
    """``cls`` (a config that adds run fields to ``settings``' class) from ``settings`` and the ``more`` fields."""
    return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}, **more)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A plain dict (nested for nested configs), e.g. to save next to a run."""
    return dataclasses.asdict(cfg)


def describe(cls: type) -> str:
    """One line per field: ``key (type, default): help`` -- shown by ``--show-config`` and in docs. A nested
    section lists its fields with the defaults of the section's default value."""
    out = []

    def walk(c: type, instance: Any, prefix: str) -> None:
        hints = _hints(c)
        for f in dataclasses.fields(c):
            tp = hints[f.name]
            default = getattr(instance, f.name) if instance is not None else default_of(f)
            if dataclasses.is_dataclass(tp):
                walk(tp, default if dataclasses.is_dataclass(default) else None, f"{prefix}{f.name}.")
                continue
            shown = "required" if default is _MISSING else repr(default)
            out.append(f"{prefix}{f.name} ({_type_label(tp)}, default {shown}): {f.metadata.get('help', '')}")

    walk(cls, None, "")
    return "\n".join(out)

"""What each field of a record may hold (:mod:`ponder.records` declares which checker each field gets).

Each checker returns the normalised value or raises ValueError with a message naming what was found; the
record turns that into an :class:`~ponder.errors.InputError` naming the file, the line and the field.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
PromptLike = str | list[Message]


def type_name(v: Any) -> str:
    return (
        "null"
        if v is None
        else {dict: "object", list: "list", str: "string", bool: "boolean"}.get(type(v), type(v).__name__)
    )


def _typed(accepts: Callable[[Any], bool], expected: str, convert: Callable[[Any], Any] = lambda v: v):
    """A checker of one JSON type: the value (converted) when ``accepts`` it, else ValueError."""

    def checker(v: Any) -> Any:
        if accepts(v):
            return convert(v)
        raise ValueError(f"expected {expected}, got {type_name(v)}")

    return checker


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is no integer


string = _typed(lambda v: isinstance(v, str), "a string")
integer = _typed(_is_int, "an integer")
boolean = _typed(lambda v: isinstance(v, bool), "true or false")
number = _typed(lambda v: _is_int(v) or isinstance(v, float), "a number", float)
mapping = _typed(lambda v: isinstance(v, dict), "an object")


def record_id(v: Any) -> str:
    # Integer ids are common in public data sets; they are kept as their decimal string.
    if isinstance(v, str) and v:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise ValueError(
        f"expected a non-empty string or integer, got {type_name(v)}" + (" ''" if v == "" else "")
    )


def answer(v: Any) -> str:
    # Gold answers stored as JSON numbers are accepted and kept as their text (42 -> "42").
    if isinstance(v, str):
        return v
    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
        return str(v)
    raise ValueError(f"expected a string or number, got {type_name(v)}")


def messages(v: Any) -> list[Message]:
    if not isinstance(v, list) or not v:
        raise ValueError(f"expected a non-empty list of messages, got {type_name(v)}")
    for i, m in enumerate(v):
        if not isinstance(m, dict):
            raise ValueError(f"message {i}: expected an object, got {type_name(m)}")
        if not isinstance(m.get("role"), str):
            raise ValueError(f"message {i}: 'role' must be a string")
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {i}: 'content' must be a string")
        if "weight" in m and (m["weight"] not in (0, 1) or isinstance(m["weight"], bool)):
            raise ValueError(f"message {i}: 'weight' must be 0 or 1, got {json.dumps(m['weight'])}")
    return v


def text_or_messages(v: Any) -> PromptLike:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return messages(v)
    raise ValueError(f"expected a string or a list of messages, got {type_name(v)}")


def list_of(check: Callable[[Any], Any]) -> Callable[[Any], list]:
    def checker(v: Any) -> list:
        if not isinstance(v, list):
            raise ValueError(f"expected a list, got {type_name(v)}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(check(x))
            except ValueError as e:
                raise ValueError(f"item {i}: {e}") from None
        return out

    return checker


def finish_reason(v: Any) -> str:
    if v in ("stop", "length"):
        return v
    raise ValueError(f"expected 'stop' or 'length', got {json.dumps(v)}")


def test(v: Any) -> dict:
    if not isinstance(v, dict):
        raise ValueError(f"expected an object with 'input' and 'output', got {type_name(v)}")
    if "input" not in v:
        raise ValueError("test is missing 'input'")
    return v


def pred(v: Any) -> str | None:
    return None if v is None else string(v)


def split_shared_prefix(chosen: Any, rejected: Any) -> tuple[PromptLike, PromptLike, PromptLike]:
    """``(prompt, chosen, rejected)`` of a pair given with an implicit prompt (TRL's format): two whole
    conversations split before their first differing message, or two texts split at the last whitespace
    before their first differing character (so no word is cut). Raises ``ValueError("message|field")``."""
    for name, v in (("chosen", chosen), ("rejected", rejected)):
        try:
            text_or_messages(v)
        except ValueError as e:
            raise ValueError(f"{e}|{name}") from None
    if isinstance(chosen, str) != isinstance(rejected, str):
        raise ValueError(
            "implicit prompt: 'chosen' and 'rejected' must both be texts or both conversations|rejected"
        )
    cut = next(
        (i for i, (a, b) in enumerate(zip(chosen, rejected, strict=False)) if a != b),
        min(len(chosen), len(rejected)),
    )
    if isinstance(chosen, str):
        space = max(chosen.rfind(c, 0, cut + 1) for c in " \n\t")
        cut = space if space > 0 else cut
    if cut == 0:
        raise ValueError("no 'prompt', and 'chosen' and 'rejected' share no prompt to split off|prompt")
    if chosen[cut:] == rejected[cut:] or not chosen[cut:] or not rejected[cut:]:
        raise ValueError("no 'prompt', and 'chosen' or 'rejected' has nothing after the shared prompt|prompt")
    return chosen[:cut], chosen[cut:], rejected[cut:]

"""Test inputs written by a language model: the prompt, and parsing with repair of what comes back.

PFPO for code (Jiao et al., ICLR 2025, Sec. 3.2) asks a strong model for test *inputs* only; the outputs come
later from a vote among the policy's own programs (:mod:`ponder.feedback.pseudo_tests`). The authors request
10 inputs per problem at temperature 0 in JSON mode: raw stdin text for stdin problems, a JSON list of
arguments for function problems (called as ``func(*inputs)``), parsed with ``json`` and non-lists wrapped.

Model output is never trusted. :func:`parse_test_inputs` accepts, in order of preference:

1. a JSON object ``{"inputs": [...]}`` (also under ``test_inputs``/``tests``/``test_cases``, or its only list);
2. a bare JSON list of inputs; a single non-list value is wrapped into a one-element list;
3. the same inside a fenced block or surrounded by prose;
4. repaired text: trailing commas removed; Python literals (single quotes, ``True``/``None``, tuples) read with
   ``ast.literal_eval``; a list cut short by the token budget keeps its complete items.

Each item is then made an input of the problem's kind:

- stdin (``mode="stdio"``): a string (a trailing newline added when missing); numbers become their text; a list
  of scalars becomes one line per element; an object ``{"input": ...}`` gives its input;
- call (``mode="call"``): a list of arguments; a string is read as JSON first (the authors' form); a non-list is
  wrapped as the only argument; when the function has one parameter (``arity=1``) a list of any other length
  is wrapped too, since it can only be that one argument.

Duplicates and oversized inputs are dropped; everything done to the text is listed in ``repairs`` so a run
can report how often each repair was needed. Nothing here raises on model output.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from ponder.errors import InputError
from ponder.records import Problem

INPUT_MODES = ("stdio", "call")
LIST_KEYS = ("inputs", "test_inputs", "tests", "test_cases", "cases")
MAX_INPUT_CHARS = 20_000
_FENCE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[\]}])")


@dataclass
class ParsedInputs:
    """Inputs read from one model answer; ``repairs`` names every fix applied, ``error`` why nothing came out."""

    inputs: list = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    error: str | None = None


# --------------------------------------------------------------------------- the problem's kind of input


def input_mode(problem: Problem) -> str:
    """``"call"`` for function problems (``meta.mode`` call, or assert with an ``entry_point``), else ``"stdio"``;
    ``meta.input_mode`` overrides."""
    meta = problem.meta
    if meta.get("input_mode") in INPUT_MODES:
        return meta["input_mode"]
    mode = meta.get("mode", "stdio")
    if mode == "call" or (mode == "assert" and meta.get("entry_point")):
        return "call"
    return "stdio"


def check_code_problem(problem: Problem, path: str | Path, line: int, *, inputs: str | None = None) -> None:
    """Refuse a code problem a stage cannot run: a function problem without the name of its function, or
    (``inputs``: why they are needed) one without ``meta.test_inputs``. InputError names file, line and field."""
    calls = input_mode(problem) == "call" or problem.meta.get("mode") == "call"
    if calls and not isinstance(problem.meta.get("entry_point"), str):
        raise InputError(
            path, "a function problem needs the name of its function", line=line, field="meta.entry_point"
        )
    if inputs is not None and not isinstance(problem.meta.get("test_inputs"), list):
        raise InputError(path, inputs, line=line, field="meta.test_inputs")


def function_arity(problem: Problem) -> int | None:
    """Number of parameters of the entry point (``self`` excluded), from ``meta.arity`` or the first
    ``def ENTRY(...)`` in ``meta.prompt_code``, ``meta.starter_code`` or the prompt; None when unknown."""
    meta = problem.meta
    if isinstance(meta.get("arity"), int):
        return meta["arity"]
    name = meta.get("entry_point")
    if not name:
        return None
    prompt = (
        problem.prompt if isinstance(problem.prompt, str) else "\n".join(m["content"] for m in problem.prompt)
    )
    for text in (meta.get("prompt_code"), meta.get("starter_code"), prompt):
        if not isinstance(text, str):
            continue
        m = re.search(rf"def\s+{re.escape(name)}\s*\((.*?)\)\s*(->[^:]*)?:", text, re.DOTALL)
        if not m:
            continue
        try:
            args = ast.parse(f"def f({m.group(1)}):\n    pass\n").body[0].args  # type: ignore[attr-defined]
        except SyntaxError:
            continue
        names = [a.arg for a in args.posonlyargs + args.args]
        if names and names[0] == "self":
            names = names[1:]
        return len(names)
    return None


# --------------------------------------------------------------------------- the prompt


@cache
def _template_file(name: str) -> str:
    return resources.files("ponder.feedback").joinpath("prompts", name).read_text(encoding="utf-8")


def default_template() -> str:
    """The shipped prompt (``ponder/feedback/prompts/test_inputs.txt``): ``{problem}``, ``{n}``, ``{format}``."""
    return _template_file("test_inputs.txt")


def problem_text(problem: Problem) -> str:
    if isinstance(problem.prompt, str):
        return problem.prompt
    return "\n\n".join(m["content"] for m in problem.prompt if m["role"] != "system")


def build_prompt(problem: Problem, n: int, template: str | None = None) -> list[dict[str, str]]:
    """The chat messages asking for ``n`` inputs of ``problem``. Placeholders are replaced literally (the
    template is full of JSON braces, so ``str.format`` is not used): ``{problem}``, ``{n}``, ``{format}``
    (the stdin or call instructions, themselves with ``{entry_point}``)."""
    mode = input_mode(problem)
    fmt = _template_file(f"test_inputs_{'call' if mode == 'call' else 'stdin'}.txt").strip()
    fmt = fmt.replace("{entry_point}", str(problem.meta.get("entry_point") or "f"))
    text = (template or default_template()).replace("{problem}", problem_text(problem).strip())
    text = text.replace("{n}", str(n)).replace("{format}", fmt)
    return [{"role": "user", "content": text.strip()}]


# --------------------------------------------------------------------------- parsing with repair


def parse_test_inputs(
    text: Any, mode: str = "stdio", *, n_max: int | None = None, arity: int | None = None
) -> ParsedInputs:
    """Inputs of kind ``mode`` read from a model's answer (see the module docstring). Never raises."""
    out = ParsedInputs()
    if mode not in INPUT_MODES:
        raise ValueError(f"mode must be one of {', '.join(INPUT_MODES)}, got {mode!r}")
    if not isinstance(text, str) or not text.strip():
        out.error = "empty answer"
        return out
    try:
        value = _read_json_value(text, out.repairs)
    except RecursionError:  # absurdly nested brackets in the model's text
        value = None
    if value is None:
        out.error = "no JSON value found"
        return out
    items = _as_item_list(value, out.repairs)
    seen: set[str] = set()
    for k, item in enumerate(items):
        x = _stdin_input(item, out.repairs) if mode == "stdio" else _call_input(item, arity, out.repairs)
        if x is None:
            out.repairs.append(f"dropped item {k}: not a usable input")
            continue
        key = json.dumps(x, sort_keys=True, ensure_ascii=False)
        if len(key) > MAX_INPUT_CHARS:
            out.repairs.append(f"dropped item {k}: longer than {MAX_INPUT_CHARS} characters")
            continue
        if key in seen:
            out.repairs.append(f"dropped item {k}: duplicate")
            continue
        seen.add(key)
        out.inputs.append(x)
    if n_max is not None and len(out.inputs) > n_max:
        out.repairs.append(f"kept the first {n_max} of {len(out.inputs)} inputs")
        out.inputs = out.inputs[:n_max]
    if not out.inputs:
        out.error = "no usable input in the answer"
    return out


_NOTHING = object()


def _loads(s: str, repairs: list[str]) -> Any:
    """One JSON value from ``s`` (strict, then without trailing commas, then as a Python literal)."""
    s = s.strip()
    if not s:
        return _NOTHING
    try:
        return json.loads(s)
    except ValueError:
        pass
    fixed = _TRAILING_COMMA.sub(r"\1", s)
    if fixed != s:
        try:
            v = json.loads(fixed)
            repairs.append("removed trailing commas")
            return v
        except ValueError:
            pass
    if len(s) <= 200_000:
        try:
            v = ast.literal_eval(s)
            repairs.append("read as a Python literal")
            return _jsonable(v)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return _NOTHING


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list | set):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, complex):
        return str(v)
    return v


def _read_json_value(text: str, repairs: list[str]) -> Any:
    v = _loads(text, repairs)
    if v is not _NOTHING:
        return v
    for block in _FENCE.findall(text):
        v = _loads(block, repairs)
        if v is not _NOTHING:
            repairs.append("took the JSON of a fenced block")
            return v
    starts = [m.start() for m in re.finditer(r"[\[{]", text)][:64]  # bounded work on long answers
    for start in starts:
        end = _matching_close(text, start)
        if end is None:  # never closes: an answer cut by its budget; keep the complete items of its list
            salvaged = _salvage_truncated_list(text[start:])
            if salvaged:
                repairs.append(f"kept {len(salvaged)} complete items of a cut-off list")
                return salvaged
            continue
        v = _loads(text[start : end + 1], repairs)
        if v is not _NOTHING:
            repairs.append("took the JSON inside surrounding text")
            return v
    return None


def _matching_close(text: str, start: int) -> int | None:
    """Index of the bracket closing the one at ``start`` (JSON strings skipped), or None."""
    depth, in_str, esc = 0, False, False
    for i in range(start, min(len(text), start + 1_000_000)):
        c = text[i]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
            if depth == 0:
                return i
    return None


def _salvage_truncated_list(text: str) -> list:
    """The complete items of the first list that never closes (an answer cut by its token budget)."""
    m = re.search(r'"(?:' + "|".join(LIST_KEYS) + r')"\s*:\s*\[', text) or re.search(r"\[", text)
    if not m:
        return []
    dec = json.JSONDecoder()
    pos, items = m.end(), []
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            item, pos = dec.raw_decode(text, pos)
        except ValueError:
            break
        items.append(item)
    return items


def _as_item_list(value: Any, repairs: list[str]) -> list:
    if isinstance(value, dict):
        for k in LIST_KEYS:
            if isinstance(value.get(k), list):
                return value[k]
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1:
            repairs.append("took the only list of the object")
            return lists[0]
        if "input" in value:
            repairs.append("wrapped a single test object")
            return [value]
        if any(k in value for k in LIST_KEYS):
            repairs.append("wrapped a non-list under 'inputs'")
            return [next(value[k] for k in LIST_KEYS if k in value)]
        return []
    if isinstance(value, list):
        return value
    repairs.append("wrapped a single value")
    return [value]


def _scalar_text(x: Any) -> str | None:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, int | float | str):
        return str(x)
    return None


def _stdin_input(item: Any, repairs: list[str]) -> str | None:
    if isinstance(item, dict) and "input" in item:
        item = item["input"]
    if isinstance(item, str):
        if item and not item.endswith("\n"):
            return item + "\n"
        return item if item else "\n"
    if isinstance(item, list):
        lines = [_scalar_text(x) for x in item]
        if item and all(s is not None for s in lines):
            repairs.append("joined a list as lines")
            return "\n".join(lines) + "\n"  # type: ignore[arg-type]
        return None
    s = _scalar_text(item)
    if s is None:
        return None
    repairs.append("wrote a number as text")
    return s + "\n"


def _call_input(item: Any, arity: int | None, repairs: list[str]) -> list | None:
    if isinstance(item, dict) and "input" in item:
        item = item["input"]
    if isinstance(item, str):
        try:
            item = json.loads(item)
        except ValueError:
            repairs.append("kept an unparsable string as one argument")
            return [item]
    if not isinstance(item, list):
        repairs.append("wrapped a non-list as the only argument")
        return [item]
    if arity == 1 and len(item) != 1:
        repairs.append("wrapped a list as the only argument of a one-parameter function")
        return [item]
    return item

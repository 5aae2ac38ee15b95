"""Code benchmarks in their own schemas as ponder's code problems (``ponder tasks convert``).

Each record gets ``tests`` and ``meta`` in the forms :mod:`ponder.verify.code` runs (``rule: code``, ``mode``,
``entry_point``, ``reference`` when the data set has a solution; never shown to the model):

- ``mbpp`` (MBPP, full and sanitized): ``{task_id, text|prompt, code, test_list, test_setup_code?,
  challenge_test_list?}`` -> assert mode, one test per ``assert`` line (after the setup code), the function
  named by the first test as entry point; the prompt shows the task and its tests;
- ``apps``: ``{problem_id, question, solutions (JSON text), input_output (JSON text: inputs, outputs,
  fn_name?), starter_code?, difficulty?, url?}`` -> stdio mode, or call mode when ``fn_name`` is given
  (APPS stores a return value wrapped in a one-item list: it is unwrapped);
- ``livecodebench`` (code_generation_lite): ``{question_id, question_title?, question_content, platform?,
  contest_date?, starter_code?, difficulty?, public_test_cases, private_test_cases, metadata}`` -> stdio mode
  for ``testtype: stdin``, call mode (a method of class ``Solution``, named by ``metadata.func_name``) for
  ``functional``, whose inputs are one JSON argument per line. Test lists are JSON text, or (the private
  ones) the data set's compressed form: base64 of zlib of a pickled JSON string, unpickled with no object
  types allowed.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from collections.abc import Callable
from typing import Any

from ponder.tasks.convert import RowError, row_id, text_field

CODE_BLOCK = "Answer with the complete Python program in one ```python code block."


def _json_field(row: dict, field: str, *, required: bool = True) -> Any:
    """A field holding JSON text (or the value itself, as some copies of the data sets store it)."""
    v = row.get(field)
    if v is None or v == "":
        if required:
            raise RowError(field, "missing")
        return None
    if not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError as e:
        raise RowError(field, f"not valid JSON text ({e})") from None


def _problem(rid: str, prompt: str, tests: list, source: str, meta: dict) -> dict:
    return {"id": rid, "prompt": prompt, "tests": tests, "source": source, "meta": {"rule": "code", **meta}}


_ASSERT_CALL = re.compile(r"assert\s*\(?\s*(?:not\s+)?(?:set\(|math\.isclose\(|abs\()?\s*([A-Za-z_]\w*)\s*\(")


def _mbpp(row: dict) -> dict:
    tests = row.get("test_list")
    if not isinstance(tests, list) or not tests or not all(isinstance(t, str) and t.strip() for t in tests):
        raise RowError("test_list", "expected a non-empty list of assert lines")
    m = _ASSERT_CALL.match(tests[0].strip())
    if m is None:
        raise RowError("test_list", f"cannot tell the function the first test calls: {tests[0][:80]!r}")
    setup = text_field(row, "test_setup_code", required=False)
    task = text_field(row, "text", "prompt")
    shown = "\n".join(tests)
    prompt = (
        f"{task.strip()}\n\nYour function must pass these tests:\n```python\n{shown}\n```\n\n{CODE_BLOCK}"
    )
    meta: dict = {"mode": "assert", "entry_point": m.group(1)}
    code = text_field(row, "code", required=False)
    if code:
        meta["reference"] = code
    lines = [f"{setup.rstrip()}\n{t}" if setup else t for t in tests]
    return _problem(row_id(row, "task_id"), prompt, [{"input": t} for t in lines], "mbpp", meta)


def _lines(v: Any, field: str, i: int) -> str:
    """An APPS stdin/stdout: a string, or a list of lines."""
    if isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "\n".join(v) + "\n"
    raise RowError(field, f"test {i}: expected text or a list of lines, got {type(v).__name__}")


def _apps(row: dict) -> dict:
    io_ = _json_field(row, "input_output")
    if not isinstance(io_, dict) or not isinstance(io_.get("inputs"), list):
        raise RowError("input_output", "expected an object with 'inputs' and 'outputs' lists")
    inputs, outputs = io_["inputs"], io_.get("outputs")
    if not isinstance(outputs, list) or len(outputs) != len(inputs) or not inputs:
        raise RowError("input_output", "'inputs' and 'outputs' must be lists of the same, non-zero length")
    fn = io_.get("fn_name")
    starter = row.get("starter_code") if isinstance(row.get("starter_code"), str) else ""
    if fn:
        if not isinstance(fn, str) or not fn.isidentifier():
            raise RowError("input_output", f"'fn_name' is not a function name: {fn!r}")
        tests = [
            {
                "input": x if isinstance(x, list) else [x],
                "output": y[0] if isinstance(y, list) and len(y) == 1 else y,
            }
            for x, y in zip(inputs, outputs, strict=True)
        ]
        meta: dict = {"mode": "call", "entry_point": fn}
    else:
        tests = [
            {"input": _lines(x, "input_output", i), "output": _lines(y, "input_output", i)}
            for i, (x, y) in enumerate(zip(inputs, outputs, strict=True))
        ]
        meta = {"mode": "stdio"}
    solutions = _json_field(row, "solutions", required=False)
    if isinstance(solutions, list) and solutions and isinstance(solutions[0], str):
        meta["reference"] = solutions[0]
    meta.update({k: row[k] for k in ("difficulty", "url") if row.get(k) is not None})
    prompt = text_field(row, "question").strip()
    if starter.strip():
        prompt += f"\n\nStart from this code:\n```python\n{starter.rstrip()}\n```"
        meta["prompt_code"] = starter
    how = "reads standard input and writes standard output" if not fn else f"defines `{fn}`"
    prompt += f"\n\nWrite a program that {how}. {CODE_BLOCK}"
    return _problem(row_id(row, "problem_id", "id"), prompt, tests, "apps", meta)


class _NoObjects(pickle.Unpickler):
    """Unpickles plain data only (strings, numbers, lists, dicts): no class or function is ever loaded."""

    def find_class(self, module: str, name: str):
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def _lcb_tests(row: dict, field: str) -> list:
    v = row.get(field)
    if isinstance(v, str) and v and v.lstrip()[:1] not in ("[", ""):
        try:
            raw = zlib.decompress(base64.b64decode(v, validate=True))
            v = _NoObjects(io.BytesIO(raw)).load()
        except Exception as e:  # binascii.Error, zlib.error, UnpicklingError, ...
            raise RowError(field, f"neither JSON text nor the compressed form ({type(e).__name__})") from None
    tests = _json_field({field: v}, field, required=False) or []
    if not isinstance(tests, list) or not all(isinstance(t, dict) for t in tests):
        raise RowError(field, "expected a list of {input, output, testtype} objects")
    return tests


def _livecodebench(row: dict) -> dict:
    tests = _lcb_tests(row, "public_test_cases") + _lcb_tests(row, "private_test_cases")
    if not tests:
        raise RowError("public_test_cases", "no tests in public_test_cases or private_test_cases")
    kinds = {t.get("testtype") for t in tests}
    if len(kinds) != 1 or kinds - {"stdin", "functional"}:
        raise RowError(
            "public_test_cases", f"expected testtype stdin or functional, got {sorted(map(str, kinds))}"
        )
    meta: dict = {}
    if kinds == {"functional"}:
        info = _json_field(row, "metadata", required=False) or {}
        fn = info.get("func_name") if isinstance(info, dict) else None
        if not isinstance(fn, str) or not fn.isidentifier():
            raise RowError("metadata", "functional tests need 'func_name'")
        try:
            out = [
                {
                    "input": [json.loads(a) for a in t["input"].split("\n") if a.strip()],
                    "output": json.loads(t["output"]),
                }
                for t in tests
            ]
        except (KeyError, AttributeError, ValueError) as e:
            raise RowError(
                "public_test_cases", f"functional tests hold one JSON value per line ({e})"
            ) from None
        meta.update(mode="call", entry_point=fn)
        how = f"completes class `Solution` with the method `{fn}`"
    else:
        if not all(isinstance(t.get("input"), str) and isinstance(t.get("output"), str) for t in tests):
            raise RowError("public_test_cases", "stdin tests need 'input' and 'output' texts")
        out = [{"input": t["input"], "output": t["output"]} for t in tests]
        meta["mode"] = "stdio"
        how = "reads standard input and writes standard output"
    meta.update({k: row[k] for k in ("platform", "contest_date", "difficulty") if row.get(k) is not None})
    title = text_field(row, "question_title", required=False)
    prompt = (f"{title}\n\n" if title else "") + text_field(row, "question_content").strip()
    starter = row.get("starter_code")
    if isinstance(starter, str) and starter.strip():
        prompt += f"\n\nStart from this code:\n```python\n{starter.rstrip()}\n```"
    prompt += f"\n\nWrite a program that {how}. {CODE_BLOCK}"
    return _problem(row_id(row, "question_id"), prompt, out, "livecodebench", meta)


FORMATS: dict[str, Callable[[dict], dict]] = {"mbpp": _mbpp, "apps": _apps, "livecodebench": _livecodebench}

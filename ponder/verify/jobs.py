"""Jobs for the sandbox and what comes back: test records, payloads, results and the judging of outputs.

A job is one program with its tests (see :mod:`ponder.verify.code` for the three modes). Only the payload of a
test (stdin, the JSON arguments, or the assert code) is sent into the sandbox; expected outputs stay here and
are compared by :func:`judge` (rules in :mod:`ponder.verify.outputs`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ponder.verify import outputs
from ponder.verify.sandbox import Limits

MODES = ("stdio", "call", "assert")
TEST_STATUSES = ("passed", "failed", "timeout", "memory", "runtime_error", "compile_error")
RUN_STATUSES = ("ok", "timeout", "memory", "runtime_error", "compile_error", "output_limit")
KEEP_CHARS = 2000


def _clip(text: str, n: int = KEEP_CHARS) -> str:
    return text if len(text) <= n else f"{text[:n]}...[{len(text) - n} more chars]"


@dataclass
class TestResult:
    """The outcome of one test. ``stdout``/``stderr`` are cut to 2,000 characters; ``output`` is the canonical
    JSON of the return value in call mode."""

    __test__ = False  # not a pytest class

    status: str
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    detail: str = ""
    output: str | None = None

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class RunResult:
    """What a program did on one input. ``output`` is the whole stdout (stdio) or the canonical JSON of the
    return value (call); :attr:`key` is its normal form for voting."""

    status: str
    output: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    detail: str = ""
    mode: str = field(default="stdio", repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def key(self) -> str | None:
        """Equal for outputs that compare equal in the common cases (``None`` unless ``ok``)."""
        if not self.ok:
            return None
        return outputs.stdout_key(self.output) if self.mode == "stdio" else self.output

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("mode")
        return d


@dataclass(frozen=True)
class Job:
    """One program and its tests (``run_tests``) or inputs (``run_inputs``)."""

    source: str
    tests: list
    mode: str = "stdio"
    entry_point: str | None = None
    limits: Limits = Limits()
    stop_on_first_failure: bool = False
    packages: tuple[str, ...] = ()  # installed packages the program imports (the pool must offer them)


# --------------------------------------------------------------------------- checking jobs


class JobError(ValueError):
    """A malformed job (caller input, never program output); names the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"field '{field}': {message}")
        self.field = field
        self.message = message


def check_job(source: Any, tests: Any, mode: Any, entry_point: Any, *, expect_outputs: bool) -> None:
    """Raise :class:`JobError` naming the field when a job is malformed."""
    if not isinstance(source, str):
        raise JobError("source", f"expected a string, got {type(source).__name__}")
    if mode not in MODES:
        raise JobError("mode", f"expected one of {', '.join(MODES)}, got {mode!r}")
    if entry_point is not None and not (isinstance(entry_point, str) and entry_point.isidentifier()):
        raise JobError("entry_point", f"expected a function name, got {entry_point!r}")
    if mode == "call" and entry_point is None:
        raise JobError("entry_point", "call mode needs the name of the function to call")
    if not isinstance(tests, list):
        raise JobError("tests", f"expected a list, got {type(tests).__name__}")
    for i, t in enumerate(tests):
        try:
            payload(t, mode)
            if expect_outputs and mode == "stdio" and not isinstance(t.get("output"), str):
                raise ValueError("'output' must be the expected stdout (a string)")
            if expect_outputs and mode == "call" and "output" not in t:
                raise ValueError("'output' (the expected return value) is missing")
        except ValueError as e:
            raise JobError("tests", f"item {i}: {e}") from None


def payload(test: Any, mode: str) -> str:
    """The text sent into the sandbox for one test: stdin, JSON arguments, or test code. Never the output."""
    if mode == "assert" and isinstance(test, str):
        return test
    if not isinstance(test, dict) or "input" not in test:
        raise ValueError("expected an object with an 'input'")
    x = test["input"]
    if mode in ("stdio", "assert"):
        if not isinstance(x, str):
            raise ValueError(f"'input' must be a string in {mode} mode, got {type(x).__name__}")
        return x
    return json.dumps(call_args(x))


def call_args(x: Any) -> list:
    """Arguments for call mode: a list, the JSON text of a list, or one JSON value per line."""
    if isinstance(x, list):
        return x
    if isinstance(x, str):
        try:
            v = json.loads(x)
            if isinstance(v, list):
                return v
        except ValueError:
            pass
        try:
            return [json.loads(line) for line in x.split("\n") if line.strip()]
        except ValueError:
            pass
    raise ValueError("'input' must be a JSON list of arguments (or its text, or one JSON value per line)")


# --------------------------------------------------------------------------- judging

REPLY_STATUSES = ("ok", "failed", "timeout", "memory", "runtime_error", "compile_error", "output_limit")


def check_reply(raw: Any) -> dict | None:
    """A worker's report on one test with every field checked (status known, texts are strings, numbers
    finite and in range), or None when it is malformed in any way."""
    if not isinstance(raw, dict) or raw.get("status") not in REPLY_STATUSES:
        return None
    out = {"status": raw["status"]}
    for name in ("stdout", "stderr", "detail"):
        v = raw.get(name, "" if name == "detail" else None)
        if v is None and name == "detail":
            v = ""
        if not isinstance(v, str):
            return None
        out[name] = v
    d = raw.get("duration_s")
    if isinstance(d, bool) or not isinstance(d, int | float) or not 0 <= d < 1e9:
        return None
    out["duration_s"] = float(d)
    value = raw.get("value")
    if value is not None and not isinstance(value, str):
        return None
    out["value"] = value
    return out


def judge(raw: dict, test: Any, mode: str) -> TestResult:
    """Turn the sandbox's report on one test into a TestResult, comparing with the expected output here."""
    status, detail = raw["status"], raw.get("detail") or ""
    value = raw.get("value")
    if status == "ok":
        if mode == "stdio":
            diff = outputs.first_stdout_difference(raw["stdout"], str(test["output"]))
            status, detail = ("passed", "") if diff is None else ("failed", diff)
        elif mode == "call":
            same = outputs.call_output_equal(value, test["output"])
            status = "passed" if same else "failed"
            detail = "" if same else f"expected {outputs.short_json(test['output'])}, got {_clip(value, 200)}"
        else:
            status = "passed"
    elif status == "output_limit":
        status = "failed"
    return TestResult(status, _clip(raw["stdout"]), _clip(raw["stderr"]), raw["duration_s"], detail, value)


def to_run_result(raw: dict, mode: str) -> RunResult:
    status = raw["status"]
    if status == "failed":  # assert mode only: the program ran, an assertion did not hold
        status = "runtime_error"
    output = (raw.get("value") or "") if mode == "call" else raw["stdout"]
    return RunResult(status, output, _clip(raw["stderr"]), raw["duration_s"], raw.get("detail") or "", mode)


def as_input_tests(inputs: Any) -> Any:
    if not isinstance(inputs, list):
        return inputs  # check_job names the problem
    return [x if isinstance(x, dict) else {"input": x} for x in inputs]


def make_job(
    source,
    tests,
    mode="stdio",
    entry_point=None,
    timeout_s=None,
    memory_mb=None,
    stop_on_first_failure=False,
    limits=None,
    packages=(),
) -> Job:
    limits = limits or Limits()
    if timeout_s is not None:
        limits = replace(limits, timeout_s=timeout_s)
    if memory_mb is not None:
        limits = replace(limits, memory_mb=memory_mb)
    return Job(source, tests, mode, entry_point, limits, stop_on_first_failure, tuple(packages))


def as_job(j: Job | dict) -> Job:
    """A Job from a Job or a dict with the same keys (``timeout_s``/``memory_mb`` may replace ``limits``)."""
    if isinstance(j, Job):
        return j
    known = {
        "source",
        "tests",
        "mode",
        "entry_point",
        "limits",
        "stop_on_first_failure",
        "timeout_s",
        "memory_mb",
        "packages",
    }
    unknown = set(j) - known
    if unknown:
        raise ValueError(f"unknown job keys: {', '.join(sorted(unknown))}")
    return make_job(
        j["source"],
        j["tests"],
        j.get("mode", "stdio"),
        j.get("entry_point"),
        j.get("timeout_s"),
        j.get("memory_mb"),
        j.get("stop_on_first_failure", False),
        j.get("limits"),
        j.get("packages", ()),
    )

"""Run programs on tests in the sandbox: ``run_tests``, ``run_inputs`` and a pool for batches.

Modes (a test is ``{"input": ..., "output": ...}``):

- ``stdio``: ``input`` is the program's stdin, ``output`` the expected stdout (compared line by line, numbers
  with a tolerance; :mod:`ponder.verify.compare`).
- ``call``: ``input`` is the list of arguments for ``entry_point`` (a function, or a method of class
  ``Solution``), as a JSON list or its text (also LiveCodeBench's one JSON value per line); ``output`` is the
  expected return value (a JSON value, or its text).
- ``assert``: ``input`` is a test program of assertions run after the program in the same namespace (MBPP's
  ``assert`` lines, HumanEval's ``def check(candidate)``; when ``entry_point`` is given and the test program
  defines ``check``, ``check(<entry_point>)`` is called). No ``output``; a test may also be just the code string.

All tests of a program run in one sandboxed process (forked from a worker with the standard library loaded),
one by one, each with its own limits (:class:`~ponder.verify.sandbox.Limits`). Statuses: passed, failed,
timeout, memory, runtime_error, compile_error (``run_inputs``: ok instead of passed/failed, plus
output_limit). See :mod:`ponder.verify.sandbox` for the isolation guarantees.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from itertools import islice
from typing import Any

from ponder.verify import compare
from ponder.verify.sandbox import Limits, SandboxError, WorkerLost, start_workers

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
        return compare.stdout_key(self.output) if self.mode == "stdio" else self.output

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
            _payload(t, mode)
            if expect_outputs and mode == "stdio" and not isinstance(t.get("output"), str):
                raise ValueError("'output' must be the expected stdout (a string)")
            if expect_outputs and mode == "call" and "output" not in t:
                raise ValueError("'output' (the expected return value) is missing")
        except ValueError as e:
            raise JobError("tests", f"item {i}: {e}") from None


def _payload(test: Any, mode: str) -> str:
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


def judge(raw: dict, test: Any, mode: str) -> TestResult:
    """Turn the sandbox's report on one test into a TestResult, comparing with the expected output here."""
    status, detail = raw["status"], raw.get("detail") or ""
    value = raw.get("value")
    if status == "ok":
        if mode == "stdio":
            diff = compare.first_stdout_difference(raw["stdout"], str(test["output"]))
            status, detail = ("passed", "") if diff is None else ("failed", diff)
        elif mode == "call":
            same = compare.call_output_equal(value, test["output"])
            status = "passed" if same else "failed"
            detail = "" if same else f"expected {_clip(json.dumps(test['output']), 200)}, got {_clip(value, 200)}"
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


# --------------------------------------------------------------------------- the pool


class SandboxPool:
    """Pre-started sandbox workers serving many programs in parallel.

    ``SandboxPool(workers=4)`` starts 4 workers (each a fork server with the standard library loaded, in its
    own namespaces); use it as a context manager or call :meth:`close`. Thread-safe: every call takes a free
    worker. ``isolation`` is "auto" (namespaces, else rlimits with a warning), "namespaces" or "rlimits";
    the ``PONDER_SANDBOX_ISOLATION`` environment variable sets the default.
    """

    def __init__(self, workers: int | None = None, *, isolation: str | None = None, disk_mb: int = 64, single_uid: bool = False):
        n = workers or os.cpu_count() or 1
        if n < 1:
            raise ValueError(f"workers must be at least 1, got {n}")
        isolation = isolation or os.environ.get("PONDER_SANDBOX_ISOLATION") or "auto"
        self._workers, self.isolation = start_workers(n, isolation, disk_mb=disk_mb, single_uid=single_uid)
        self._idle: queue.Queue = queue.Queue()
        for w in self._workers:
            self._idle.put(w)
        self._executor = ThreadPoolExecutor(n, thread_name_prefix="ponder-sandbox")
        self._closed = False

    @property
    def size(self) -> int:
        return len(self._workers)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        for w in self._workers:
            w.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one program
    def _run(self, job: Job, payloads: list[str], keep_going: Callable[[int, dict], bool]) -> list[dict]:
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        program = {"source": job.source, "mode": job.mode, "entry_point": job.entry_point, "limits": job.limits.to_wire(len(payloads))}
        host_timeout = job.limits.timeout_s * 2 + 10.0  # the supervisor enforces the limit; this catches a stuck worker
        worker = self._idle.get()
        raws: list[dict] = []
        ended = False
        try:
            send_program = True
            for i, payload in enumerate(payloads):
                msg = {"op": "test", "input": payload, "last": i == len(payloads) - 1}
                if send_program:
                    msg["program"] = program
                    send_program = False
                raw = self._request(worker, msg, program, host_timeout)
                send_program = raw.pop("_restarted", False)
                ended = msg["last"]
                raws.append(raw)
                if raw["status"] == "compile_error":  # the same for every test: fill them in without running
                    if not job.stop_on_first_failure:
                        raws.extend([raw] * (len(payloads) - len(raws)))
                    break
                if not keep_going(i, raw):
                    break
            if payloads and not ended:  # stopped early: the program's processes must go now
                self._request(worker, {"op": "end"}, program, host_timeout)
        finally:
            self._idle.put(worker)
        return raws

    @staticmethod
    def _request(worker, msg: dict, program: dict, timeout: float) -> dict:
        """One test on ``worker``. A worker that went away (killed from outside, crashed) is restarted and
        the test tried once more; one that stopped answering is restarted and the test counts as a timeout."""
        for attempt in (0, 1):
            try:
                return worker.request(msg, timeout)
            except WorkerLost as e:
                worker.restart()
                msg = {**msg, "program": program}
                if e.timed_out or attempt:
                    status = "timeout" if e.timed_out else "runtime_error"
                    return {"status": status, "detail": str(e), "stdout": "", "stderr": "", "duration_s": 0.0, "_restarted": True}
        raise AssertionError("unreachable")

    def run_job(self, job: Job) -> list[TestResult]:
        check_job(job.source, job.tests, job.mode, job.entry_point, expect_outputs=True)
        payloads = [_payload(t, job.mode) for t in job.tests]
        results: list[TestResult] = []

        def keep_going(i: int, raw: dict) -> bool:
            results.append(judge(raw, job.tests[i], job.mode))
            return results[-1].passed or not job.stop_on_first_failure

        raws = self._run(job, payloads, keep_going)
        for i in range(len(results), len(raws)):  # tests filled in after a compile error
            results.append(judge(raws[i], job.tests[i], job.mode))
        return results

    def run_inputs_job(self, job: Job) -> list[RunResult]:
        if job.mode == "assert":
            raise ValueError("run_inputs records outputs: use mode 'stdio' or 'call'")
        tests = as_input_tests(job.tests)
        check_job(job.source, tests, job.mode, job.entry_point, expect_outputs=False)
        payloads = [_payload(t, job.mode) for t in tests]
        return [to_run_result(r, job.mode) for r in self._run(job, payloads, lambda i, r: True)]

    def run_tests(self, source: str, tests: list, *, mode: str = "stdio", entry_point: str | None = None, timeout_s: float | None = None,
                  memory_mb: int | None = None, stop_on_first_failure: bool = False, limits: Limits | None = None) -> list[TestResult]:
        """Run ``source`` on ``tests``; one result per test (ending early at the first non-pass if asked)."""
        return self.run_job(make_job(source, tests, mode, entry_point, timeout_s, memory_mb, stop_on_first_failure, limits))

    def run_inputs(self, source: str, inputs: list, *, mode: str = "stdio", entry_point: str | None = None, timeout_s: float | None = None,
                   memory_mb: int | None = None, limits: Limits | None = None) -> list[RunResult]:
        """Run ``source`` on ``inputs`` (stdin strings, or argument lists in call mode) and record the outputs."""
        return self.run_inputs_job(make_job(source, inputs, mode, entry_point, timeout_s, memory_mb, False, limits))

    # ------------------------------------------------------------------ batches
    def iter_tests(self, jobs: Iterable[Job | dict]) -> Iterator[tuple[int, list[TestResult]]]:
        """Yield ``(index, results)`` for each job as it completes (not in order); runs ``size`` at a time."""
        return self._imap(lambda j: self.run_job(as_job(j)), jobs)

    def iter_inputs(self, jobs: Iterable[Job | dict]) -> Iterator[tuple[int, list[RunResult]]]:
        return self._imap(lambda j: self.run_inputs_job(as_job(j)), jobs)

    def run_tests_many(self, jobs: Iterable[Job | dict]) -> list[list[TestResult]]:
        """Results of every job, in the order of ``jobs``."""
        return _in_order(self.iter_tests(jobs))

    def run_inputs_many(self, jobs: Iterable[Job | dict]) -> list[list[RunResult]]:
        return _in_order(self.iter_inputs(jobs))

    def _imap(self, fn: Callable, items: Iterable) -> Iterator[tuple[int, Any]]:
        it = enumerate(items)
        pending = {self._executor.submit(fn, item): i for i, item in islice(it, 2 * self.size)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                i = pending.pop(f)
                for j, item in islice(it, 1):
                    pending[self._executor.submit(fn, item)] = j
                yield i, f.result()


def _in_order(pairs: Iterator[tuple[int, Any]]) -> list:
    out: dict[int, Any] = dict(pairs)
    return [out[i] for i in range(len(out))]


def as_input_tests(inputs: Any) -> Any:
    if not isinstance(inputs, list):
        return inputs  # check_job names the problem
    return [x if isinstance(x, dict) else {"input": x} for x in inputs]


def make_job(source, tests, mode="stdio", entry_point=None, timeout_s=None, memory_mb=None, stop_on_first_failure=False, limits=None) -> Job:
    limits = limits or Limits()
    if timeout_s is not None:
        limits = replace(limits, timeout_s=timeout_s)
    if memory_mb is not None:
        limits = replace(limits, memory_mb=memory_mb)
    return Job(source, tests, mode, entry_point, limits, stop_on_first_failure)


def as_job(j: Job | dict) -> Job:
    """A Job from a Job or a dict with the same keys (``timeout_s``/``memory_mb`` may replace ``limits``)."""
    if isinstance(j, Job):
        return j
    known = {"source", "tests", "mode", "entry_point", "limits", "stop_on_first_failure", "timeout_s", "memory_mb"}
    unknown = set(j) - known
    if unknown:
        raise ValueError(f"unknown job keys: {', '.join(sorted(unknown))}")
    return make_job(j["source"], j["tests"], j.get("mode", "stdio"), j.get("entry_point"), j.get("timeout_s"), j.get("memory_mb"),
                    j.get("stop_on_first_failure", False), j.get("limits"))


# --------------------------------------------------------------------------- module-level API

_default: SandboxPool | None = None
_default_lock = threading.Lock()


def default_pool() -> SandboxPool:
    """The pool behind the module-level functions: created on first use with one worker per core."""
    global _default
    with _default_lock:
        if _default is None or _default._closed:
            _default = SandboxPool()
            atexit.register(_default.close)
        return _default


def run_tests(source: str, tests: list, *, mode: str = "stdio", entry_point: str | None = None, timeout_s: float | None = None,
              memory_mb: int | None = None, stop_on_first_failure: bool = False, limits: Limits | None = None,
              pool: SandboxPool | None = None) -> list[TestResult]:
    """Run ``source`` on ``tests`` in the sandbox (see the module docstring for modes and statuses)."""
    return (pool or default_pool()).run_tests(source, tests, mode=mode, entry_point=entry_point, timeout_s=timeout_s,
                                              memory_mb=memory_mb, stop_on_first_failure=stop_on_first_failure, limits=limits)


def run_inputs(source: str, inputs: list, *, mode: str = "stdio", entry_point: str | None = None, timeout_s: float | None = None,
               memory_mb: int | None = None, limits: Limits | None = None, pool: SandboxPool | None = None) -> list[RunResult]:
    """Run ``source`` on each input and record its output (stdout, or canonical JSON of the return value)."""
    return (pool or default_pool()).run_inputs(source, inputs, mode=mode, entry_point=entry_point, timeout_s=timeout_s,
                                               memory_mb=memory_mb, limits=limits)

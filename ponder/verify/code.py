"""Run programs on tests in the sandbox: ``run_tests``, ``run_inputs`` and a pool for batches.

Modes (a test is ``{"input": ..., "output": ...}``):

- ``stdio``: ``input`` is the program's stdin, ``output`` the expected stdout (compared line by line, numbers
  with a tolerance; :mod:`ponder.verify.outputs`).
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
import threading

from ponder.verify.jobs import (  # noqa: F401 - the public names of ponder.verify.code
    MODES,
    RUN_STATUSES,
    TEST_STATUSES,
    Job,
    JobError,
    RunResult,
    TestResult,
    check_job,
)
from ponder.verify.pool import SandboxPool
from ponder.verify.sandbox import Limits

__all__ = [
    "MODES",
    "RUN_STATUSES",
    "TEST_STATUSES",
    "Job",
    "JobError",
    "Limits",
    "RunResult",
    "SandboxPool",
    "TestResult",
    "default_pool",
    "run_inputs",
    "run_tests",
]

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


def run_tests(
    source: str,
    tests: list,
    *,
    mode: str = "stdio",
    entry_point: str | None = None,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    stop_on_first_failure: bool = False,
    limits: Limits | None = None,
    pool: SandboxPool | None = None,
) -> list[TestResult]:
    """Run ``source`` on ``tests`` in the sandbox (see the module docstring for modes and statuses)."""
    return (pool or default_pool()).run_tests(
        source,
        tests,
        mode=mode,
        entry_point=entry_point,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        stop_on_first_failure=stop_on_first_failure,
        limits=limits,
    )


def run_inputs(
    source: str,
    inputs: list,
    *,
    mode: str = "stdio",
    entry_point: str | None = None,
    timeout_s: float | None = None,
    memory_mb: int | None = None,
    limits: Limits | None = None,
    pool: SandboxPool | None = None,
) -> list[RunResult]:
    """Run ``source`` on each input and record its output (stdout, or canonical JSON of the return value)."""
    return (pool or default_pool()).run_inputs(
        source,
        inputs,
        mode=mode,
        entry_point=entry_point,
        timeout_s=timeout_s,
        memory_mb=memory_mb,
        limits=limits,
    )

"""The ``ponder exec`` stage: run a file of programs on their tests in the sandbox.

Input records (JSONL or Parquet), one program each::

    {"id": "p1-s0", "source": "print(int(input()) * 2)", "tests": [{"input": "2\\n", "output": "4\\n"}],
     "mode": "stdio", "entry_point": null, "timeout_s": 5, "memory_mb": 512, "stop_on_first_failure": false}

``id``, ``source`` and ``tests`` are required; ``mode`` defaults to stdio, the limits to the command's options;
``packages`` (a list of installed top-level modules, e.g. ``["numpy"]``) makes them importable for that program
only -- every other program sees the standard library alone.
Tests are as in :mod:`ponder.verify.code` (call mode: ``entry_point`` and argument lists; assert mode: test
code). With ``--record-outputs`` tests need no ``output`` (a plain input string or argument list will do) and
the results record what each program printed or returned.

Output records: ``{"id", "mode", "passed", "total", "all_passed", "results": [TestResult...]}``, or with
``--record-outputs`` ``{"id", "mode", "ok", "total", "results": [RunResult...]}``. The whole input is checked
before anything runs; the output is written through :class:`~ponder.io.StageWriter`, so a killed run resumes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.io import StageWriter
from ponder.progress import progress
from ponder.ranks import main_only
from ponder.records import iter_json_objects
from ponder.verify.jobs import Job, JobError, as_input_tests, check_job
from ponder.verify.pool import PLACEMENT_FIELDS, SandboxSettings
from ponder.verify.sandbox import ISOLATIONS, Limits

FIELDS = (
    "id",
    "source",
    "tests",
    "mode",
    "entry_point",
    "timeout_s",
    "memory_mb",
    "stop_on_first_failure",
    "packages",
)


@dataclass(frozen=True)
class ExecSettings(SandboxSettings):
    """How ``ponder exec`` runs programs (records may set their own limits), here or on a Ray cluster."""

    record_outputs: bool = option(
        False, help="Record what each program prints or returns instead of checking expected outputs."
    )
    timeout_s: float = option(5.0, help="Wall-clock limit per test in seconds (records may set their own).")
    memory_mb: int = option(512, help="Memory limit per program in MiB (records may set their own).")
    isolation: str = option(
        "auto", help="auto or namespaces (required: no start without them), or rlimits (opt-in, weaker)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.isolation not in ISOLATIONS:
            raise ValueError(f"isolation: expected one of {', '.join(ISOLATIONS)}, got {self.isolation!r}")
        if self.timeout_s <= 0 or self.memory_mb <= 0:
            raise ValueError("timeout_s and memory_mb must be positive")

    def options(self) -> ExecOptions:
        limits = Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)
        placement = SandboxSettings(**{k: getattr(self, k) for k in PLACEMENT_FIELDS})
        return ExecOptions(placement, self.record_outputs, self.isolation, limits)


@dataclass(frozen=True)
class ExecOptions:
    sandbox: SandboxSettings = SandboxSettings()
    record_outputs: bool = False
    isolation: str | None = None
    limits: Limits = Limits()


def _record_id(v: Any) -> str:
    if isinstance(v, str) and v:
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return str(v)
    raise JobError("id", f"expected a non-empty string or integer, got {v!r}"[:200])


def parse_record(obj: Any, opts: ExecOptions) -> tuple[str, Job]:
    """Check one input record and turn it into ``(id, Job)``; raises :class:`JobError` naming the field."""
    if not isinstance(obj, dict):
        raise JobError("id", f"expected a JSON object per line, got {type(obj).__name__}")
    for name in ("id", "source", "tests"):
        if name not in obj:
            raise JobError(name, "missing")
    rid = _record_id(obj["id"])
    mode = obj.get("mode") or "stdio"
    tests = as_input_tests(obj["tests"]) if opts.record_outputs else obj["tests"]
    if opts.record_outputs and mode == "assert":
        raise JobError("mode", "--record-outputs needs mode stdio or call")
    check_job(obj["source"], tests, mode, obj.get("entry_point"), expect_outputs=not opts.record_outputs)
    limits = opts.limits
    for name in ("timeout_s", "memory_mb"):
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise JobError(name, f"expected a positive number, got {value!r}")
        limits = replace(limits, **{name: int(value) if name == "memory_mb" else float(value)})
    stop = obj.get("stop_on_first_failure", False)
    if not isinstance(stop, bool):
        raise JobError("stop_on_first_failure", f"expected true or false, got {stop!r}")
    packages = obj.get("packages") or []
    if not isinstance(packages, list) or not all(isinstance(p, str) and p.isidentifier() for p in packages):
        raise JobError("packages", f"expected a list of top-level module names, got {packages!r}"[:200])
    return rid, Job(obj["source"], tests, mode, obj.get("entry_point"), limits, stop, tuple(packages))


def check_input(path: str | Path, opts: ExecOptions, packages: set[str] | None = None) -> int:
    """Check every record before running anything; returns the count (and adds the packages records name to
    ``packages``). Raises InputError at the first problem."""
    seen: dict[str, int] = {}
    for lineno, obj in iter_json_objects(path):
        try:
            rid, job = parse_record(obj, opts)
            if packages is not None:
                packages.update(job.packages)
        except JobError as e:
            raise InputError(path, e.message, line=lineno, field=e.field) from None
        if rid in seen:
            raise InputError(
                path, f"duplicate id {rid!r} (first on line {seen[rid]})", line=lineno, field="id"
            )
        seen[rid] = lineno
    return len(seen)


def _jobs(path: str | Path, opts: ExecOptions, done: set[str]) -> Iterator[tuple[str, Job]]:
    for _, obj in iter_json_objects(path):
        rid, job = parse_record(obj, opts)
        if rid not in done:
            yield rid, job


def output_record(rid: str, job: Job, results: list, record_outputs: bool) -> dict:
    rows = [r.to_dict() for r in results]
    if record_outputs:
        return {
            "id": rid,
            "mode": job.mode,
            "ok": sum(r.ok for r in results),
            "total": len(job.tests),
            "results": rows,
        }
    passed = sum(r.passed for r in results)
    return {
        "id": rid,
        "mode": job.mode,
        "passed": passed,
        "total": len(job.tests),
        "all_passed": passed == len(job.tests),
        "results": rows,
    }


@main_only
def run_exec(input_path: str | Path, output_path: str | Path, opts: ExecOptions) -> dict:
    """Run every program of ``input_path``; write one result record per program to ``output_path``."""
    packages: set[str] = set()
    total = check_input(input_path, opts, packages)
    with StageWriter(output_path) as writer:
        todo = [(rid, job) for rid, job in _jobs(input_path, opts, writer.done)]
        all_passed = 0
        if todo:
            try:
                pool = opts.sandbox.open(isolation=opts.isolation, packages=tuple(packages))
            except ValueError as e:  # a package no record can have: say which, in one line
                raise PonderError(str(e)) from None
            with pool:
                it = (
                    pool.iter_inputs([j for _, j in todo])
                    if opts.record_outputs
                    else pool.iter_tests([j for _, j in todo])
                )
                bar = progress(total=len(todo), desc="exec", unit="program")
                for i, results in it:
                    rid, job = todo[i]
                    rec = output_record(rid, job, results, opts.record_outputs)
                    all_passed += bool(rec.get("all_passed"))
                    writer.write(rec)
                    bar.update(1)
                bar.close()
                isolation = f"{pool.isolation}, cgroup: {pool.cgroup}"
        else:
            isolation = None
    return {
        "total": total,
        "ran": len(todo),
        "resumed": writer.resumed,
        "all_passed": all_passed,
        "isolation": isolation,
        "output": str(output_path),
    }


def exec_command(input_path: Path, output_path: Path, settings: ExecSettings = ExecSettings()) -> str:
    """``ponder exec``: run, and return the summary line."""
    s = run_exec(input_path, output_path, settings.options())
    record_outputs = settings.record_outputs
    what = "ran" if record_outputs else f"ran ({s['all_passed']} passed every test)"
    where = f" [isolation: {s['isolation']}]" if s["isolation"] else ""
    return f"{what}: {s['ran']} programs, {s['resumed']} already done; wrote {s['total']} results to {s['output']}{where}"

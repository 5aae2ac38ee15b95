"""SandboxPool: pre-started sandbox workers serving many programs in parallel (see :mod:`ponder.verify.code`)."""

from __future__ import annotations

import os
import queue
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, fields
from itertools import islice
from typing import TYPE_CHECKING, Any

from ponder.cluster import RaySettings
from ponder.config import option
from ponder.verify import sandbox_packages
from ponder.verify.jobs import (
    Job,
    JobError,
    RunResult,
    TestResult,
    as_input_tests,
    as_job,
    check_job,
    check_reply,
    judge,
    make_job,
    payload,
    to_run_result,
)
from ponder.verify.sandbox import Limits, SandboxError, WorkerLost
from ponder.verify.sandbox_start import cgroups, start_workers

if TYPE_CHECKING:
    from ponder.verify.ray_pool import RaySandboxPool


class SandboxPool:
    """Pre-started sandbox workers serving many programs in parallel.

    ``SandboxPool(workers=4)`` starts 4 workers (each a fork server with the standard library loaded, in its
    own namespaces); use it as a context manager or call :meth:`close`. Thread-safe: every call takes a free
    worker. ``isolation`` is "auto" or "namespaces" (required: no start without them) or "rlimits" (an
    explicit opt-in to weaker isolation); the ``PONDER_SANDBOX_ISOLATION`` environment variable sets the
    default. ``packages`` names installed packages jobs may ask for (``Job.packages``); programs of other
    jobs see the standard library only.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        isolation: str | None = None,
        disk_mb: int = 64,
        single_uid: bool = False,
        packages: tuple[str, ...] = (),
    ):
        n = workers or os.cpu_count() or 1
        if n < 1:
            raise ValueError(f"workers must be at least 1, got {n}")
        isolation = isolation or os.environ.get("PONDER_SANDBOX_ISOLATION") or "auto"
        self.packages = tuple(sorted(set(packages)))  # offered to the jobs that name them, to no other
        found = sandbox_packages.resolve(self.packages) if self.packages else None
        self._workers, self.isolation = start_workers(
            n, isolation, disk_mb=disk_mb, single_uid=single_uid, packages=found
        )
        found = cgroups()
        self._cgroup_reason = found if isinstance(found, str) else "could not make one"
        self._idle: queue.Queue = queue.Queue()
        for w in self._workers:
            self._idle.put(w)
        self._executor = ThreadPoolExecutor(n, thread_name_prefix="ponder-sandbox")
        self._closed = False
        # A pool dropped without close() still stops its workers (at garbage collection or exit).
        self._finalizer = weakref.finalize(self, _stop_workers, self._workers)

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def cgroup(self) -> str:
        """The kernel-enforced memory and pids limits in effect: "v1" or "v2", or "none (why)"."""
        w = self._workers[0]
        return w.cgroup.kind if w.cgroup is not None else f"none ({self._cgroup_reason})"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._executor.shutdown(wait=True)
        self._finalizer()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one program
    def _run(self, job: Job, payloads: list[str], keep_going: Callable[[int, dict], bool]) -> list[dict]:
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        check_packages(job, self.packages)
        program = {
            "source": job.source,
            "mode": job.mode,
            "entry_point": job.entry_point,
            "limits": job.limits.to_wire(len(payloads)),
            "packages": sorted(set(job.packages)),
        }
        host_timeout = (
            job.limits.timeout_s * 2 + 10.0
        )  # the supervisor enforces the limit; this catches a stuck worker
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
                self._request(worker, {"op": "end"}, program, host_timeout, check=False)
        finally:
            self._idle.put(worker)
        return raws

    @staticmethod
    def _request(worker, msg: dict, program: dict, timeout: float, *, check: bool = True) -> dict:
        """One test on ``worker``. A worker that went away (killed from outside, crashed) is restarted and
        the test tried once more; one that stopped answering is restarted and the test counts as a timeout;
        one whose reply is malformed in any way is replaced and the test is a runtime error."""
        for attempt in (0, 1):
            try:
                raw = worker.request(msg, timeout)
            except WorkerLost as e:
                worker.restart()
                msg = {**msg, "program": program}
                if e.memory:
                    return _lost("memory", f"{e} at the memory limit; it was replaced")
                if e.timed_out or e.malformed or attempt:
                    return _lost("timeout" if e.timed_out else "runtime_error", f"{e}; it was replaced")
                continue
            reply = check_reply(raw) if check else raw
            if reply is not None:
                return reply
            worker.restart()
            return _lost("runtime_error", "the sandbox worker sent a malformed report; it was replaced")
        raise AssertionError("unreachable")

    def run_job(self, job: Job) -> list[TestResult]:
        payloads = tests_payloads(job)
        results: list[TestResult] = []

        def keep_going(i: int, raw: dict) -> bool:
            results.append(judge(raw, job.tests[i], job.mode))
            return results[-1].passed or not job.stop_on_first_failure

        raws = self._run(job, payloads, keep_going)
        for i in range(len(results), len(raws)):  # tests filled in after a compile error
            results.append(judge(raws[i], job.tests[i], job.mode))
        return results

    def run_inputs_job(self, job: Job) -> list[RunResult]:
        payloads = inputs_payloads(job)
        return [to_run_result(r, job.mode) for r in self._run(job, payloads, lambda i, r: True)]

    def run_tests(
        self,
        source: str,
        tests: list,
        *,
        mode: str = "stdio",
        entry_point: str | None = None,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        stop_on_first_failure: bool = False,
        limits: Limits | None = None,
        packages: tuple[str, ...] = (),
    ) -> list[TestResult]:
        """Run ``source`` on ``tests``; one result per test (ending early at the first non-pass if asked)."""
        return self.run_job(
            make_job(
                source,
                tests,
                mode,
                entry_point,
                timeout_s,
                memory_mb,
                stop_on_first_failure,
                limits,
                packages,
            )
        )

    def run_inputs(
        self,
        source: str,
        inputs: list,
        *,
        mode: str = "stdio",
        entry_point: str | None = None,
        timeout_s: float | None = None,
        memory_mb: int | None = None,
        limits: Limits | None = None,
        packages: tuple[str, ...] = (),
    ) -> list[RunResult]:
        """Run ``source`` on ``inputs`` (stdin strings, or argument lists in call mode) and record the outputs."""
        return self.run_inputs_job(
            make_job(source, inputs, mode, entry_point, timeout_s, memory_mb, False, limits, packages)
        )

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


@dataclass(frozen=True)
class SandboxSettings(RaySettings):
    """Where a stage's programs run: sandbox workers here, or Ray workers (``ray_address``), each running a
    :class:`SandboxPool` of ``cpus_per_worker`` workers on its own node with the same isolation."""

    workers: int = option(
        0,
        help="Sandbox workers (0: one per CPU core); with --ray-address, Ray workers of --cpus-per-worker "
        "sandbox workers each (0: as many as the cluster's CPUs hold).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0 (0: one per core), got {self.workers}")

    def open(
        self, *, isolation: str | None = None, packages: tuple[str, ...] = ()
    ) -> SandboxPool | RaySandboxPool:
        """The pool these settings ask for: a :class:`SandboxPool` here, or its Ray counterpart (the same
        methods, the same results)."""
        if self.ray_address is None:
            return SandboxPool(self.workers or None, isolation=isolation, packages=packages)
        from ponder.verify.ray_pool import RaySandboxPool

        return RaySandboxPool(
            self.workers,
            address=self.ray_address,
            cpus_per_worker=self.cpus_per_worker,
            isolation=isolation,
            packages=packages,
        )


# Where and how wide programs run changes how fast, never what: no part of what a record depends on.
PLACEMENT_FIELDS = frozenset(f.name for f in fields(SandboxSettings))


def check_packages(job: Job, offered: tuple[str, ...]) -> None:
    missing = sorted(set(job.packages) - set(offered))
    if missing:
        raise JobError(
            "packages", f"{', '.join(missing)} not offered by this pool (SandboxPool(packages=...))"
        )


def tests_payloads(job: Job) -> list[str]:
    """The checked payloads of a ``run_tests`` job (JobError names a malformed field)."""
    check_job(job.source, job.tests, job.mode, job.entry_point, expect_outputs=True)
    return [payload(t, job.mode) for t in job.tests]


def inputs_payloads(job: Job) -> list[str]:
    """The checked payloads of a ``run_inputs`` job (its tests are inputs; outputs are recorded)."""
    if job.mode == "assert":
        raise ValueError("run_inputs records outputs: use mode 'stdio' or 'call'")
    tests = as_input_tests(job.tests)
    check_job(job.source, tests, job.mode, job.entry_point, expect_outputs=False)
    return [payload(t, job.mode) for t in tests]


def _lost(status: str, detail: str) -> dict:
    return {
        "status": status,
        "detail": detail,
        "stdout": "",
        "stderr": "",
        "duration_s": 0.0,
        "_restarted": True,
    }


def _stop_workers(workers: list) -> None:
    for w in workers:
        w.close()


def _in_order(pairs: Iterator[tuple[int, Any]]) -> list:
    out: dict[int, Any] = dict(pairs)
    return [out[i] for i in range(len(out))]

"""The sandbox on a Ray cluster: :class:`RaySandboxPool` fans jobs out over Ray workers.

Each Ray worker is an actor holding a :class:`~ponder.verify.pool.SandboxPool` on its own node, started with
the isolation and packages asked for here, so a program is run exactly as the local pool runs it (same
namespaces, limits and judging) and the results equal a local run's. Jobs are checked here before they leave
(a malformed job is the same :class:`~ponder.verify.jobs.JobError` as locally), sent in batches, two batches
in flight per worker so its pool never waits, and yielded batch by batch as they finish. An actor lost with
its node is restarted once and its batches run again (a sandbox run has no side effects to repeat).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any

from ponder.cluster import connect
from ponder.verify.jobs import Job, RunResult, TestResult, as_job, make_job
from ponder.verify.pool import SandboxPool, _in_order, check_packages, inputs_payloads, tests_payloads
from ponder.verify.sandbox import Limits, SandboxError

IN_FLIGHT = 2  # batches per worker at once: one runs while the next is on its way


class _PoolWorker:
    """One Ray worker: a local sandbox pool on the node Ray placed it on."""

    def __init__(self, workers: int, isolation: str, packages: tuple[str, ...]):
        self.pool = SandboxPool(workers, isolation=isolation, packages=packages)

    def info(self) -> dict[str, Any]:
        import ray

        return {
            "node": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "isolation": self.pool.isolation,
            "cgroup": self.pool.cgroup,
            "size": self.pool.size,
        }

    def run(self, kind: str, jobs: list[Job]) -> list[list]:
        return self.pool.run_tests_many(jobs) if kind == "tests" else self.pool.run_inputs_many(jobs)

    def close(self) -> None:
        self.pool.close()


class RaySandboxPool:
    """``workers`` Ray workers (0: as many as the cluster's CPUs hold), each reserving ``cpus_per_worker``
    CPUs and running that many sandbox workers (at least one) on its node. The methods and results are those
    of :class:`~ponder.verify.pool.SandboxPool`; ``address`` is the cluster's (None: a local Ray)."""

    def __init__(
        self,
        workers: int = 0,
        *,
        address: str | None = None,
        cpus_per_worker: float = 1.0,
        isolation: str | None = None,
        packages: tuple[str, ...] = (),
        batch_jobs: int | None = None,
    ):
        if workers < 0 or cpus_per_worker <= 0:
            raise ValueError("workers must be >= 0 and cpus_per_worker positive")
        ray = connect(address)
        self._ray = ray
        if workers == 0:
            workers = max(1, int(ray.cluster_resources().get("CPU", 1) // cpus_per_worker))
        per_worker = max(1, int(cpus_per_worker))
        # Read here, not on the nodes: the isolation asked for is the driver's, wherever programs run.
        isolation = isolation or os.environ.get("PONDER_SANDBOX_ISOLATION") or "auto"
        self.packages = tuple(sorted(set(packages)))
        actor = ray.remote(
            num_cpus=cpus_per_worker, max_concurrency=IN_FLIGHT, max_restarts=1, max_task_retries=1
        )
        self._actors = [
            actor(_PoolWorker).remote(per_worker, isolation, self.packages) for _ in range(workers)
        ]
        self._closed = False
        try:
            self.workers_info: list[dict[str, Any]] = self._get([a.info.remote() for a in self._actors])
        except BaseException:
            self.close()
            raise
        self.batch_jobs = batch_jobs or 2 * per_worker
        self.isolation = _one(w["isolation"] for w in self.workers_info)

    @property
    def size(self) -> int:
        return sum(w["size"] for w in self.workers_info)

    @property
    def cgroup(self) -> str:
        return _one(w["cgroup"] for w in self.workers_info)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        try:
            ray.get([a.close.remote() for a in self._actors], timeout=60)
        except Exception:  # a worker already gone: nothing left of it to stop
            pass
        for a in self._actors:
            ray.kill(a)
        self._actors = []

    def __enter__(self) -> RaySandboxPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ the SandboxPool methods
    def run_job(self, job: Job) -> list[TestResult]:
        return self.run_tests_many([job])[0]

    def run_inputs_job(self, job: Job) -> list[RunResult]:
        return self.run_inputs_many([job])[0]

    def run_tests(self, source: str, tests: list, *, mode: str = "stdio", **kw: Any) -> list[TestResult]:
        return self.run_job(_job(source, tests, mode, kw))

    def run_inputs(self, source: str, inputs: list, *, mode: str = "stdio", **kw: Any) -> list[RunResult]:
        return self.run_inputs_job(_job(source, inputs, mode, kw))

    def iter_tests(self, jobs: Iterable[Job | dict]) -> Iterator[tuple[int, list[TestResult]]]:
        return self._imap("tests", jobs)

    def iter_inputs(self, jobs: Iterable[Job | dict]) -> Iterator[tuple[int, list[RunResult]]]:
        return self._imap("inputs", jobs)

    def run_tests_many(self, jobs: Iterable[Job | dict]) -> list[list[TestResult]]:
        return _in_order(self.iter_tests(jobs))

    def run_inputs_many(self, jobs: Iterable[Job | dict]) -> list[list[RunResult]]:
        return _in_order(self.iter_inputs(jobs))

    # ------------------------------------------------------------------ fan-out
    def _imap(self, kind: str, jobs: Iterable[Job | dict]) -> Iterator[tuple[int, list]]:
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        checked = tests_payloads if kind == "tests" else inputs_payloads
        items = []
        for j in jobs:
            job = as_job(j)
            checked(job)  # a malformed job fails here, as it would locally, before anything runs
            check_packages(job, self.packages)
            items.append(job)
        batches = iter([(s, items[s : s + self.batch_jobs]) for s in range(0, len(items), self.batch_jobs)])
        running: dict[Any, tuple[Any, int]] = {}

        def submit(actor: Any) -> None:
            for start, batch in islice(batches, 1):
                running[actor.run.remote(kind, batch)] = (actor, start)

        for actor in self._actors * IN_FLIGHT:
            submit(actor)
        while running:
            (ref,), _ = self._ray.wait(list(running), num_returns=1)
            actor, start = running.pop(ref)
            results = self._get(ref)
            submit(actor)
            yield from enumerate(results, start)

    def _get(self, refs: Any) -> Any:
        """``ray.get`` with a lost worker or a sandbox that cannot start as one line, like the local pool's."""
        try:
            return self._ray.get(refs)
        except self._ray.exceptions.RayError as e:
            raise SandboxError(f"a Ray sandbox worker failed: {_cause(e)}") from None


def _job(source: str, tests: list, mode: str, kw: dict[str, Any]) -> Job:
    limits: Limits | None = kw.get("limits")
    return make_job(
        source,
        tests,
        mode,
        kw.get("entry_point"),
        kw.get("timeout_s"),
        kw.get("memory_mb"),
        kw.get("stop_on_first_failure", False),
        limits,
        kw.get("packages", ()),
    )


def _one(values: Iterable[str]) -> str:
    """One value when every worker reports the same, else all of them (e.g. nodes with and without cgroups)."""
    seen = sorted(set(values))
    return seen[0] if len(seen) == 1 else " / ".join(seen)


def _cause(e: BaseException) -> str:
    """The last line of the remote error that names an exception (Ray wraps it in its own report)."""
    lines = [x.strip() for x in str(e).splitlines() if x.strip()]
    named = [x for x in lines if "Error:" in x or "Exception:" in x]
    return (named or lines or [type(e).__name__])[-1][:500]

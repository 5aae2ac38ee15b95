"""The hard time limit of symbolic checks: worker processes killed at the deadline, from any thread."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time

from ponder.verify.answers import limits
from ponder.verify.answers.limits import POOL, WorkerPool
from ponder.verify.math import compare, is_equivalent
from tests.helpers import subprocess_env

HANG_S = 30  # a hang detector only: nothing here measures speed


def _in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", fn()), daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), "call did not return"
    return box["out"]


def test_a_running_check_is_killed_at_the_deadline_and_the_pool_recovers():
    pool = WorkerPool(size=1)
    try:
        assert pool.call("ping", (), HANG_S) == "pong"
        first = pool._idle[0].proc
        assert _in_thread(lambda: pool.call("sleep", (600,), 0.5)) is None
        assert first.poll() is not None, "the worker running past its deadline was not killed"
        assert pool.call("ping", (), HANG_S) == "pong"
    finally:
        pool.close()


def test_calls_from_many_threads():
    pool = WorkerPool(size=2)
    try:
        results = []
        threads = [
            threading.Thread(target=lambda: results.append(pool.call("ping", (), HANG_S))) for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(HANG_S)
        assert results == ["pong"] * 6
    finally:
        pool.close()


def test_errors_in_the_worker_are_answers_not_crashes():
    assert POOL.call("no-such-operation", (), HANG_S) is None
    assert POOL.call("ping", (), HANG_S) == "pong"


def _child(q):
    q.put(POOL.call("ping", (), HANG_S))


def test_forked_children_use_their_own_workers():
    POOL.call("ping", (), HANG_S)  # the parent has a worker before the fork
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child, args=(q,))
    p.start()
    p.join(HANG_S)
    assert p.exitcode == 0
    assert q.get(timeout=5) == "pong"
    assert POOL.call("ping", (), HANG_S) == "pong"


def test_a_slow_symbolic_comparison_returns_false_at_its_time_limit_from_a_thread():
    # Sums with a symbolic bound have no numeric value: sympy must find closed forms, which for
    # exponents like 10^6 takes far longer than the limit.
    a = r"\sum_{k=1}^{n} k^{1000000}"
    b = r"\sum_{k=1}^{n} k^{1000001}"
    POOL.call("ping", (), HANG_S)
    start = time.monotonic()
    ok, how = _in_thread(lambda: compare(a, b, timeout_s=0.5))
    assert time.monotonic() - start < HANG_S
    assert (ok, how) == (False, "symbolic")
    assert is_equivalent(a, a)


class _CannotStart:
    """Stands in for a worker whose process cannot be started (fork failing with EAGAIN, say). Records the
    thread of each attempt (the pool's starter thread)."""

    threads: list = []
    gate = threading.Event()

    def __init__(self):
        type(self).threads.append(threading.current_thread())
        self.gate.wait(HANG_S)  # holds the start until the test has looked at the lock
        raise OSError(11, "Resource temporarily unavailable")

    @classmethod
    def attempts(cls, pool) -> int:
        return sum(t is pool._starter for t in cls.threads)


def test_a_worker_that_cannot_start_costs_bounded_attempts_and_holds_no_lock(monkeypatch):
    monkeypatch.setattr(limits, "SPAWN_BACKOFF_S", 600.0, raising=False)
    _CannotStart.gate.clear()
    pool = WorkerPool(size=1)
    pool._new_worker = _CannotStart  # this pool only: the module's pool keeps starting real workers
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", pool.call("ping", (), HANG_S)), daemon=True)
    t.start()
    # While a start is in progress (or being retried), other threads can still take the pool's lock.
    assert pool._cond.acquire(timeout=HANG_S), "a failing start holds the pool's lock"
    pool._cond.release()
    _CannotStart.gate.set()
    t.join(HANG_S)
    assert not t.is_alive(), "a call spins on a worker that cannot start"
    assert box["out"] is None
    assert _CannotStart.attempts(pool) == 1  # the failure starts a pause: no second attempt within it
    assert _in_thread(lambda: pool.call("ping", (), HANG_S)) is None
    assert _CannotStart.attempts(pool) == 1, "a call during the pause tried again"


def test_starts_resume_after_the_pause(monkeypatch):
    monkeypatch.setattr(limits, "SPAWN_BACKOFF_S", 0.0, raising=False)
    pool = WorkerPool(size=1)
    try:
        pool._new_worker = _CannotStart
        _CannotStart.gate.set()
        assert _in_thread(lambda: pool.call("ping", (), HANG_S)) is None
        assert 1 <= _CannotStart.attempts(pool) <= limits.SPAWN_TRIES
        del pool._new_worker  # starts work again
        assert _in_thread(lambda: pool.call("ping", (), HANG_S)) == "pong"
    finally:
        pool.close()


_PARENT = """
import sys, threading, time
from ponder.verify.answers.limits import POOL
assert POOL.warm(60)
worker = POOL._idle[0].proc.pid
threading.Thread(target=lambda: POOL.call("sleep", (600,), 600), daemon=True).start()
time.sleep(1.0)  # the worker is now inside the request, not reading its pipe
print(worker, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


def test_workers_die_with_their_parent_on_kill_9():
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT], stdout=subprocess.PIPE, text=True, env=subprocess_env()
    )
    try:
        worker = int(parent.stdout.readline())
        assert not _gone(worker)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(HANG_S)
        end = time.monotonic() + HANG_S
        while not _gone(worker) and time.monotonic() < end:
            time.sleep(0.1)
        assert _gone(worker), "the symbolic worker outlived its parent's kill -9"
    finally:
        parent.kill()
        parent.wait()

"""The hard time limit of symbolic checks: worker processes killed at the deadline, from any thread."""

import multiprocessing
import threading
import time

from ponder.verify.answers.limits import POOL, WorkerPool
from ponder.verify.math import compare, is_equivalent

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

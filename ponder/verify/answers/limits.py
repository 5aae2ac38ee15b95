"""A hard time limit for symbolic checks that works in any thread and any process.

sympy can run for minutes (or forever) on some inputs, and Python cannot interrupt a running thread.
So symbolic checks run in worker processes (``python -c ...`` subprocesses speaking length-prefixed
pickles over pipes). The caller waits on the pipe with ``select`` until its deadline; when the deadline
passes the worker is killed (SIGKILL) and a fresh one is started in the background. No signals are
used in the calling process, so this works from worker threads, thread pools and forked processes
alike, unlike ``signal.alarm``.

Workers are started lazily, at most ``POOL_SIZE`` per process, limited to ``WORKER_MEMORY_BYTES`` of
address space. After ``fork()`` the child process starts its own workers (the parent's belong to the
parent). Guarantees:

- a worker dies with its parent, even on ``kill -9`` and even in the middle of a check: it asks the
  kernel for SIGKILL when its parent goes (``prctl(PR_SET_PDEATHSIG)``, Linux), checks that the parent is
  still the one that started it, and otherwise watches the parent's id once a second. The kernel ties
  that signal to the *thread* that started the worker, so workers are started by one long-lived thread
  per process (never by a caller's thread, which may end while its worker is still wanted);
- a worker that cannot be started costs a bounded number of attempts (``SPAWN_TRIES`` per call, then a
  pause of ``SPAWN_BACKOFF_S`` doubling up to ``SPAWN_BACKOFF_MAX_S``): calls then return None (no
  symbolic answer) at once instead of retrying, and no lock is held while a worker starts.
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

POOL_SIZE = 2
WORKER_MEMORY_BYTES = 4 << 30
SPAWN_TRIES = 2  # start attempts one call may make before it gives up
SPAWN_BACKOFF_S = 1.0  # pause after a failed start, doubled after each further failure
SPAWN_BACKOFF_MAX_S = 30.0
_ROOT = str(Path(__file__).resolve().parents[2])
_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); "
    "from ponder.verify.answers.limits import worker_main; worker_main({parent})"
)


class _Worker:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT.format(root=_ROOT, parent=os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )
        self.rfd = self.proc.stdout.fileno()
        self.wfd = self.proc.stdin.fileno()
        self.ready = False
        self.alive = True

    def _read(self, n: int, deadline: float) -> bytes | None:
        buf = b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.rfd], [], [], left)
            if not r:
                return None
            chunk = os.read(self.rfd, n - len(buf))
            if not chunk:
                raise EOFError("worker exited")
            buf += chunk
        return buf

    def wait_ready(self, deadline: float) -> bool:
        if not self.ready:
            if self._read(1, deadline) is None:
                return False
            self.ready = True
        return True

    def call(self, op: str, args: tuple, deadline: float):
        """``("ok", result)``, ``("error", message)`` or ``("timeout", None)`` (the worker is then dead)."""
        try:
            if not self.wait_ready(deadline):
                return "timeout", None
            data = pickle.dumps((op, args), protocol=pickle.HIGHEST_PROTOCOL)
            msg = memoryview(len(data).to_bytes(4, "big") + data)
            while msg:
                msg = msg[os.write(self.wfd, msg) :]
            head = self._read(4, deadline)
            body = None if head is None else self._read(int.from_bytes(head, "big"), deadline)
        except (OSError, EOFError):
            self.kill()
            return "error", "worker died"
        if body is None:
            self.kill()
            return "timeout", None
        status, result = pickle.loads(body)
        return status, result

    def kill(self) -> None:
        if self.alive:
            self.alive = False
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except Exception:
                pass
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except Exception:
                    pass


class WorkerPool:
    """Up to ``size`` symbolic workers shared by all threads of this process."""

    def __init__(self, size: int = POOL_SIZE):
        self.size = size
        self._reset()
        _POOLS.add(self)

    def _reset(self) -> None:
        # Also the state of a forked child: a fresh lock (the parent's may have been held by a thread
        # that does not exist here) and no workers (the parent's belong to the parent).
        self._cond = threading.Condition()
        self._pid = os.getpid()
        self._idle: list[_Worker] = []
        self._count = 0  # workers alive or being started
        self._wanted = 0  # starts asked of the starter thread, not yet begun
        self._failures = 0  # consecutive failed starts
        self._retry_at = 0.0  # no start before this time (after failures)
        self._starter: threading.Thread | None = None

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            self._reset()

    def _start_locked(self) -> bool:
        """Ask the starter thread for one more worker; False while failed starts are being waited out."""
        if time.monotonic() < self._retry_at:
            return False
        self._count += 1
        self._wanted += 1
        if self._starter is None or not self._starter.is_alive():
            self._starter = threading.Thread(
                target=self._starter_loop, name="ponder-sympy-starter", daemon=True
            )
            self._starter.start()
        self._cond.notify_all()
        return True

    def _starter_loop(self) -> None:
        cond = self._cond
        while True:
            with cond:
                while self._wanted == 0 or cond is not self._cond:
                    if cond is not self._cond:
                        return  # this pool was reset (fork): its old starter ends
                    cond.wait()
                self._wanted -= 1
            try:
                w = self._new_worker()
            except OSError:
                w = None
            with cond:
                if cond is not self._cond:
                    if w is not None:
                        w.kill()
                    return
                if w is None:
                    self._count -= 1
                    self._failures += 1
                    pause = min(SPAWN_BACKOFF_S * 2 ** (self._failures - 1), SPAWN_BACKOFF_MAX_S)
                    self._retry_at = time.monotonic() + pause
                else:
                    self._failures = 0
                    self._idle.append(w)
                cond.notify_all()

    def _new_worker(self) -> _Worker:
        return _Worker()

    def prestart(self) -> None:
        """Start a worker in the background if none exists yet (it imports sympy while we work)."""
        with self._cond:
            self._check_fork()
            if self._count == 0:
                self._start_locked()

    def warm(self, timeout_s: float = 60.0) -> bool:
        """Block until one worker has started (sympy imported); for long runs that want no cold start."""
        deadline = time.monotonic() + timeout_s
        w = self._acquire(deadline)
        if w is None:
            return False
        try:
            return w.wait_ready(deadline)
        except (OSError, EOFError):
            w.kill()
            return False
        finally:
            self._release(w)

    def _acquire(self, deadline: float) -> _Worker | None:
        with self._cond:
            self._check_fork()
            tries = 0
            while True:
                if self._idle:
                    # Prefer a worker that has finished starting.
                    self._idle.sort(key=lambda w: not w.ready)
                    return self._idle.pop(0)
                if self._count < self.size and tries < SPAWN_TRIES and self._start_locked():
                    tries += 1
                elif self._count == 0:
                    return None  # nothing is starting and nothing may start now: no worker will come
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def _release(self, w: _Worker) -> None:
        with self._cond:
            if os.getpid() != self._pid:
                return
            if w.alive:
                self._idle.append(w)
            else:
                self._count -= 1
                self._start_locked()  # a fresh worker warms up while nobody waits for it
            self._cond.notify_all()

    def call(self, op: str, args: tuple, timeout_s: float):
        """Run ``ponder.verify.answers.symbolic.run(op, args)`` in a worker; None on timeout or error."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        w = self._acquire(deadline)
        if w is None:
            return None
        try:
            status, result = w.call(op, args, deadline)
        finally:
            self._release(w)
        return result if status == "ok" else None

    def close(self) -> None:
        with self._cond:
            if os.getpid() != self._pid:
                return
            for w in self._idle:
                w.kill()
            self._count -= len(self._idle)
            self._idle.clear()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_POOLS):
        pool._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)


POOL = WorkerPool()
atexit.register(POOL.close)


def _die_with_parent(parent: int) -> None:
    """Exit when process ``parent`` (the one that started this worker) ends, even by ``kill -9``."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG: the kernel kills us with the parent
    except (OSError, AttributeError):
        pass  # not Linux: the watcher below still ends the worker within a second
    if os.getppid() != parent:
        os._exit(0)  # the parent died before the request above took effect

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent:
                os._exit(0)

    threading.Thread(target=watch, name="ponder-parent-watch", daemon=True).start()


def worker_main(parent: int | None = None) -> None:
    """The worker loop: read a request, run it, write the answer; exit when the pipe closes or the
    parent process ends."""
    import signal

    if parent is not None:
        _die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass
    sys.setrecursionlimit(10000)
    from ponder.verify.answers import symbolic

    inp, out = sys.stdin.buffer, sys.stdout.buffer
    out.write(b"R")
    out.flush()
    while True:
        head = inp.read(4)
        if len(head) < 4:
            return
        body = inp.read(int.from_bytes(head, "big"))
        try:
            op, args = pickle.loads(body)
            reply = ("ok", symbolic.run(op, args))
        except BaseException as e:  # noqa: BLE001 - any failure is an answer, never a crash
            reply = ("error", type(e).__name__)
        data = pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(len(data).to_bytes(4, "big") + data)
        out.flush()

"""Sandboxed execution of untrusted Python programs: the threat model, limits, and the host side of a worker.

Threat model
============

The program is hostile: sampled model output, possibly written to break out, to cheat, or to take the machine
down. The caller is the ponder process that asks for it to run. The sandbox guarantees (each property has an
adversarial test in ``tests/verify/test_sandbox*.py``, checked from outside the sandbox):

1. **Wall time.** Each test has a wall-clock limit (``timeout_s``), enforced by the supervisor, which kills the
   program; the host kills the whole worker if the supervisor itself does not answer in time.
2. **CPU time.** A CPU-time timer per test (``cpu_s``, all threads together; ``SIGPROF`` kills the program), and
   ``RLIMIT_CPU`` per process for the whole program as a backstop.
3. **Memory.** ``RLIMIT_AS`` per process (``memory_mb`` on top of the interpreter), every 20 ms the supervisor's
   sum of the proportional memory of all processes of a program plus the memory files they hold, and, where a
   cgroup can be made (:mod:`sandbox_cgroup`), a kernel limit of ``memory_mb`` + 64 MiB on all of them with
   their tmpfs files included.
4. **Processes.** ``RLIMIT_NPROC`` (``processes``, threads included) for the program's own uid in its own user
   namespace, and the cgroup's ``pids.max`` whatever the uid: fork bombs stop there.
5. **File size and disk.** ``RLIMIT_FSIZE`` (``file_size_mb``); writable places are size-limited tmpfs mounts.
6. **Empty environment.** The worker starts with no environment variables at all; nothing of the caller's
   environment (tokens, keys) reaches the program, neither in ``os.environ`` nor ``/proc/self/environ``.
7. **Private working directory.** Each test runs in a fresh empty directory, removed afterwards; ``/tmp`` and
   ``/dev/shm`` are emptied after each test (remounted when a program leaves a tree too deep to delete).
   System V IPC, whose objects would outlive a program, is switched off. Nothing is written to the host's disk.
8. **No network.** A new network namespace with only a loopback that is down: no connection reaches the host
   (not even 127.0.0.1) or anything else; abstract unix sockets of the host are out of reach too.
9. **No host files.** A new mount namespace whose root is an empty tmpfs holding, read-only, only the
   interpreter, its standard library and its shared libraries, plus null/zero/full/random/urandom devices;
   ``/proc`` is the sandbox's own. The host's other files (home directories, ``/etc``, the caller's data,
   the repository) do not exist for the program, and nothing of the host can be written.
10. **Expected outputs are never visible, and assert mode cannot be faked.** Only the program and the test
    inputs enter the program's process; stdio and call outputs are compared by the caller (:mod:`outputs`,
    which gives a verdict for any output). Assert-mode test code runs in a separate judge process
    (:mod:`sandbox_rpc`), which the program can neither read nor write, and which alone holds the result file.
11. **The whole process tree dies.** Each program runs in a PID namespace whose PID 1 is the supervisor; after
    every test that left threads or processes behind (``setsid`` daemons and double forks included) and at the
    end of every program, the supervisor kills everything else in the namespace.
12. **Output floods** cannot exhaust memory: stdout and stderr go to memory files that ``RLIMIT_FSIZE`` caps
    at ``file_size_mb`` (the program's next write fails); the caller gets at most ``output_bytes`` of stdout
    (more makes the test fail) and 64 KiB of stderr (its start and end).
13. **The caller survives** ``os.kill(os.getppid(), 9)``, ``kill(-1, 9)`` and any other signal: the host is
    outside the program's PID namespace (its parent is the namespace's init, which ignores them), and the
    program runs under a uid of its own with no capabilities (``setuid`` to an unprivileged uid, or all
    capabilities cleared and ``SECBIT_NOROOT`` locked in single-uid mode), ``no_new_privs`` set.
14. **System calls.** A seccomp filter (:mod:`sandbox_seccomp`) denies with ``EPERM`` what container runtimes
    deny by default, user namespaces among them (also switched off by sysctl: required, or no start).
15. **Nothing written is executable; only the standard library is there.** ``/tmp``, ``/dev/shm`` and the
    working directory are ``noexec``; a ``site-packages`` inside the standard-library folder is covered.
16. **The run survives the program.** Every report from the program's process and from a worker is checked;
    a malformed one is that program's ``runtime_error`` and a worker that sent one is replaced; working
    directories have unguessable names; timers and signal handlers are reset after each test.

Not covered: kernel vulnerabilities (the isolation is the kernel's namespaces, seccomp and rlimits); timing and other
side channels; CPU contention (a program can use all of its time limit on every core it is given); kernel
buffers of pipes and sockets beyond what a cgroup charges (without one, the kernel's per-user limits only);
the source and inputs of programs the same worker ran earlier, which may linger in the memory a program
inherits (never expected outputs or assert-mode test code: they never enter its process); the set-up of the
worker itself, which trusts the Python installation it runs. Programs see the standard library only, unless
their job names installed packages the pool offers (:mod:`sandbox_packages`): those, and only for that job.

Without namespaces
==================

Namespaces are required: where ``unshare`` fails (no unprivileged user namespaces, a container's seccomp
profile, an exhausted ``user.max_user_namespaces``) or where the sandbox cannot switch user namespaces off for
its programs, starting the sandbox raises :class:`SandboxError` with one line saying why, how to opt in to
the weaker mode and what it exposes. Only ``isolation="rlimits"`` (or ``PONDER_SANDBOX_ISOLATION=rlimits``)
runs programs without namespaces: rlimits, the seccomp filter, cgroup limits where available, its own uid
(when started as root) and a child-subreaper supervisor that finds the program's processes by walking
``/proc``; a :class:`SandboxWarning` names what programs can then do: open network connections (8), read the
host's files (9) and, when not root, signal the caller's processes (13) and outgrow the process limit (4).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ponder.errors import PonderError
from ponder.verify import sandbox_cgroup

PONDER_ROOT = str(Path(__file__).resolve().parents[2])
SANDBOX_UID = 1000  # the program's uid inside the user namespace (privileged mode)
HOST_UID_BASE = 0x7E000000  # host uids for programs: far above any real account
JUDGE_UID_BASE = 0x7F000000  # host uids for assert-mode judges (another range: not programs' processes)
JUDGE_UID = 1001  # the judge's uid inside the user namespace (privileged mode)
ISOLATIONS = ("auto", "namespaces", "rlimits")
_BOOT = (
    "import sys; sys.path.insert(0, {root!r}); from ponder.verify.sandbox_worker import boot; boot(sys.argv)"
)
_DISCOVER = (
    "import sys; sys.path.insert(0, {root!r}); from ponder.verify.sandbox_fs import discover_libraries; "
    "print('\\n'.join(discover_libraries()))"
)
_libraries: list[str] | None = None


class SandboxError(PonderError):
    """The sandbox could not be started or stopped answering."""


class SandboxWarning(RuntimeWarning):
    """The sandbox runs with weaker isolation than the threat model states."""


@dataclass(frozen=True)
class Limits:
    """Limits for one program; all but ``timeout_s`` hold for the program's processes together."""

    timeout_s: float = 5.0  # wall-clock seconds per test
    cpu_s: float | None = None  # CPU seconds per test, all threads together (default: timeout_s)
    memory_mb: int = 512  # address space per process beyond the interpreter, and the sum over processes
    processes: int = 32  # processes and threads at once
    file_size_mb: int = 16  # largest file (and stdout) a program can write
    output_bytes: int = 1 << 20  # stdout kept per test; more is an output_limit result
    open_files: int = 256

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if name == "cpu_s" and value is None:
                continue
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive number, got {value!r}")
        if self.processes < 2:
            raise ValueError("Limits.processes must be at least 2 (the program and one more)")

    def to_wire(self, n_tests: int) -> dict:
        return {**asdict(self), "cpu_s": self.cpu_s or self.timeout_s, "n_tests": n_tests}


class WorkerLost(Exception):
    """The worker died, did not answer, or answered with a malformed message; it has been killed."""

    def __init__(self, message: str, *, timed_out: bool, malformed: bool = False, memory: bool = False):
        super().__init__(message)
        self.timed_out = timed_out
        self.malformed = malformed
        self.memory = memory  # the kernel's OOM killer ended it at its cgroup's memory limit


def host_uid(index: int, base: int = HOST_UID_BASE) -> int:
    """The host uid a worker's programs run as: unique per process and worker, far above real accounts.
    With ``base=JUDGE_UID_BASE``: the uid of the worker's assert-mode judge, which programs cannot signal."""
    return base + ((os.getpid() & 0xFFFF) << 6) + (index & 0x3F)


def shared_libraries() -> list[str]:
    """The shared libraries the standard library's extension modules need (found once per process, in a
    throwaway interpreter, and handed to every worker so that none has to look again)."""
    global _libraries
    if _libraries is None:
        cmd = [sys.executable, "-I", "-S", "-B", "-c", _DISCOVER.format(root=PONDER_ROOT)]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, env={}, cwd="/", timeout=120)
            found = p.stdout.split("\n") if p.returncode == 0 else []
        except (OSError, subprocess.TimeoutExpired):
            found = []
        _libraries = [x for x in found if x]
    return _libraries


def worker_config(
    isolation: str,
    index: int,
    *,
    single_uid: bool = False,
    disk_mb: int = 64,
    shm_mb: int = 16,
    packages: dict | None = None,
) -> dict:
    """What a worker needs to know: isolation, uid/gid maps, how the child drops privileges, and the
    packages it offers (:func:`ponder.verify.sandbox_packages.resolve`)."""
    cfg = {"isolation": isolation, "disk_mb": disk_mb, "shm_mb": shm_mb, "ponder_root": PONDER_ROOT}
    cfg.update(
        packages=(packages or {}).get("paths", {}), package_libraries=(packages or {}).get("libraries", [])
    )
    euid, egid = os.geteuid(), os.getegid()
    if isolation == "namespaces":
        cfg["libraries"] = shared_libraries()  # empty if discovery failed: the worker then looks itself
        if euid == 0 and not single_uid:
            # Inside root stays host root (the supervisor must read the interpreter wherever it lives);
            # the program runs as SANDBOX_UID, a host uid of its own with no rights on the host.
            x, j = host_uid(index), host_uid(index, JUDGE_UID_BASE)
            maps = f"0 0 1\n{SANDBOX_UID} {x} 1\n{JUDGE_UID} {j} 1\n"
            cfg.update(uid_map=maps, gid_map=maps, setgroups="allow", privileges="setuid")
            cfg.update(uid=SANDBOX_UID, judge_uid=JUDGE_UID)
        else:  # one uid only: the judge shares it (woken with SIGCONT after each program, see the worker)
            cfg.update(uid_map=f"0 {euid} 1\n", gid_map=f"0 {egid} 1\n", setgroups="deny")
            cfg.update(privileges="single_uid", uid=0, judge_uid=0)
    elif euid == 0:
        cfg.update(privileges="setuid", uid=host_uid(index), judge_uid=host_uid(index, JUDGE_UID_BASE))
    else:
        cfg.update(privileges="none", uid=euid, judge_uid=euid)
    return cfg


class SandboxWorker:
    """One worker process: a supervisor in its own namespaces serving one program at a time."""

    def __init__(self, cfg: dict, index: int, cgroup: sandbox_cgroup.WorkerCgroup | None = None):
        self.cfg = cfg
        self.index = index
        self.cgroup = cgroup  # memory and pids limits for its programs, where cgroups can be made
        self.proc: subprocess.Popen | None = None
        self.req_w = self.rep_r = -1
        self.workbase: str | None = None
        self._stderr = None

    # ------------------------------------------------------------------ life cycle
    def spawn(self) -> None:
        """Start the process (returns at once; :meth:`handshake` waits until it is ready)."""
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        cfg = {**self.cfg, "req_fd": req_r, "rep_fd": rep_w}
        extra: list[int] = []
        if self.cgroup is not None:
            cfg["cgroup"] = cg = self.cgroup.fds()
            extra = [*cg["procs"], cg["memory"], cg["pids"], cg["events"]]
        self._stderr = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-B", "-c", _BOOT.format(root=PONDER_ROOT), json.dumps(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(req_r, rep_w, *extra),
                env={},
                cwd="/",
                start_new_session=True,
            )
        finally:
            for fd in (req_r, rep_w, *extra):
                os.close(fd)

    def handshake(self, timeout: float = 60.0) -> dict:
        """Wait for the worker's first message: ``{"ready": true, ...}`` or ``{"ready": false, "error": ...}``."""
        try:
            msg = self._read(time.monotonic() + timeout)
        except WorkerLost as e:
            msg = {"ready": False, "error": str(e)}
        if msg.get("ready"):
            self.workbase = msg.get("workbase")
        else:
            self.kill()
        return msg

    def start(self, timeout: float = 60.0) -> dict:
        self.spawn()
        return self.handshake(timeout)

    def kill(self) -> None:
        """Kill the worker and, with it, everything in its namespaces."""
        if self.proc is not None:
            try:
                self.proc.kill()  # the supervisor has PDEATHSIG=SIGKILL; its PID namespace dies with it
            except OSError:
                pass
            self.proc.wait()
            self.proc = None
        for fd in (self.req_w, self.rep_r):
            if fd >= 0:
                os.close(fd)
        self.req_w = self.rep_r = -1
        if self.cfg["isolation"] == "rlimits":
            self._clean_fallback()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def _clean_fallback(self) -> None:
        from ponder.verify import sandbox_fs

        if self.cfg["privileges"] == "setuid":  # our programs' uid: whatever still runs under it is theirs
            for pid in sandbox_fs.descendants(-1, uid=self.cfg["uid"]):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.workbase:
            import shutil

            shutil.rmtree(self.workbase, ignore_errors=True)
            self.workbase = None

    def close(self) -> None:
        """Ask the worker to stop (it kills its programs and cleans up), then make sure it is gone."""
        if self.proc is not None and self.req_w >= 0:
            try:
                os.close(self.req_w)  # EOF: the supervisor ends the program and exits
                self.req_w = -1
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def restart(self) -> None:
        self.kill()
        msg = self.start()
        if not msg.get("ready"):
            raise SandboxError(f"sandbox worker {self.index} failed to restart: {msg.get('error')}")

    # ------------------------------------------------------------------ requests
    def request(self, msg: dict, timeout: float) -> dict:
        """Send one request and wait for its reply; on death or timeout kill the worker and raise WorkerLost."""
        data = json.dumps(msg).encode()
        try:
            view = memoryview(struct.pack(">I", len(data)) + data)
            while view:
                view = view[os.write(self.req_w, view) :]
        except OSError as e:
            self.kill()
            raise WorkerLost(f"sandbox worker went away ({e})", timed_out=False) from None
        # Memory a program holds in tmpfs files outlives the program: the OOM killer may then end the
        # supervisor too (on cgroup v2 the whole group goes). That is the program's memory, not a crash.
        ooms = self.cgroup.oom_kills() if self.cgroup is not None else 0
        try:
            return self._read(time.monotonic() + timeout)
        except WorkerLost as e:
            if (
                not (e.timed_out or e.malformed)
                and self.cgroup is not None
                and self.cgroup.oom_kills() > ooms
            ):
                e.memory = True
            raise

    def _read(self, deadline: float) -> dict:
        head = self._read_exact(4, deadline)
        (n,) = struct.unpack(">I", head)
        if n > 256 << 20:
            self.kill()
            raise WorkerLost(
                "sandbox worker sent an oversized (malformed) reply", timed_out=False, malformed=True
            )
        body = self._read_exact(n, deadline)
        try:
            msg = json.loads(body)
        except (ValueError, RecursionError, MemoryError):
            msg = None
        if not isinstance(msg, dict):
            self.kill()
            raise WorkerLost("sandbox worker sent a malformed reply", timed_out=False, malformed=True)
        return msg

    def _read_exact(self, n: int, deadline: float) -> bytes:
        parts, left = [], n
        while left:
            wait = deadline - time.monotonic()
            ready = select.select([self.rep_r], [], [], max(0.0, wait))[0] if wait > 0 else []
            if not ready:
                self.kill()
                raise WorkerLost("sandbox worker did not answer in time", timed_out=True)
            chunk = os.read(self.rep_r, min(left, 1 << 20))
            if not chunk:
                why = self._stderr_tail()
                self.kill()
                raise WorkerLost(f"sandbox worker exited{': ' + why if why else ''}", timed_out=False)
            parts.append(chunk)
            left -= len(chunk)
        return b"".join(parts)

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            lines = self._stderr.read()[-2000:].decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

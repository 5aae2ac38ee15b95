"""The sandbox worker process (see :mod:`ponder.verify.sandbox` for the threat model).

Started by the host as ``python -I -S -B -c BOOT CONFIG``. It preloads the standard library, then:

1. (namespaces) a helper forked beforehand writes its uid/gid maps while the worker ``unshare``s new user,
   mount, PID, network, IPC and UTS namespaces;
2. forks the supervisor, PID 1 of the new PID namespace (or, without namespaces, a child subreaper), which
   builds a read-only root of the interpreter's files only (:mod:`ponder.verify.sandbox_fs`) and serves
   requests from the host: one program at a time, its tests one by one, each in a fresh working directory;
3. per program the supervisor forks a child (:mod:`ponder.verify.sandbox_child`) that drops all privileges
   and runs the tests; the supervisor enforces the wall-clock limit, the memory total of all processes, and
   kills every other process of the program after each test that left any behind.

Host <-> supervisor messages are length-prefixed JSON over two pipes. Standard library only.
"""

from __future__ import annotations

import gc
import json
import os
import select
import shutil
import signal
import socket
import sys
import time

from ponder.verify import (
    sandbox_cgroup,
    sandbox_child,
    sandbox_fs,
    sandbox_judge,
    sandbox_packages,
    sandbox_report,
    sandbox_seccomp,
)
from ponder.verify import sandbox_sys as ss
from ponder.verify.sandbox_wire import recv_msg, send_msg, write_all

# Imported once so that every program starts with them loaded; kept to what programs commonly use (each module
# makes every fork and exit slower). All other standard-library modules stay importable inside.
PRELOAD = (
    "abc array bisect collections collections.abc copy dataclasses datetime decimal encodings.idna enum fractions "
    "functools heapq io itertools json math numbers operator queue random re statistics string struct textwrap "
    "threading time typing unicodedata"
).split()

TICK_S = 0.02  # how often the memory total is checked while a test runs
TICK_FALLBACK_S = 0.1  # without namespaces each check walks the host's whole process table


def boot(argv: list[str]) -> None:
    """Entry point of the worker process."""
    cfg = json.loads(argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass
    if cfg["isolation"] == "namespaces":
        try:
            cfg["libraries"] = cfg.get("libraries") or sandbox_fs.discover_libraries()
            cfg["sysv_ipc_off"] = ss.enter_namespaces(cfg["setgroups"], cfg["uid_map"], cfg["gid_map"])
        except OSError as e:
            send_msg(cfg["rep_fd"], {"ready": False, "error": f"namespaces: {e}"})
            os._exit(3)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            Supervisor(cfg).serve()
        except BaseException as e:  # noqa: BLE001 - report why the sandbox could not start or went down
            try:
                send_msg(cfg["rep_fd"], {"ready": False, "error": f"{type(e).__name__}: {e}"})
            except OSError:
                pass
            code = 4
        os._exit(code)
    os.close(cfg["req_fd"])
    os.close(cfg["rep_fd"])
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


# --------------------------------------------------------------------------- supervisor


class Supervisor:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.ns = cfg["isolation"] == "namespaces"
        self.tick = TICK_S if self.ns else TICK_FALLBACK_S
        self.req_fd, self.rep_fd = cfg["req_fd"], cfg["rep_fd"]
        self.uid = cfg["uid"]
        self.program: dict | None = None
        self.site = False  # /site mounted with the current program's packages
        self.child: int | None = None
        self.sock: socket.socket | None = None
        self.pidfd = -1
        self.prog: int | None = None  # assert mode: the program's process (self.child is the judge)
        self.prog_sock: socket.socket | None = None
        self.new_rpc: socket.socket | None = None  # the judge's end of a new program's connection
        self.seq = 0
        ss.prctl(ss.PR_SET_PDEATHSIG, signal.SIGKILL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if self.ns:
            self.python = sandbox_fs.build_root(cfg)
            ss.sethostname("sandbox")
            self.workbase = "/tmp"
            self.scratch = ["/tmp", "/dev/shm"]
        else:
            ss.prctl(ss.PR_SET_CHILD_SUBREAPER, 1)
            self.python = os.path.realpath(sys.executable)
            self.workbase = sandbox_fs.fallback_workbase()
            self.scratch = [self.workbase]
        ss.prctl(ss.PR_SET_DUMPABLE, 0)  # programs may share our uid (single-uid mode): no ptrace of us
        self.child_cfg = {
            "privileges": cfg["privileges"],
            "uid": self.uid,
            "python": self.python,
            "ponder_root": cfg["ponder_root"],
            "seccomp": sandbox_seccomp.build_filter(),
        }
        self.cg = cfg.get("cgroup")
        if self.cg:  # the supervisor joins once: every process it forks is born there (moving each costs ms)
            sandbox_cgroup.join(self.cg)
        sandbox_seccomp.check(self.child_cfg["seccomp"])
        self.base_kb = _pss_kb(os.getpid())
        gc.collect()
        gc.freeze()  # children share these pages copy-on-write; keep the collector off them
        ss.malloc_trim()  # fewer resident pages: every fork copies their page tables
        send_msg(self.rep_fd, {"ready": True, "isolation": cfg["isolation"], "workbase": self.workbase})

    def serve(self) -> None:
        while True:
            msg = recv_msg(self.req_fd)
            if msg is None:
                self.end_program()
                if not self.ns:
                    shutil.rmtree(self.workbase, ignore_errors=True)
                return
            op = msg.get("op")
            if op == "test":
                try:
                    reply = self.test(msg)
                except Exception as e:  # noqa: BLE001 - whatever the program did, the worker stays up
                    self.end_program()
                    reply = {
                        "status": "runtime_error",
                        "detail": f"the sandbox could not run the test: {e!r}"[:500],
                    }
                    reply.update(stdout="", stderr="", duration_s=0.0, value=None, exit_code=None)
                if msg.get("last"):
                    # Before replying: when the caller hears back, no process of the program is left.
                    self.end_program()
            elif op == "end":
                self.end_program()
                reply = {"ok": True}
            else:
                reply = {"ok": True, "pid": os.getpid()}
            send_msg(self.rep_fd, reply)

    # ------------------------------------------------------------------ programs and children
    def end_program(self) -> None:
        if self.program is not None or (self.child is not None and self.prog is not None):
            if self.prog is not None and self.child is not None and not self.others():
                os.kill(self.prog, signal.SIGKILL)  # the program's process only: the judge serves the next
                os.waitpid(self.prog, 0)
                os.kill(self.child, signal.SIGCONT)  # in case the program stopped it (kill(-1, SIGSTOP))
                self.prog_sock.close()
                self.prog, self.prog_sock = None, None
            else:
                self.kill_all()
            # fresh mounts: nothing a program did to them (modes, owners, files) meets the next one
            if self.ns:
                for d in self.scratch:
                    sandbox_fs.fresh_tmpfs(d, self.cfg)
            else:
                self.reset_scratch()
            if not self.ns and self.cfg["privileges"] == "setuid":
                sandbox_fs.remove_owned_by(self.uid, ("/tmp", "/var/tmp", "/dev/shm"))
        if self.site:
            ss.umount2(sandbox_packages.SITE, ss.MNT_DETACH)
        self.program, self.site = None, False

    def reset_scratch(self) -> None:
        """Empty the writable places. A tree the program made too deep or too large to delete quickly is
        dropped whole: its tmpfs is detached and a fresh one mounted in its place."""
        for d in self.scratch:
            try:
                sandbox_fs.empty_dir(d)
                if not os.listdir(d):
                    continue
            except (OSError, RecursionError):
                pass
            if self.ns:
                sandbox_fs.fresh_tmpfs(d, self.cfg)
            else:
                sandbox_fs.remove_stubborn(d)

    def spawn(self) -> None:
        if self.ns and not self.cfg.get("sysv_ipc_off"):  # System V IPC is on: fresh objects per program
            ss.unshare(ss.CLONE_NEWIPC)
        if self.cg:
            lim = self.program["limits"]
            try:
                sandbox_cgroup.set_limits(
                    self.cg, lim["memory_mb"], lim["processes"] + 2
                )  # judge, supervisor
            except OSError:
                pass  # usage above a lower limit (v1 refuses): the last limit stays
        if self.program["mode"] == "assert":
            # Two processes: the program's answers calls; the judge -- kept from program to program, and
            # self.child here, as its report is the one that counts -- runs the test code.
            self.prog, self.prog_sock, self.new_rpc = sandbox_judge.fork_program(self.program, self.child_cfg)
            if self.child is not None:
                return
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            a.close()
            if self.program["mode"] == "assert":
                sandbox_judge.main(b, {**self.child_cfg, "uid": self.cfg["judge_uid"]})
            sandbox_child.main(b, self.program, self.child_cfg)
        b.close()
        a.setblocking(False)
        self.child, self.sock, self.pidfd = pid, a, os.pidfd_open(pid)

    def _forget_child(self) -> None:
        for x in (self.sock, self.prog_sock, self.new_rpc):
            if x is not None:
                x.close()
        self.new_rpc = None
        if self.pidfd >= 0:
            os.close(self.pidfd)
        self.child, self.sock, self.pidfd = None, None, -1
        self.prog, self.prog_sock = None, None

    def kill_all(self) -> None:
        """Kill every process of the program (setsid daemons included) and reap them."""
        if self.ns:
            try:
                os.kill(-1, signal.SIGKILL)  # from PID 1: everything in the namespace but ourselves
            except ProcessLookupError:
                pass
            while True:
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
        else:
            sandbox_fs.kill_descendants(os.getpid(), self.uid if self.cfg["privileges"] == "setuid" else None)
        self._forget_child()

    def others(self) -> list[int]:
        """Processes of the program other than the child (and, in assert mode, the program's process)."""
        if self.ns:
            return [
                int(p)
                for p in os.listdir("/proc")
                if p.isdigit() and int(p) not in (1, self.child, self.prog)
            ]
        return [p for p in sandbox_fs.descendants(os.getpid()) if p not in (self.child, self.prog)]

    # ------------------------------------------------------------------ one test
    def test(self, msg: dict) -> dict:
        if "program" in msg:
            self.end_program()
            self.program = msg["program"]
            if self.program["mode"] != "assert" and self.child is not None:
                self.kill_all()  # a judge kept from an assert-mode program
            names = self.program.get("packages") or []
            self.program["sys_path"] = sandbox_packages.sys_path(self.cfg, names)
            self.site = self.ns and sandbox_packages.mount_site(self.cfg["package_fds"], names, ss)
        lim = self.program["limits"]
        fds = [os.memfd_create(name, os.MFD_CLOEXEC) for name in ("input", "stdout", "stderr", "result")]
        self.seq += 1
        try:
            write_all(fds[0], msg["input"].encode("utf-8", "surrogatepass"))
            workdir = self._make_workdir()
            t0 = time.monotonic()
            outcome = self._send_and_wait(fds, workdir, t0 + lim["timeout_s"], lim)
            duration = time.monotonic() - t0
            return sandbox_report.report(outcome, fds, duration, lim, self.program["mode"])
        finally:
            for fd in fds:
                os.close(fd)
            self.reset_scratch()  # the working directory lives there too: each test starts from empty

    def _make_workdir(self) -> str:
        """A fresh working directory under a name no program can guess (or pre-create)."""
        for _ in range(8):
            path = f"{self.workbase}/run-{os.urandom(8).hex()}"
            try:
                os.mkdir(path, 0o700)
            except FileExistsError:
                continue
            if self.cfg["privileges"] != "none":
                os.chown(path, self.uid, self.uid, follow_symlinks=False)
            return path
        raise OSError("could not create a working directory")

    def _send_and_wait(self, fds: list[int], workdir: str, deadline: float, lim: dict) -> dict:
        entry, cap = self.program.get("entry_point"), int(lim["file_size_mb"]) << 20
        req = {"seq": self.seq, "workdir": workdir, "cpu_s": lim["cpu_s"], "entry_point": entry, "cap": cap}
        req = json.dumps(req).encode()
        for attempt in (0, 1):
            if self.child is None or (self.program["mode"] == "assert" and self.prog is None):
                self.spawn()
            try:
                if self.prog is not None:  # assert mode: the program gets its streams, never the tests
                    spare = [os.memfd_create(n, os.MFD_CLOEXEC) for n in ("nothing", "unused")]
                    try:
                        socket.send_fds(self.prog_sock, [req], [spare[0], fds[1], fds[2], spare[1]])
                    finally:
                        for fd in spare:
                            os.close(fd)
                socket.send_fds(self.sock, [req], fds + ([self.new_rpc.fileno()] if self.new_rpc else []))
                if self.new_rpc is not None:
                    self.new_rpc.close()
                    self.new_rpc = None
                break
            except OSError:
                if attempt:
                    raise
                self.kill_all()  # the child died between tests; start a fresh one
        ooms = sandbox_cgroup.oom_kills(self.cg) if self.cg else 0
        out = self._wait(deadline, lim)
        if self.cg and sandbox_cgroup.oom_kills(self.cg) > ooms:
            out["memory"] = True  # the kernel killed a process of the program at the cgroup's limit
        if self.prog is not None and not sandbox_judge.program_settled(self.prog_sock, self.seq, deadline):
            self.kill_all()  # the program's process died, hangs, or left threads running
        return out

    def _wait(self, deadline: float, lim: dict) -> dict:
        out = {"done": None, "died": False, "timed_out": False, "memory": False, "status": None, "cpu_s": 0.0}
        poller = select.poll()
        poller.register(self.sock.fileno(), select.POLLIN)
        poller.register(self.pidfd, select.POLLIN)
        next_tick = time.monotonic() + self.tick
        while True:
            now = time.monotonic()
            if now >= deadline:
                out["timed_out"] = True
                break
            for fd, _ in poller.poll(max(0.0, min(deadline, next_tick) - now) * 1000 + 0.5):
                if fd == self.pidfd:
                    out["died"] = True
                    continue
                try:
                    data = self.sock.recv(1 << 12)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    poller.unregister(self.sock.fileno())  # the program closed our channel; wait for its exit
                    continue
                try:
                    m = json.loads(data)
                except (ValueError, RecursionError):  # the program may write anything to this socket
                    continue
                if isinstance(m, dict) and m.get("seq") == self.seq:
                    out["done"] = m
            if out["done"] is not None or out["died"]:
                break
            if time.monotonic() >= next_tick:
                next_tick = time.monotonic() + self.tick
                if self._over_memory(lim):
                    out["memory"] = True
                    break
        if out["died"] or out["timed_out"] or out["memory"]:
            if not out["died"]:
                os.kill(self.child, signal.SIGKILL)
            _, status, usage = os.wait4(self.child, 0)
            out["status"], out["cpu_s"] = status, usage.ru_utime + usage.ru_stime
            self.child = None
            self.kill_all()
        elif not out["done"].get("clean") or self.others():
            self.kill_all()  # threads or processes left behind must not run into the next test
        return out

    def _over_memory(self, lim: dict) -> bool:
        # RLIMIT_AS bounds each process's mappings. This bounds what it cannot see: the sum over a program's
        # processes, and memory files (memfd_create), which hold memory without mapping it.
        pids = [p for p in (self.child, self.prog) if p is not None] + self.others()
        total = sum(_pss_kb(p) for p in pids) + sandbox_fs.memfd_kb(pids)
        return total > lim["memory_mb"] * 1024 + self.base_kb


def _pss_kb(pid: int) -> int:
    """Proportional memory of a process in KiB (anonymous + shared memory; pages shared by forks are split)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            return sum(int(line.split()[1]) for line in fh if line.startswith(("Pss_Anon:", "Pss_Shmem:")))
    except (OSError, ValueError, IndexError):
        return 0

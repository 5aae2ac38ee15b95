"""The process that runs one untrusted program inside the sandbox (see :mod:`ponder.verify.sandbox`).

It is forked from the sandbox supervisor (which has the standard library loaded), drops every privilege,
compiles the program once and then runs the program's tests one at a time as the supervisor sends them.
Per test the supervisor passes four memory files: the input, stdout, stderr and the result. The child
never learns expected outputs; it only reports what the program did. Nothing here is trusted by the
supervisor: a program can overwrite any of it, so the supervisor re-checks everything it receives.

Result written to the result file (JSON): ``{"status": ok|failed|runtime_error|memory|compile_error,
"detail": str, "value": canonical JSON text (call mode) or null, "exit_code": int}``.
"""

from __future__ import annotations

import atexit
import builtins
import gc
import io
import json
import linecache
import math
import os
import resource
import signal
import socket
import sys
import threading
import traceback
import types

from ponder.verify import outputs, sandbox_rpc, sandbox_seccomp
from ponder.verify import sandbox_sys as ss

PROGRAM_FILE = "solution.py"
TESTS_FILE = "tests.py"
_USER_FILES = (PROGRAM_FILE, TESTS_FILE)


def main(sock: socket.socket, program: dict, cfg: dict, rpc: socket.socket | None = None) -> None:
    """Entry point in the forked child; never returns. ``rpc``: the connection to the judge (assert mode)."""
    code = 0
    try:
        setup([sock.fileno()] + ([rpc.fileno()] if rpc else []), program, cfg)
        _Child(sock, program, rpc).serve()
    except BaseException:  # noqa: BLE001 - anything here means the child cannot go on
        code = 70
    finally:
        os._exit(code)


def setup(keep: list[int], program: dict, cfg: dict, *, dumpable: bool = True) -> None:
    """Drop everything but the descriptors in ``keep``, set the limits, drop privileges, install the
    seccomp filter. ``dumpable=False`` (the judge) keeps other processes of the same uid out of this one."""
    os.setpgid(0, 0)  # its own process group: kill(0) from the program reaches nothing of the worker
    ss.prctl(ss.PR_SET_PDEATHSIG, signal.SIGKILL)
    lo = 3
    for fd in sorted(keep):
        os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    try:  # the kernel's OOM killer should pick sandboxed programs first
        with open("/proc/self/oom_score_adj", "w") as fh:
            fh.write("1000")
    except OSError:
        pass
    _set_limits(program["limits"], cfg)
    _drop_privileges(cfg)
    sandbox_seccomp.install(cfg["seccomp"])  # after no_new_privs; the program and its children inherit it
    # After a uid change the kernel makes the process non-dumpable, which hides /proc/self from the program
    # itself; programs may read their own /proc entries (only the judge runs under this uid too, and it
    # stays non-dumpable).
    ss.prctl(ss.PR_SET_DUMPABLE, 1 if dumpable else 0)
    for name in ("SIGINT", "SIGTERM", "SIGCHLD"):
        signal.signal(
            getattr(signal, name), signal.SIG_DFL if name != "SIGINT" else signal.default_int_handler
        )
    gc.enable()
    os.environ.clear()  # the worker started with none; this drops what the interpreter set itself (LC_CTYPE)
    sys.argv = [PROGRAM_FILE]
    sys.executable = cfg.get("python", sys.executable)
    sys.path[:] = [p for p in sys.path if p != cfg.get("ponder_root")] + program.get("sys_path", [])
    for name in [m for m in sys.modules if m == "ponder" or m.startswith("ponder.")]:
        del sys.modules[name]  # the runner keeps its own references; programs see only the standard library


def _set_limits(limits: dict, cfg: dict) -> None:
    mib = 1 << 20
    nproc = int(limits["processes"])
    if cfg["privileges"] == "none":  # RLIMIT_NPROC then counts every process of the caller's user too
        nproc += sum(1 for p in os.listdir("/proc") if p.isdigit() and _owner(p) == os.getuid())
    vm_size = _vm_size()
    # The interpreter with the preloaded standard library already maps some address space; the program
    # gets memory_mb on top of it, like a fresh interpreter would.
    address = vm_size + int(limits["memory_mb"]) * mib
    cpu_total = int(math.ceil(limits["cpu_s"] * max(1, limits["n_tests"]))) + 2
    for res, value in (
        (resource.RLIMIT_AS, address),
        (resource.RLIMIT_NPROC, nproc),
        (resource.RLIMIT_FSIZE, int(limits["file_size_mb"]) * mib),
        (resource.RLIMIT_NOFILE, int(limits["open_files"])),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_MSGQUEUE, 0),
        (resource.RLIMIT_CPU, cpu_total),
    ):
        resource.setrlimit(res, (value, value))


def _owner(pid: str) -> int:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return -1


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def _drop_privileges(cfg: dict) -> None:
    how = cfg["privileges"]
    uid = cfg["uid"]
    if how in ("setuid", "single_uid"):
        ss.lock_out_root()
    if how == "setuid":
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
    elif how == "single_uid":
        ss.clear_capabilities()
    ss.prctl(ss.PR_SET_NO_NEW_PRIVS, 1)
    if how != "none" and ss.effective_capabilities() != 0:
        raise PermissionError("capabilities left after dropping privileges")


class _Child:
    def __init__(self, sock: socket.socket, program: dict, rpc: socket.socket | None = None):
        self.sock = sock
        self.rpc = rpc
        self.cap = int(program["limits"]["file_size_mb"]) << 20
        self.mode = program["mode"]
        self.entry_point = program.get("entry_point")
        self.recursion_limit = sys.getrecursionlimit()
        self.handlers = {}
        for sig in signal.valid_signals():
            try:
                self.handlers[sig] = signal.getsignal(sig)
            except (OSError, ValueError):
                pass
        self.module: dict | None = None
        self.module_error: tuple[str, str] | None = None
        self.compile_error: str | None = None
        source = program["source"]
        linecache.cache[PROGRAM_FILE] = (len(source), None, source.splitlines(True), PROGRAM_FILE)
        try:
            self.code = compile(source, PROGRAM_FILE, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
            self.code = None
            self.compile_error = _exc_line(e)

    def serve(self) -> None:
        while True:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
            if not data:
                return
            req = json.loads(data)
            if len(fds) != 4:
                return
            self.run_one(req, *fds)
            try:
                clean = len(os.listdir("/proc/self/task")) == 1
            except OSError:
                clean = False
            self.sock.send(json.dumps({"seq": req["seq"], "clean": clean}).encode())

    # ------------------------------------------------------------------ one test
    def run_one(self, req: dict, in_fd: int, out_fd: int, err_fd: int, res_fd: int) -> None:
        payload = ""
        if self.mode != "stdio":
            payload = os.pread(in_fd, os.fstat(in_fd).st_size, 0).decode("utf-8", "surrogatepass")
            os.close(in_fd)
            in_fd = os.open("/dev/null", os.O_RDONLY)
        # fds 0-2 for the program and its children; the text streams sit on the received descriptors (same
        # open files) and are closed after the test, so nothing buffered in them can reach a later test.
        for src, dst in ((in_fd, 0), (out_fd, 1), (err_fd, 2)):
            os.dup2(src, dst)
        os.chdir(req["workdir"])
        self._bind_streams(in_fd, out_fd, err_fd)
        if self.compile_error is not None:
            if self.mode == "assert":  # the judge asks all the same: tell it
                sandbox_rpc.serve_program(None, None, self.rpc, self.cap, compile_error=self.compile_error)
            result = {"status": "compile_error", "detail": self.compile_error}
        else:
            # CPU time of all threads of this test; SIGPROF's default action ends the process.
            signal.setitimer(signal.ITIMER_PROF, float(req["cpu_s"]))
            result = self._run_mode(payload)
        result.setdefault("exit_code", 0)
        self._finish(result)  # still under the CPU timer: threads the program left running are joined here
        signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            _write_result(res_fd, result)
        except OSError:  # larger than the file size limit: report that instead
            os.ftruncate(res_fd, 0)
            _write_result(
                res_fd,
                {"status": "runtime_error", "detail": "the return value is larger than the file size limit"},
            )
        finally:
            os.close(res_fd)

    def _bind_streams(self, in_fd: int, out_fd: int, err_fd: int) -> None:
        stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(in_fd, "r")), encoding="utf-8")
        stdout = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(out_fd, "w"), buffer_size=1 << 16), encoding="utf-8"
        )
        stderr = io.TextIOWrapper(
            io.FileIO(err_fd, "w"), encoding="utf-8", errors="backslashreplace", write_through=True
        )
        sys.stdin, sys.stdout, sys.stderr = sys.__stdin__, sys.__stdout__, sys.__stderr__ = (
            stdin,
            stdout,
            stderr,
        )
        self.streams = (stdin, stdout, stderr)

    def _fresh_main(self) -> dict:
        mod = types.ModuleType("__main__")
        mod.__file__ = PROGRAM_FILE
        mod.__builtins__ = builtins
        sys.modules["__main__"] = mod
        return mod.__dict__

    def _run_mode(self, payload: str) -> dict:
        try:
            if self.mode == "stdio":
                exec(self.code, self._fresh_main())
                return {"status": "ok"}
            if self.mode == "call":
                return self._call(payload)
            return self._assert(payload)
        except SystemExit as e:
            return self._system_exit(e)
        except MemoryError:
            return {"status": "memory", "detail": "MemoryError"}
        except BaseException as e:  # noqa: BLE001 - any exception of the program is its result
            return self._exception(e)

    def _call(self, payload: str) -> dict:
        if self.module is None and self.module_error is None:
            try:
                g = self._fresh_main()
                exec(self.code, g)
                self.module = g
            except SystemExit as e:
                self.module_error = (
                    "runtime_error",
                    f"the program exited while being loaded ({_exit_code(e)})",
                )
            except MemoryError:
                self.module_error = ("memory", "MemoryError while loading the program")
            except BaseException as e:  # noqa: BLE001
                self.module_error = ("runtime_error", self._exception(e)["detail"])
        if self.module_error is not None:
            return {"status": self.module_error[0], "detail": self.module_error[1]}
        fn = self._entry(self.module)
        if isinstance(fn, str):
            return {"status": "runtime_error", "detail": fn}
        args = json.loads(payload)
        value = fn(*args)
        try:
            text = outputs.canonical_json(value)
        except (TypeError, ValueError, RecursionError) as e:
            return {
                "status": "runtime_error",
                "detail": f"the return value cannot be compared: {_exc_line(e)}",
            }
        return {"status": "ok", "value": text}

    def _entry(self, g: dict):
        name = self.entry_point
        sol = g.get("Solution")
        if isinstance(sol, type) and hasattr(sol, name):
            return getattr(sol(), name)
        fn = g.get(name)
        if callable(fn):
            return fn
        return f"entry point {name!r} is not defined (neither a function nor a method of class Solution)"

    def _assert(self, payload: str) -> dict:
        # The test code runs in the judge (sandbox_rpc); here the program only answers its calls.
        return sandbox_rpc.serve_program(self.code, self._fresh_main, self.rpc, self.cap)

    def _system_exit(self, e: SystemExit) -> dict:
        code = _exit_code(e)
        if self.mode == "stdio":
            if code == 0:
                return {"status": "ok"}
            return {"status": "runtime_error", "detail": f"exit code {code}", "exit_code": code}
        return {
            "status": "runtime_error",
            "detail": f"the program exited ({code}) instead of returning",
            "exit_code": code,
        }

    def _exception(self, e: BaseException) -> dict:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename not in _USER_FILES:
            tb = tb.tb_next  # hide the runner's own frames
        try:
            traceback.print_exception(type(e), e, tb, file=self.streams[2])
        except BaseException:  # noqa: BLE001 - a broken __str__ must not hide the result
            pass
        return {"status": "runtime_error", "detail": _exc_line(e), "exit_code": 1}

    def _finish(self, result: dict) -> None:
        # What the interpreter does at exit: wait for non-daemon threads, run atexit handlers, flush.
        try:
            for t in threading.enumerate():
                if t is not threading.main_thread() and not t.daemon:
                    t.join()
            atexit._run_exitfuncs()
            atexit._clear()
        except BaseException:  # noqa: BLE001
            pass
        # The program may have replaced sys.stdout; flush that, then ours, then close ours.
        for stream in (sys.stdout, sys.stderr, *self.streams[1:]):
            try:
                stream.flush()
            except OSError as e:
                if e.errno == 27 and result.get("status") == "ok":  # EFBIG: past the file size limit
                    result.update(status="runtime_error", detail="output larger than the file size limit")
            except BaseException:  # noqa: BLE001
                pass
        for stream in self.streams:
            try:
                stream.close()
            except BaseException:  # noqa: BLE001 - a failed flush while closing: the output is already cut
                pass
        sys.setrecursionlimit(self.recursion_limit)
        # Timers and signal handlers a test set must not fire in the next one (or between tests).
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL):
            signal.setitimer(timer, 0)
        for sig, handler in self.handlers.items():
            if signal.getsignal(sig) is not handler:  # only what the test changed: one system call each
                try:
                    signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
                except (OSError, ValueError, TypeError):
                    pass


def _write_result(fd: int, result: dict) -> None:
    view = memoryview(json.dumps(result).encode())
    pos = 0
    while view:
        n = os.pwrite(fd, view, pos)
        view, pos = view[n:], pos + n


def _exit_code(e: SystemExit) -> int:
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code
    try:
        print(e.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001
        pass
    return 1


def _exc_line(e: BaseException) -> str:
    try:
        msg = str(e)
        text = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    except BaseException:  # noqa: BLE001 - __str__ of the program's exception may itself fail
        text = type(e).__name__
    return text if len(text) <= 500 else text[:500] + "..."


def _innermost_user_file(tb) -> str | None:
    last = None
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in _USER_FILES:
            last = name
        tb = tb.tb_next
    return last

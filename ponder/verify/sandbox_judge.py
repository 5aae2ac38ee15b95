"""The judge of assert-mode tests: a process of its own next to the program's (see :mod:`sandbox_rpc`).

Forked from the sandbox supervisor, it drops its privileges like the program's process, stays non-dumpable,
and per test runs the test code against proxies of the program's names, then writes the verdict to the
result file -- which the program's process never holds. Verdicts: ``ok`` (the test code ran to its end),
``failed`` (an assertion of the test code did not hold), ``runtime_error`` (the program raised, exited or
died), ``compile_error``. Standard library only.
"""

from __future__ import annotations

import builtins
import io
import json
import linecache
import os
import select
import signal
import socket
import sys
import time
import traceback

from ponder.verify import sandbox_child as child
from ponder.verify import sandbox_rpc as rpc_mod

# The judge lives as long as its worker serves assert-mode programs: its own limits, not a program's (each
# test is bounded by its CPU timer and wall clock).
LIMITS = {
    "memory_mb": 1024,
    "processes": 8,
    "file_size_mb": 16,
    "open_files": 64,
    "cpu_s": 3600,
    "n_tests": 1,
}


def main(sock: socket.socket, cfg: dict) -> None:
    """Entry point in the forked judge; never returns."""
    code = 0
    try:
        child.setup([sock.fileno()], {"limits": LIMITS}, cfg, dumpable=False)
        signal.signal(
            signal.SIGINT, signal.SIG_IGN
        )  # programs share its uid; other signals end it (it is replaced)
        _Judge(sock).serve()
    except BaseException:  # noqa: BLE001 - anything here means the judge cannot go on
        code = 70
    finally:
        os._exit(code)


class _Judge:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.link: rpc_mod.Link | None = None

    def serve(self) -> None:
        while True:
            data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 5)
            if not data or len(fds) not in (4, 5):
                return
            req = json.loads(data)
            if len(fds) == 5:  # a new program: its connection
                if self.link is not None:
                    self.link.rpc.close()
                self.link = rpc_mod.Link(socket.socket(fileno=fds.pop()), int(req["cap"]))
            in_fd, out_fd, err_fd, res_fd = fds
            payload = os.pread(in_fd, os.fstat(in_fd).st_size, 0).decode("utf-8", "surrogatepass")
            os.close(in_fd)
            for src, dst in ((out_fd, 1), (err_fd, 2)):
                os.dup2(src, dst)
            os.close(out_fd)
            os.close(err_fd)
            sys.stdout = io.TextIOWrapper(
                io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True
            )
            sys.stderr = io.TextIOWrapper(
                io.FileIO(2, "w", closefd=False),
                encoding="utf-8",
                errors="backslashreplace",
                write_through=True,
            )
            signal.setitimer(signal.ITIMER_PROF, float(req["cpu_s"]))
            result = self.judge(payload, req.get("entry_point"))
            signal.setitimer(signal.ITIMER_PROF, 0)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except (OSError, ValueError):
                    pass
            try:
                child._write_result(res_fd, result)
            finally:
                os.close(res_fd)
            self.sock.send(json.dumps({"seq": req["seq"], "clean": True}).encode())

    def judge(self, payload: str, entry_point: str | None) -> dict:
        linecache.cache[child.TESTS_FILE] = (len(payload), None, payload.splitlines(True), child.TESTS_FILE)
        try:
            tests = compile(payload, child.TESTS_FILE, "exec", dont_inherit=True)
        except (SyntaxError, ValueError, OverflowError, RecursionError) as e:
            return {
                "status": "runtime_error",
                "detail": f"the test code does not compile: {child._exc_line(e)}",
            }
        try:
            g = {"__name__": "__main__", "__builtins__": builtins, **self.link.load()}
            exec(tests, g)
            check = g.get("check")  # only the test code's own check: a program's would be a proxy
            if entry_point and callable(check) and not isinstance(check, rpc_mod.Remote) and entry_point in g:
                check(g[entry_point])
            result = {"status": "ok"}
        except rpc_mod.CompileFailed as e:
            result = {"status": "compile_error", "detail": str(e)[:500]}
        except rpc_mod.ProgramError as e:
            result = {"status": "runtime_error", "detail": child._exc_line(e)[:500], "exit_code": 1}
        except AssertionError as e:
            result = self._report(e)
            if child._innermost_user_file(e.__traceback__) == child.TESTS_FILE and _raised_here(
                e.__traceback__
            ):
                result["status"] = "failed"
        except BaseException as e:  # noqa: BLE001 - an exception the program raised, passed on to the test
            result = self._report(e)
        self.link.end()
        return result

    @staticmethod
    def _report(e: BaseException) -> dict:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != child.TESTS_FILE:
            tb = tb.tb_next  # hide the judge's own frames
        try:
            traceback.print_exception(type(e), e, tb, file=sys.stderr)
        except BaseException:  # noqa: BLE001
            pass
        return {"status": "runtime_error", "detail": child._exc_line(e), "exit_code": 1}


def _raised_here(tb) -> bool:
    """Whether the innermost frame is the test code's own (an ``assert`` there), not a proxy re-raising."""
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last == child.TESTS_FILE


# --------------------------------------------------------------------------- in the supervisor


def fork_program(program: dict, cfg: dict) -> tuple[int, socket.socket, socket.socket]:
    """Fork the program's process for assert mode: (pid, its socket to the supervisor, the judge's end of
    its connection, to hand to the judge with the program's first test)."""
    pa, pb = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    rpc, r2 = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        child.main(pb, program, cfg, rpc=r2)
    pb.close()
    r2.close()
    pa.setblocking(False)
    return pid, pa, rpc


def program_settled(sock: socket.socket, seq: int, deadline: float) -> bool:
    """After the judge's verdict: whether the program's process finished the test cleanly (it reports after
    its exit handlers ran, with no thread left)."""
    if select.select([sock], [], [], max(0.0, deadline - time.monotonic()) + 0.05)[0]:
        try:
            m = json.loads(sock.recv(1 << 12))
            return isinstance(m, dict) and m.get("seq") == seq and m.get("clean") is True
        except (OSError, ValueError, RecursionError):
            return False
    return False

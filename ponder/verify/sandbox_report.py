"""What the sandbox supervisor reports for one test (see :mod:`ponder.verify.sandbox`).

Everything the program's process hands back -- the result file, the exit status, stdout and stderr -- is
program output: the program can overwrite or forge any of it. :func:`report` reads it with bounds, accepts
only well-formed values (a result that is not a small JSON object with known fields becomes a
``runtime_error``), and never raises. Standard library only: it runs inside the sandbox worker.
"""

from __future__ import annotations

import json
import os
import signal

from ponder.verify import outputs

STDERR_KEEP = 1 << 16
CHILD_STATUSES = ("ok", "failed", "runtime_error", "memory", "compile_error")
_DETAIL_CHARS = 1000


def read_result(fd: int, cap: int) -> dict | None:
    """The child's result file as a dict, or None when it is missing or not a JSON object (any bytes: deep
    nesting, invalid UTF-8, numbers past every limit)."""
    try:
        raw = os.pread(fd, cap, 0)
        res = json.loads(raw) if raw else None
    except (ValueError, RecursionError, MemoryError, OSError):
        return None
    return res if isinstance(res, dict) else None


def report(o: dict, fds: list[int], duration: float, lim: dict, mode: str) -> dict:
    """The reply for one test. ``o``: the supervisor's outcome (done/died/timed_out/memory, wait status, CPU
    seconds); ``fds``: input, stdout, stderr and result memory files."""
    cap = int(lim["output_bytes"])
    out_size = os.fstat(fds[1]).st_size
    stdout = os.pread(fds[1], min(out_size, cap), 0).decode("utf-8", "replace")
    stderr = read_head_tail(fds[2], STDERR_KEEP)
    res = read_result(fds[3], cap + (1 << 16)) if o["done"] is not None or o["died"] else None
    reply = {
        "stdout": stdout,
        "stderr": stderr,
        "duration_s": round(duration, 6),
        "value": None,
        "exit_code": None,
    }
    reply.update(classify(o, res, lim, mode))
    if out_size > cap and reply["status"] not in ("timeout", "memory"):
        reply.update(status="output_limit", detail=f"stdout longer than {cap} bytes (truncated)")
    return reply


def classify(o: dict, res: dict | None, lim: dict, mode: str) -> dict:
    if o["timed_out"]:
        return {"status": "timeout", "detail": f"wall time limit of {lim['timeout_s']:g}s"}
    if o["memory"]:
        return {
            "status": "memory",
            "detail": f"the program's processes used more than {lim['memory_mb']} MiB",
        }
    if res is not None and res.get("status") in CHILD_STATUSES:
        value = res.get("value")
        if res["status"] == "ok" and mode == "call" and not valid_json_text(value, lim["output_bytes"]):
            return {"status": "runtime_error", "detail": "no usable return value was reported"}
        return {
            "status": res["status"],
            "detail": text(res.get("detail"), _DETAIL_CHARS),
            "value": value if mode == "call" and res["status"] == "ok" else None,
            "exit_code": exit_code(res.get("exit_code")),
        }
    status = o["status"]
    if status is None:
        return {"status": "runtime_error", "detail": "the program replaced the test runner's report"}
    return classify_exit(status, o["cpu_s"], lim, mode)


def classify_exit(status: int, cpu_s: float, lim: dict, mode: str) -> dict:
    """A status from how the program's process ended (a wait status), when it left no usable report."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig in (signal.SIGPROF, signal.SIGXCPU) or (sig == signal.SIGKILL and cpu_s >= lim["cpu_s"]):
            return {"status": "timeout", "detail": "CPU time limit"}
        name = signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else str(sig)
        hint = " (often a stack overflow from deep recursion)" if sig == signal.SIGSEGV else ""
        return {"status": "runtime_error", "detail": f"killed by {name}{hint}", "exit_code": -sig}
    code = os.waitstatus_to_exitcode(status)
    if mode == "stdio" and code == 0:
        return {"status": "ok", "detail": "", "exit_code": 0}
    if mode == "stdio":
        return {"status": "runtime_error", "detail": f"exit code {code}", "exit_code": code}
    return {
        "status": "runtime_error",
        "detail": f"the program exited (code {code}) before finishing",
        "exit_code": code,
    }


def text(value, n: int) -> str:
    """A string from the program, made safe to pass on: a str or nothing, at most ``n`` characters, valid
    UTF-8."""
    if not isinstance(value, str):
        return ""
    return value[:n].encode("utf-8", "replace").decode("utf-8")


def exit_code(value) -> int | None:
    """An exit code from the program's report: an int a process can exit with, else None."""
    if isinstance(value, int) and not isinstance(value, bool) and -255 <= value <= 255:
        return value
    return None


def valid_json_text(value, cap: int) -> bool:
    if not isinstance(value, str) or len(value) > cap:
        return False
    try:
        value.encode("utf-8")  # a forged lone surrogate would break whoever writes the result out
        outputs.parse_value(value)
    except ValueError:
        return False
    return True


def read_head_tail(fd: int, keep: int) -> str:
    size = os.fstat(fd).st_size
    if size <= keep:
        return os.pread(fd, size, 0).decode("utf-8", "replace")
    head = os.pread(fd, keep // 4, 0).decode("utf-8", "replace")
    tail = os.pread(fd, keep - keep // 4, size - (keep - keep // 4)).decode("utf-8", "replace")
    return f"{head}\n...[{size - keep} bytes cut]...\n{tail}"

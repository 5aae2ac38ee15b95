"""The seccomp filter, checked from inside sandboxed programs: every denied call fails with EPERM (a clean
OSError, the program goes on), the filter is in force in every process of the program, and what programs
need -- threads, fork, subprocesses -- still works."""

import errno

import pytest

from ponder.verify import sandbox_seccomp as sc
from ponder.verify.sandbox import Limits

from .conftest import STDIO

PROBE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def call(nr, *args):
    args = [ctypes.c_long(a) for a in args] + [ctypes.c_long(0)] * (6 - len(args))
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *args)
    return f"{r} {ctypes.get_errno() if r == -1 else 0}"
out = {name: call(nr) for name, nr in CALLS.items()}
out["clone(CLONE_NEWUSER)"] = call(NR["clone"], 0x10000000 | 17)
out["clone(CLONE_NEWNET)"] = call(NR["clone"], 0x40000000 | 17)
out["clone3"] = call(NR["clone3"], 0, 0)
out["personality(ADDR_NO_RANDOMIZE)"] = call(NR["personality"], 0x0040000)
out["personality(query)"] = call(NR["personality"], 0xFFFFFFFF)
out["seccomp"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0]
print(out)
"""


def _probe(pool, src_prefix=""):
    nr = sc.numbers()
    calls = {name: nr[name] for name in sc.DENIED if name in nr}
    src = f"CALLS = {calls!r}\nNR = {nr!r}\n{src_prefix}{PROBE}"
    r = pool.run_tests(src, STDIO)[0]
    assert r.status == "failed", r  # ran to the end: no call killed it
    return eval(r.stdout)  # noqa: S307 - the dict the probe printed


def test_every_denied_call_fails_with_eperm(pool):
    out = _probe(pool)
    eperm = f"-1 {errno.EPERM}"
    denied = {k: v for k, v in out.items() if k in sc.DENIED}
    assert denied and all(v == eperm for v in denied.values()), {
        k: v for k, v in denied.items() if v != eperm
    }
    assert out["clone(CLONE_NEWUSER)"] == out["clone(CLONE_NEWNET)"] == eperm
    assert out["clone3"] == f"-1 {errno.ENOSYS}"  # the C library falls back to clone, which is checked
    assert out["personality(ADDR_NO_RANDOMIZE)"] == eperm and out["personality(query)"] == "0 0"
    assert out["seccomp"] == "2"  # SECCOMP_MODE_FILTER


@pytest.mark.parametrize("where", ["thread", "forked child"])
def test_the_filter_holds_in_threads_and_child_processes(pool, where):
    run_in = {
        "thread": "import threading\nt = threading.Thread(target=lambda: exec(BODY, {}))\nt.start()\nt.join()\n",
        "forked child": "pid = os.fork()\nif pid == 0:\n    exec(BODY, {})\n    os._exit(0)\nos.waitpid(pid, 0)\n",
    }[where]
    nr = sc.numbers()
    src = (
        f"import os\nBODY = {'import ctypes; l = ctypes.CDLL(None, use_errno=True); print(l.syscall(' + str(nr['ptrace']) + ', 0, 0, 0, 0), ctypes.get_errno(), flush=True)'!r}\n"
        + run_in
    )
    r = pool.run_tests(src, STDIO)[0]
    assert r.stdout == f"-1 {errno.EPERM}\n"  # PTRACE_TRACEME, which needs no privilege at all


def test_programs_still_use_threads_fork_and_subprocesses(pool):
    src = """
import os, subprocess, sys, threading
from concurrent.futures import ThreadPoolExecutor
with ThreadPoolExecutor(4) as ex:
    print(sum(ex.map(lambda x: x * x, range(10))))
pid = os.fork()
if pid == 0:
    os._exit(7)
print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
print(subprocess.run([sys.executable, "-c", "print(6 * 7)"], capture_output=True, text=True).stdout.strip())
"""
    r = pool.run_tests(src, [{"input": "", "output": "285\n7\n42"}], limits=Limits(timeout_s=20))[0]
    assert r.status == "passed", r

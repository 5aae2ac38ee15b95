"""The supervisor and the pool survive any program behaviour: forged result files, garbage on the child's
socket, a pre-created working directory, and workers whose replies are malformed. Each case: the program
gets a status, no exception reaches the caller, and the next program runs on a working sandbox."""

import os
import struct
import subprocess
import sys

import pytest

from ponder.verify.code import SandboxPool

from .conftest import STDIO

# Finds the memory file a program's result goes to, writes FORGED into it and ends the process at once.
FORGE = """
import os
def f():
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/memfd:result"):
                os.ftruncate(int(fd), 0)
                os.pwrite(int(fd), FORGED, 0)
        except OSError:
            pass
    os._exit(0)
"""

FORGERIES = {
    "deeply nested": b"[" * 100_000,
    "not an object": b"[1, 2]",
    "invalid UTF-8": b'{"status": "ok", "value": "\xff\xfe"}',
    "number past every limit": b'{"status": "ok", "value": "1", "exit_code": 1' + b"0" * 5000 + b"}",
    "fields of the wrong type": b'{"status": "ok", "value": 42, "detail": [[["x"]]], "exit_code": 1e999}',
    "a worker's handshake": b'{"ready": false}',
    "deeply nested value": b'{"status": "ok", "value": "' + b"[" * 5000 + b'"}',
    "lone surrogate value": b'{"status": "ok", "value": "\\"\\ud800\\""}',
}


def _workers(pool):
    return [w.proc.pid for w in pool._workers]


@pytest.mark.parametrize("forged", list(FORGERIES.values()), ids=list(FORGERIES))
def test_forged_result_files_become_runtime_errors(pool, forged):
    pids = _workers(pool)
    src = f"FORGED = {forged!r}\n{FORGE}"
    r = pool.run_tests(src, [{"input": [], "output": 1}], mode="call", entry_point="f")[0]
    assert r.status == "runtime_error" and ("exited (code 0)" in r.detail or "no usable" in r.detail)
    assert _workers(pool) == pids  # the supervisor read it and went on
    assert pool.run_tests("print(5)", [{"input": "", "output": "5"}])[0].passed


def test_forged_but_well_formed_results_count_as_what_they_say(pool):
    big = (
        b'{"status": "ok", "value": "1' + b"0" * 5000 + b'"}'
    )  # a legal value: an integer past int()'s limit
    r = pool.run_tests(
        f"FORGED = {big!r}\n{FORGE}", [{"input": [], "output": 1}], mode="call", entry_point="f"
    )
    assert r[0].status == "failed" and r[0].output == "1" + "0" * 5000


def test_garbage_on_the_childs_socket_is_ignored(pool):
    pids = _workers(pool)
    src = """
import os, socket
for fd in os.listdir("/proc/self/fd"):
    try:
        if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
            s = socket.socket(fileno=int(fd))
            for junk in (b"[" * 4000, b"\\xff\\xfe", b'{"seq": "x"}', b"[]"):
                s.send(junk)
            s.detach()
    except OSError:
        pass
print("still here")
"""
    r = pool.run_tests(src, [{"input": "", "output": "still here"}] * 2)
    assert [x.status for x in r] == ["passed", "passed"]
    assert _workers(pool) == pids


def test_a_program_cannot_pre_create_the_next_working_directory(pool):
    # A timer left running fires between tests, after the scratch space was emptied, and fills /tmp with
    # the names the next tests would use; signal handlers and timers are reset after each test as well.
    src = """
import os, signal, sys
here = os.getcwd()
tail = here.rsplit("-", 1)[1]
n = int(tail) if tail.isdigit() else 0  # run-N: the next test's directory is run-N+1
def plant(*_):
    for name in [os.path.basename(here)] + [f"run-{i}" for i in range(n + 1, n + 3)]:
        try:
            os.mkdir(os.path.join("/tmp", name + "x"))
            os.symlink("/", os.path.join("/tmp", name))
        except OSError:
            pass
signal.signal(signal.SIGALRM, plant)
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
print(signal.getsignal(signal.SIGALRM) is plant, sorted(os.listdir("/tmp")) == [os.path.basename(here)])
"""
    pids = _workers(pool)
    r = pool.run_tests(src, [{"input": "", "output": "True True"}] * 20, timeout_s=2)
    assert [x.status for x in r] == ["passed"] * 20
    assert _workers(pool) == pids


# --------------------------------------------------------------------------- workers that misbehave

# A stand-in for a broken or compromised supervisor: a real process on the worker's pipes that reads one
# request and answers it with the bytes given.
FAKE_WORKER = """
import os, struct, sys
req, rep, body = int(sys.argv[1]), int(sys.argv[2]), sys.stdin.buffer.read()
n = struct.unpack(">I", os.read(req, 4))[0]
while n:
    n -= len(os.read(req, n))
os.write(rep, struct.pack(">I", len(body)) + body)
os.read(req, 1)  # stay until the host lets go
"""

REPLIES = {
    "deeply nested": b"[" * 100_000,
    "not an object": b"[1, 2, 3]",
    "the handshake of a worker that failed": b'{"ready": false}',
    "missing fields": b'{"status": "ok"}',
    "unknown status": b'{"status": "passed!", "stdout": "", "stderr": "", "duration_s": 0}',
    "huge numbers": b'{"status": "ok", "stdout": "", "stderr": "", "duration_s": 1e999}',
    "integer past int()'s limit": b'{"status": "ok", "stdout": "", "stderr": "", "duration_s": 1'
    + b"0" * 5000
    + b"}",
    "invalid UTF-8": b'{"status": "ok", "stdout": "\xff", "stderr": "", "duration_s": 0}',
    "stdout not a string": b'{"status": "ok", "stdout": ["6"], "stderr": "", "duration_s": 0}',
}


def _plant_fake_worker(worker, body: bytes) -> None:
    worker.kill()
    req_r, worker.req_w = os.pipe()
    worker.rep_r, rep_w = os.pipe()
    worker.proc = subprocess.Popen(
        [sys.executable, "-c", FAKE_WORKER, str(req_r), str(rep_w)],
        pass_fds=(req_r, rep_w),
        stdin=subprocess.PIPE,
    )
    worker.proc.stdin.write(body)
    worker.proc.stdin.close()
    os.close(req_r)
    os.close(rep_w)


@pytest.fixture(scope="module")
def one_worker():
    with SandboxPool(1, isolation="namespaces") as p:
        yield p


@pytest.mark.parametrize("body", list(REPLIES.values()), ids=list(REPLIES))
def test_malformed_worker_replies_become_runtime_errors_and_the_worker_is_replaced(one_worker, body):
    worker = one_worker._workers[0]
    _plant_fake_worker(worker, body)
    fake = worker.proc.pid
    r = one_worker.run_tests("print(6)", [{"input": "", "output": "6"}])[0]
    assert r.status == "runtime_error" and ("malformed" in r.detail or "went away" in r.detail)
    assert worker.proc.pid != fake  # a real worker again
    assert one_worker.run_tests("print(6)", [{"input": "", "output": "6"}] + STDIO)[0].passed


def test_the_length_prefix_is_bounded(one_worker):
    worker = one_worker._workers[0]
    worker.kill()
    req_r, worker.req_w = os.pipe()
    worker.rep_r, rep_w = os.pipe()
    os.write(rep_w, struct.pack(">I", 0xFFFFFFFF))
    worker.proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    r = one_worker.run_tests("print(6)", [{"input": "", "output": "6"}])[0]
    os.close(req_r)
    os.close(rep_w)
    assert r.status == "runtime_error" and "oversized" in r.detail
    assert one_worker.run_tests("print(6)", [{"input": "", "output": "6"}])[0].passed

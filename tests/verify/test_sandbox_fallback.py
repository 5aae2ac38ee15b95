"""The sandbox without namespaces (forced with isolation="rlimits"), and the single-uid path used where only
unprivileged user namespaces are available (forced with single_uid=True)."""

import os
import subprocess
import sys
import uuid
import warnings

import pytest

from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import SandboxError, SandboxWarning, worker_config
from ponder.verify.sandbox_start import fallback_warning, start_workers

from .conftest import STDIO, sandbox_processes


@pytest.fixture(scope="module")
def rlimits_pool():
    with pytest.warns(SandboxWarning) as caught:
        pool = SandboxPool(1, isolation="rlimits")
    pool.warning = str(caught[0].message)
    yield pool
    pool.close()


def test_fallback_warns_naming_what_is_lost(rlimits_pool):
    assert rlimits_pool.isolation == "rlimits"
    assert (
        "network connections" in rlimits_pool.warning
        and "read what any user may read" in rlimits_pool.warning
    )


def test_fallback_warning_for_ordinary_users_names_signals_and_process_limit():
    cfg = {"privileges": "none"}
    text = fallback_warning("unshare: Operation not permitted", cfg)
    assert "unshare: Operation not permitted" in text
    assert "kill(-1)" in text and "RLIMIT_NPROC" in text


def test_environment_variable_forces_the_fallback(monkeypatch):
    monkeypatch.setenv("PONDER_SANDBOX_ISOLATION", "rlimits")
    with pytest.warns(SandboxWarning):
        with SandboxPool(1) as p:
            assert p.isolation == "rlimits"
            assert p.run_tests("print(1)", [{"input": "", "output": "1"}])[0].passed


def test_fallback_keeps_limits_environment_and_results(rlimits_pool, monkeypatch):
    r = rlimits_pool.run_tests("import time\ntime.sleep(60)", STDIO, timeout_s=0.5)[0]
    assert r.status == "timeout"
    assert rlimits_pool.run_tests("x = bytearray(2 << 30)", STDIO, memory_mb=128)[0].status == "memory"
    r = rlimits_pool.run_tests("import os\nprint(dict(os.environ), os.getuid())", STDIO)[0]
    env, uid = r.stdout.rsplit(" ", 1)
    assert env == "{}" and int(uid) != os.getuid()  # started as root: programs get a uid of their own
    r = rlimits_pool.run_tests(
        "def f(a):\n    return a * 2", [{"input": [3], "output": 6}], mode="call", entry_point="f"
    )[0]
    assert r.passed


def test_fallback_kills_setsid_daemons_and_removes_working_directories(rlimits_pool):
    marker = f"ponder-fallback-{uuid.uuid4().hex}"
    src = (
        f"import os, time\nopen('{marker}', 'w').write('x')\nopen('/tmp/{marker}', 'w').write('x')\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(300)\n    os._exit(0)\n"
        "time.sleep(0.2)\nprint(os.getcwd())\n"
    )
    r = rlimits_pool.run_tests(src, STDIO)[0]
    cwd = r.stdout.strip()
    assert cwd.startswith(rlimits_pool._workers[0].workbase)
    assert sandbox_processes() == []  # the daemon was found through the subreaper and killed
    assert not os.path.exists(cwd) and not os.path.exists(
        f"/tmp/{marker}"
    )  # per-test dir, and what it left in /tmp


def test_fallback_caller_survives_kill_minus_one(rlimits_pool):
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        src = "import os\nfor t in (os.getppid(), -1):\n    try:\n        os.kill(t, 9)\n    except OSError:\n        pass\nprint('alive')\n"
        r = rlimits_pool.run_tests(src, STDIO)[0]
        assert bystander.poll() is None and r.stdout == "alive\n"
        assert rlimits_pool.run_tests("print(2)", [{"input": "", "output": "2"}])[0].passed
    finally:
        bystander.kill()
        bystander.wait()


def test_fallback_fork_bomb_is_bounded(rlimits_pool):
    from ponder.verify.sandbox import Limits

    bomb = (
        "import os, time\nn = 0\nwhile True:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\nprint(n)\n"
    )
    r = rlimits_pool.run_tests(bomb, STDIO, limits=Limits(processes=8, timeout_s=20))[0]
    assert int(r.stdout) <= 7 and sandbox_processes() == []


def test_auto_and_namespaces_fail_closed_where_namespaces_fail(monkeypatch):
    # A uid map the kernel refuses stands in for a machine without user namespaces (tests/verify/
    # test_sandbox_start.py makes the kernel refuse for real): neither mode falls back to rlimits.
    import ponder.verify.sandbox as sb

    real = sb.worker_config

    def broken(isolation, index, **kw):
        cfg = real(isolation, index, **kw)
        if isolation == "namespaces":
            cfg["uid_map"] = "0 0 0\n"
        return cfg

    monkeypatch.setattr(sb, "worker_config", broken)
    for isolation in ("namespaces", "auto"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(SandboxError, match="uid/gid maps.*isolation='rlimits'"):
                start_workers(1, isolation)
        assert not caught  # no silent fallback behind a warning


def test_single_uid_mode_clears_every_capability():
    assert worker_config("namespaces", 0, single_uid=True)["privileges"] == "single_uid"
    src = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
status = open("/proc/self/status").read()
print(os.getuid(), status.split("CapEff:")[1].split()[0], status.split("CapBnd:")[1].split()[0])
print(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), libc.sethostname(b"x", 1), libc.unshare(0x10000000))
try:
    open("/usr/pwned", "w")
except OSError as e:
    print("denied", e.errno)
"""
    with SandboxPool(1, isolation="namespaces", single_uid=True) as p:
        lines = p.run_tests(src, STDIO)[0].stdout.split("\n")
        assert lines[0] == "0 0000000000000000 0000000000000000"  # uid 0 inside, but no capability at all
        assert lines[1] == "-1 -1 -1" and lines[2] == "denied 30"  # EROFS
        pid = p._workers[0].proc.pid
        # same uid as the supervisor here; it is the namespace's init, so SIGKILL from inside is dropped
        p.run_tests(
            "import os\nfor t in (1, -1):\n    try:\n        os.kill(t, 9)\n    except OSError:\n        pass\n",
            STDIO,
        )
        assert (
            p.run_tests("print(3)", [{"input": "", "output": "3"}])[0].passed
            and p._workers[0].proc.pid == pid
        )

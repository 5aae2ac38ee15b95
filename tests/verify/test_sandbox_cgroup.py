"""cgroup memory and pids limits, looked at from outside: the program's processes sit in their worker's
cgroup with the program's limits, a fork bomb stops at the pids limit whatever the uid, and memory the
supervisor's total cannot see (files in /tmp and /dev/shm, which are RAM) counts against the limit.
Runs where this machine lets ponder make cgroups (here: v1 memory and pids hierarchies, writable by root)."""

import threading
import time

import pytest

from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import Limits
from ponder.verify.sandbox_cgroup import HEADROOM_MB
from ponder.verify.sandbox_start import cgroups

from .conftest import STDIO

pytestmark = pytest.mark.skipif(isinstance(cgroups(), str), reason=f"no cgroups here: {cgroups()}")


def test_programs_run_in_their_workers_cgroup_with_the_programs_limits(pool):
    assert pool.cgroup in ("v1", "v2")
    seen = {}

    def run():
        seen["r"] = pool.run_tests(
            "import time\ntime.sleep(1.5)", STDIO, limits=Limits(memory_mb=200, processes=9)
        )

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.7)
    cgs = [w.cgroup for w in pool._workers]
    busy = [cg for cg in cgs if int(open(cg.files["memory"]).read()) == (200 + HEADROOM_MB) << 20]
    assert len(busy) == 1  # the worker running it, with this program's memory limit
    assert (
        int(open(busy[0].files["pids"]).read()) == 11
    )  # processes, plus the assert-mode judge and the supervisor
    members = [set(open(d + "/cgroup.procs").read().split()) for d in busy[0].dirs]
    assert len(members[0]) >= 2 and all(
        m == members[0] for m in members
    )  # supervisor and program, both hierarchies
    t.join()
    assert seen["r"][0].passed


def test_fork_bomb_stops_at_the_pids_limit_even_where_rlimit_nproc_does_not_apply():
    # single-uid mode as root: the program's uid is the host's root, which RLIMIT_NPROC exempts
    bomb = (
        "import os, time\nn = 0\nwhile n < 500:\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        time.sleep(60)\n        os._exit(0)\n    n += 1\nprint(n)\n"
    )
    with SandboxPool(1, isolation="namespaces", single_uid=True) as p:
        r = p.run_tests(bomb, STDIO, limits=Limits(timeout_s=20, processes=12))[0]
    assert r.status == "failed" and int(r.stdout) <= 12, r


def test_memory_in_tmp_and_dev_shm_counts(pool):
    # 60 MiB in /tmp and 15 MiB in /dev/shm are files, not mappings: out of RLIMIT_AS's and the supervisor's
    # sight. With 28 MiB more in the heap the program holds 103 MiB, over 32 + 64 MiB.
    src = (
        "mib = b'x' * (1 << 20)\nfor path, n in [(f'/tmp/{i}', 12) for i in range(5)] + [('/dev/shm/b', 15)]:\n"
        "    with open(path, 'wb') as fh:\n        for _ in range(n):\n            fh.write(mib)\n"
        "x = bytearray(28 << 20)\nx[::4096] = b'y' * len(x[::4096])\nprint('held')\n"
    )
    r = pool.run_tests(src, [{"input": "", "output": "held"}], limits=Limits(memory_mb=32))[0]
    assert r.status == "memory", r
    assert pool.run_tests(
        src.replace("28 << 20", "1 << 20"), [{"input": "", "output": "held"}], limits=Limits(memory_mb=32)
    )[0].passed  # 76 MiB: under the limit

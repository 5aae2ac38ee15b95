"""Fixtures for the verifier and sandbox tests: the symbolic worker started once, one shared sandbox pool, and
ways to look at the sandbox from outside."""

import os

import pytest

from ponder.verify.answers.limits import POOL
from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import host_uid


@pytest.fixture(scope="session", autouse=True)
def warm_symbolic_worker():
    """Start the symbolic worker once, so that no test's time limit includes its start-up."""
    assert POOL.warm(60)


@pytest.fixture(scope="session")
def pool():
    """Two namespace-isolated workers shared by the sandbox tests (started once: about 0.3 s)."""
    with SandboxPool(2, isolation="namespaces") as p:
        yield p


def sandbox_processes() -> list[int]:
    """Host pids of processes running under a sandbox uid of this process's workers (other test runs on a
    shared machine have their own), found by walking the host's /proc."""
    lo = host_uid(0)
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                st = os.stat(f"/proc/{name}")
                with open(f"/proc/{name}/stat") as fh:
                    state = fh.read().rsplit(")", 1)[-1].split()[0]
            except OSError:
                continue
            if lo <= st.st_uid < lo + 64 and state != "Z":
                out.append(int(name))
    return out


STDIO = [{"input": "", "output": ""}]

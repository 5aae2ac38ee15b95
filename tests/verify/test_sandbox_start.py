"""Namespaces are required: where they cannot be created, or user namespaces cannot be switched off inside
the sandbox, starting it fails with one line saying why, how to opt in to rlimits and what that exposes.

Each case starts a real pool in a process whose kernel view makes the real code path fail: user namespaces
exhausted (``user.max_user_namespaces=0`` in a user namespace of its own), ``unshare`` denied by a seccomp
filter (Docker's default profile does this), ``/proc/sys`` read-only (as in containers).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = str(Path(__file__).resolve().parents[2])

PROBE = """
import sys
sys.path.insert(0, sys.argv[2])
if sys.argv[3] == "seccomp":  # what a container runtime's default profile does to unshare
    from ponder.verify import sandbox_seccomp as sc
    sc.install(sc.build_filter(["unshare"], rules=False))
from ponder.verify.code import SandboxPool
from ponder.verify.sandbox import SandboxError
try:
    with SandboxPool(1, isolation=sys.argv[1]) as p:
        print("STARTED", p.isolation, p.run_tests("print(1)", [{"input": "", "output": "1"}])[0].status)
except SandboxError as e:
    print("REFUSED", e)
"""

SETUPS = {
    "user namespaces exhausted": (
        [
            "unshare",
            "--user",
            "--map-root-user",
            "sh",
            "-c",
            'echo 0 > /proc/sys/user/max_user_namespaces && exec "$0" "$@"',
        ],
        "none",
        "No space left on device",
    ),
    "unshare denied by seccomp": ([], "seccomp", "unshare: Operation not permitted"),
    "/proc/sys read-only": (
        [
            "unshare",
            "--mount",
            "sh",
            "-c",
            'mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0" "$@"',
        ],
        "none",
        "cannot switch off user namespaces inside the sandbox",
    ),
}


def _probe(wrapper: list[str], isolation: str, extra: str) -> str:
    cmd = [*wrapper, sys.executable, "-c", PROBE, isolation, ROOT, extra]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={}, cwd="/")
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.mark.parametrize("setup", list(SETUPS), ids=list(SETUPS))
@pytest.mark.parametrize("isolation", ["auto", "namespaces"])
def test_without_namespaces_the_sandbox_refuses_to_start(setup, isolation):
    wrapper, extra, reason = SETUPS[setup]
    out = _probe(wrapper, isolation, extra)
    assert out.startswith("REFUSED cannot isolate programs: kernel namespaces are unavailable")
    assert out.count("\n") == 1 and reason in out  # one line, with the kernel's reason
    assert (
        "isolation='rlimits'" in out
        and "--isolation rlimits" in out
        and "PONDER_SANDBOX_ISOLATION=rlimits" in out
    )
    assert "network connections" in out and "read what any user may read" in out  # what the opt-in exposes


def test_opting_in_to_rlimits_still_runs_there():
    wrapper, extra, _ = SETUPS["unshare denied by seccomp"]
    assert _probe(wrapper, "rlimits", extra) == "STARTED rlimits passed\n"

"""A real Ray head on 127.0.0.1 for the ``ray`` tests: ``ray start --head --block`` in a session of its own.

Ports are chosen free (a machine may run other Ray clusters), the head stays on the loopback, and stopping it
ends exactly the processes it started: SIGTERM to ``ray start`` (which stops its services), then SIGKILL to
whatever of its session is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Ray resolves 127.0.0.1 to the machine's address unless this is off; off, every service stays on loopback.
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RayHead:
    """``RayHead(cpus=2)``: a head with that many CPUs; ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, cpus: int = 2, timeout_s: float = 180):
        self.tmp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # unix socket paths must stay short
        port = free_port()
        self.address = f"127.0.0.1:{port}"
        self.log = self.tmp / "head.log"
        cmd = [
            str(Path(sys.executable).with_name("ray")),
            "start",
            "--head",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--port={port}",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            "--include-dashboard=false",
            f"--dashboard-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            "--disable-usage-stats",
            f"--temp-dir={self.tmp}",
        ]
        env = {**os.environ, **LOOPBACK_ENV}
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + timeout_s
        while "Ray runtime started" not in self.log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = self.log.read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"the Ray head did not start:\n{text}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                pass
        for pid in self._session_pids():  # what outlived the head's own shutdown: its processes only
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc.poll() is None:
            self.proc.wait(30)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _session_pids(self) -> list[int]:
        out = subprocess.run(
            ["ps", "-o", "pid=", "-s", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        return [int(x) for x in out.split() if int(x) != os.getpid()]

"""``make gpu-smoke`` on a machine without 2 GPUs: one line saying so, non-zero exit, nothing started."""

import subprocess
import sys

from tests.helpers import ROOT, subprocess_env


def test_gpu_smoke_refuses_without_two_gpus(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench/gpu_smoke.py"), "--out", str(tmp_path / "smoke")],
        env=subprocess_env(CUDA_VISIBLE_DEVICES=""),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "gpu-smoke needs 2 CUDA GPUs; this machine has 0: run it on a GPU machine"
    ]
    assert not (tmp_path / "smoke").exists()
    made = subprocess.run(["make", "-n", "gpu-smoke"], cwd=ROOT, capture_output=True, text=True)
    assert "bench/gpu_smoke.py" in made.stdout

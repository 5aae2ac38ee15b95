"""Helpers shared by tests: run ``ponder`` in a subprocess with this interpreter and this checkout."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ponder_cmd(*args: str) -> list[str]:
    """The command line to run ``ponder`` in a subprocess with this interpreter."""
    return [sys.executable, "-m", "ponder", *args]


def subprocess_env(**extra: str) -> dict:
    """The environment for a subprocess: this checkout first on PYTHONPATH, offline, no progress bars."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env

"""Per-step metrics: ``OUT/metrics.jsonl`` (one JSON object per optimizer step), TensorBoard scalars and an
optional experiment tracker (W&B or trackio: :mod:`ponder.train.trackers`).

Only the main process writes. On resume the file is cut back to the checkpoint's step, so the finished
file holds each step exactly once whether or not the run was interrupted.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from ponder.io import read_json_lines, write_text
from ponder.train.trackers import Tracker


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.exists():
        return []
    return list(read_json_lines(path))


class MetricsLogger:
    """Appends step records to ``metrics.jsonl`` (flushed per line) and mirrors numbers to TensorBoard and to
    ``tracker`` ("none", "wandb" or "trackio"; ``config`` is the run's, given to the tracker once)."""

    def __init__(
        self,
        out: str | Path,
        *,
        enabled: bool = True,
        resume_step: int | None = None,
        tensorboard: bool = True,
        prefix: str = "train",
        tracker: str = "none",
        config: dict[str, Any] | None = None,
    ):
        self.enabled = enabled
        self.path = Path(out) / "metrics.jsonl"
        self.prefix = prefix
        self._fh = None
        self._tb = None
        self._tracker = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None:
            kept = [r for r in read_metrics(self.path) if r.get("step", 0) <= resume_step]
            write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
        elif self.path.exists():
            self.path.unlink()
        self._fh = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(out) / "tensorboard"), purge_step=resume_step)
        if tracker != "none":
            self._tracker = Tracker(tracker, out, config or {}, resume=resume_step is not None)

    def log(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        self._fh.write(json.dumps(record) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        step = int(record["step"])
        numbers = {
            f"{self.prefix}/{key}": value
            for key, value in record.items()
            if key != "step" and isinstance(value, int | float) and math.isfinite(value)
        }
        if self._tb is not None:
            for key, value in numbers.items():
                self._tb.add_scalar(key, value, step)
        if self._tracker is not None:
            self._tracker.log(numbers, step)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_bytes() -> int:
    """Resident memory of this process now (Linux; 0 where /proc is not available)."""
    return (_status_kib("VmRSS") or 0) * 1024


def peak_rss_bytes() -> int:
    """Peak resident memory of this process since it started or since :func:`reset_peak_rss`."""
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource

        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib * 1024


def reset_peak_rss() -> bool:
    """Restart the peak count at the current resident memory (Linux); False where not supported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True

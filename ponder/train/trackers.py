"""Experiment trackers beside TensorBoard: W&B and trackio, off by default (``TrainSettings.tracker``).

A tracker gets what TensorBoard gets -- every number of a step's record, as ``PREFIX/KEY`` at that step --
and the run's config once. The run is named after the output folder, in project ``ponder``; a resumed run
continues the tracker's run it started (its id is kept in ``OUTPUT/tracker.json``). W&B honours its own
environment (``WANDB_MODE=offline`` writes the run under ``OUTPUT/wandb`` and sends nothing); trackio keeps
its runs in its local database. Neither package is a dependency: naming one that is not installed is one line
naming the field, before the model loads.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path
from typing import Any, get_args

from ponder.errors import PonderError
from ponder.io import write_text
from ponder.train.settings import TrackerName

TRACKERS = get_args(TrackerName)
PROJECT = "ponder"


def check_tracker(name: str) -> None:
    """Raise a one-line PonderError naming the ``tracker`` field when its package is missing."""
    if name not in TRACKERS:
        raise PonderError(f"tracker: expected one of {', '.join(TRACKERS)}, got {name!r}")
    if name != "none" and importlib.util.find_spec(name) is None:
        raise PonderError(
            f"tracker: {name} needs the {name} package, which is not installed: pip install -e '.[{name}]'"
        )


class Tracker:
    """One tracker run: :meth:`log` a step's numbers, :meth:`close` at the end."""

    def __init__(self, name: str, out: str | Path, config: dict[str, Any], *, resume: bool):
        check_tracker(name)
        self.name = name
        out = Path(out)
        state = out / "tracker.json"
        old = json.loads(state.read_text()) if resume and state.exists() else {}
        run_id = old.get("id") if old.get("tracker") == name else None
        run_id = run_id or uuid.uuid4().hex[:16]
        write_text(state, json.dumps({"tracker": name, "id": run_id}) + "\n")
        if name == "wandb":
            import wandb

            self._run = wandb.init(
                project=PROJECT,
                name=out.name,
                id=run_id,
                resume="allow",
                dir=str(out),
                config=config,
                settings=wandb.Settings(console="off"),  # the numbers only: the console stays ponder's
            )
        else:
            import trackio

            self._run = trackio.init(
                project=PROJECT, name=f"{out.name}-{run_id}", config=config, resume="allow"
            )

    def log(self, values: dict[str, float], step: int) -> None:
        self._run.log(values, step=step)

    def close(self) -> None:
        if self._run is None:
            return
        self._run.finish()
        self._run = None
        if self.name == "wandb":
            import wandb

            # finish() can return before W&B's service has written the last steps to the run file; its
            # teardown waits for them, so the files are complete (e.g. for `wandb sync`) when the run ends.
            wandb.teardown()

"""Progress bars with ETA for long work (tqdm on stderr, so stdout stays clean for tables and JSON)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any


def progress(
    iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it", **kw: Any
):
    """A tqdm bar with elapsed time, rate and ETA. Set ``PONDER_NO_PROGRESS=1`` to silence it."""
    import os

    from tqdm.auto import tqdm

    disable = os.environ.get("PONDER_NO_PROGRESS", "") not in ("", "0")
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
        disable=disable,
        **kw,
    )

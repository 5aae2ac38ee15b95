"""Progress bars with ETA for long work (tqdm on stderr, so stdout stays clean for tables and JSON)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


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


def in_chunks(
    todo: Sequence[T], size: int, *, total: int, desc: str = "", unit: str = "it"
) -> Iterator[tuple[Sequence[T], Any]]:
    """``(chunk, bar)``: ``todo`` ``size`` items at a time, and a bar over ``total`` items that starts at the
    ``total - len(todo)`` already done (a resumed stage); the caller updates the bar, which closes when the
    loop ends, however it ends."""
    bar = progress(total=total, initial=total - len(todo), desc=desc, unit=unit)
    try:
        for c in range(0, len(todo), size):
            yield todo[c : c + size], bar
    finally:
        bar.close()


def timed_call(times: dict[str, float], name: str, fn, *args: Any) -> Any:
    """``fn(*args)``, adding its wall seconds to ``times[name]``."""
    t0 = time.perf_counter()
    try:
        return fn(*args)
    finally:
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0

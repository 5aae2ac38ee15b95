"""Stages under a multi-process launch (torchrun, ``accelerate launch``): which process this is, and how a stage
shares its work so that no two processes ever write one file.

A launcher starts one process per device and tells each its place in the environment: ``RANK`` (0..N-1),
``WORLD_SIZE`` (N) and ``LOCAL_RANK`` (its device on this machine). Without them a run is one process and
everything here does nothing: single-process behaviour and outputs are those of the plain stage.

Two ways a stage runs under N processes:

- **Sharded** (:func:`shared_output`): the work is split by record index -- process r takes records r, r+N,
  r+2N, ... of the input -- and each process writes its own part file ``OUT.rank{r}-of-{N}`` through a
  resumable :class:`~ponder.io.StageWriter`. After every process has finished its part, process 0 merges the
  parts into ``OUT`` atomically, in input order, and removes them. A killed run resumes per process: each
  part continues from its own ``.partial`` file, and a process starting afresh takes its records from an
  earlier ``OUT``. Used by the stages that run a model (generate, eval, prefix completions).
- **On process 0** (:func:`on_main`): process 0 runs the step alone (as a one-process run: nested stages do
  not shard) while the others wait; its result, or its error, is then handed to every process. Used by the
  cheap steps (labels, pair building, reports, a recipe's bookkeeping files).

Processes wait for each other through a gloo process group (made here when no trainer has made one), with a
long timeout: a step on process 0 alone (labelling at scale) may take hours while the others wait.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from glob import escape as glob_escape
from pathlib import Path
from typing import Any, TypeVar

from ponder.errors import InputError, PonderError
from ponder.io import OutputLock, StageWriter, write_records
from ponder.records import iter_json_objects

T = TypeVar("T")

WAIT = timedelta(hours=24)  # how long a process waits for the others at a barrier

_group: Any = None  # the gloo process group of the waits and hand-overs (made once, by every process)
_alone = False  # inside on_main's step on process 0: nested stages run as one process


@dataclass(frozen=True)
class Rank:
    """This process's place in the launch: ``rank`` of ``world`` processes, on device ``local`` of its machine."""

    rank: int = 0
    world: int = 1
    local: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise PonderError(f"environment variable {name}={value!r} is not an integer") from None


def current() -> Rank:
    """The launch this process is part of (one process when no launcher set ``WORLD_SIZE``)."""
    if _alone:
        return Rank()
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    if world < 1 or not 0 <= rank < world:
        raise PonderError(f"RANK={rank} and WORLD_SIZE={world} do not name a process of the launch")
    return Rank(rank, world, _env_int("LOCAL_RANK", rank))


def is_main() -> bool:
    """True in a one-process run and on process 0 (the one that prints and writes shared files)."""
    return current().main


def _gloo():
    global _group
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        if torch.cuda.is_available():  # trainers use NCCL on GPUs; the waits here use gloo either way
            torch.cuda.set_device(current().local)
            dist.init_process_group("cpu:gloo,cuda:nccl", timeout=WAIT)
        else:
            dist.init_process_group("gloo", timeout=WAIT)
    if _group is None:
        _group = dist.new_group(backend="gloo", timeout=WAIT)
    return _group


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a one-process run)."""
    if current().world > 1:
        import torch.distributed as dist

        dist.barrier(group=_gloo())


def broadcast(value: Any = None) -> Any:
    """Process 0's ``value`` on every process (picklable)."""
    if current().world == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=_gloo())
    return box[0]


def gather(value: Any) -> list:
    """Every process's ``value``, in rank order (``[value]`` in a one-process run)."""
    if current().world == 1:
        return [value]
    import torch.distributed as dist

    out: list = [None] * current().world
    dist.all_gather_object(out, value, group=_gloo())
    return out


def on_main(step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``step(*args, **kwargs)`` run by process 0 alone (a one-process run inside it) while the others wait;
    its result is returned on every process. When it fails on process 0, every process fails: process 0 with
    the error itself, the others with a PonderError naming it."""
    global _alone
    r = current()
    if r.world == 1:
        return step(*args, **kwargs)
    if r.main:
        _alone = True
        try:
            result = step(*args, **kwargs)
        except BaseException as e:
            _alone = False
            broadcast(("error", f"{type(e).__name__}: {e}"))
            raise
        _alone = False
        broadcast(("ok", result))
        return result
    kind, value = broadcast()
    if kind == "error":
        raise PonderError(f"process 0 failed: {value}")
    return value


def main_only(step: Callable[..., T]) -> Callable[..., T]:
    """``step`` made a step of process 0 alone (see :func:`on_main`); one-process runs call it as it is.

    For stages that are cheap next to sampling, or whose output is written once: under several processes,
    process 0 runs them while the others wait."""

    @functools.wraps(step)
    def run(*args: Any, **kwargs: Any) -> T:
        return on_main(step, *args, **kwargs)

    return run


def part_path(output: str | Path, r: Rank) -> Path:
    """Where process ``r`` writes its share of ``output``."""
    output = Path(output)
    return output.with_name(f"{output.name}.rank{r.rank}-of-{r.world}")


def _read(path: Path) -> list[dict]:
    """The records of a committed file (none when it is missing or empty)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    try:
        return [obj for _, obj in iter_json_objects(path)]
    except InputError as e:
        if "empty" in str(e):  # a Parquet file of no rows
            return []
        raise


@contextmanager
def shared_output(
    output: str | Path, ids: Sequence[Any], **writer_options: Any
) -> Iterator[tuple[StageWriter, list[int]]]:
    """``(writer, mine)``: this process's writer and the indices into ``ids`` (the input's record ids, in input
    order) it computes. One process: a plain ``StageWriter(output)`` and every index, exactly the plain stage.

    N processes: ``mine`` is ``rank, rank + N, ...``; the writer writes this process's part. On leaving the
    block without an error the part is committed, every process waits for the others, and process 0 merges the
    parts into ``output`` in input order (records of ids not in ``ids`` that ``output`` already held first,
    unless ``drop_unchecked``); every process returns once ``output`` is complete. On an error the part stays
    resumable and nothing is merged. ``writer_options`` go to :class:`~ponder.io.StageWriter`.
    """
    r = current()
    if r.world == 1:
        with StageWriter(output, **writer_options) as writer:
            yield writer, list(range(len(ids)))
        return
    output = Path(output)
    key = writer_options.get("key", "id")
    mine = list(range(r.rank, len(ids), r.world))
    part = part_path(output, r)
    if not part.exists() and not part.with_name(part.name + ".partial").exists():
        # A fresh share of a finished or merged run: its records of ids in this share are already done.
        own = {str(ids[i]) for i in mine}
        earlier = [d for d in _read(output) if str(d.get(key)) in own]
        if earlier:
            write_records(part, earlier)
    with StageWriter(part, **writer_options) as writer:
        yield writer, mine
    barrier()  # every part committed
    on_main(_merge, output, [str(i) for i in ids], r.world, key, writer_options.get("drop_unchecked", False))


def _merge(output: Path, ids: list[str], world: int, key: str, drop_unchecked: bool) -> None:
    """Process 0: the parts of every process, in input order, into ``output`` (atomically); then no parts."""
    parts = [part_path(output, Rank(k, world)) for k in range(world)]
    by_id: dict[str, dict] = {}
    for part in parts:
        for d in _read(part):
            by_id[str(d[key])] = d
    asked = set(ids)
    lock = OutputLock(output)
    try:
        kept = [] if drop_unchecked else [d for d in _read(output) if str(d.get(key)) not in asked]
        write_records(output, [*kept, *(by_id[i] for i in ids if i in by_id)])
    finally:
        lock.release()
    # The parts, and any left by a run with another number of processes (their work is redone: shares differ).
    for stale in output.parent.glob(f"{glob_escape(output.name)}.rank*-of-*"):
        stale.unlink(missing_ok=True)


def finish(code: int = 0) -> None:
    """End a command: in a multi-process run, wait for every process, tear the process group down and exit
    at once (two-process gloo runs can abort at interpreter exit otherwise)."""
    import sys

    if "torch" not in sys.modules:
        return
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        world = dist.get_world_size()
        dist.barrier(group=_gloo())
        dist.destroy_process_group()
        if world > 1:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)

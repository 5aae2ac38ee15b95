"""cgroup memory and pids limits for sandbox workers, where a delegated cgroup is writable.

The host makes one cgroup per worker under the cgroup it runs in -- cgroup v2 when the unified hierarchy
offers the memory and pids controllers there, else the v1 memory and pids hierarchies (machines with a hybrid
layout, such as these) -- and hands the worker open descriptors of its files; the supervisor joins it once
(every process it forks is then born inside: moving each one would cost milliseconds), and sets per program:

- memory: ``memory_mb`` plus ``HEADROOM_MB`` for the program's processes together, kernel-enforced, with
  what they keep in ``/tmp`` and ``/dev/shm`` counted (tmpfs is memory); an OOM kill there is a ``memory`` result;
- pids: ``processes`` (+2: the assert-mode judge and the supervisor), threads included, whatever the uid.

:func:`create` returns None and a reason where no cgroup can be made; the pool reports it (``pool.cgroup``)
and the rlimits and the supervisor's memory total still hold. Standard library only.
"""

from __future__ import annotations

import os
import time

HEADROOM_MB = 64  # copy-on-write copies of the interpreter's pages, page tables, kernel buffers
_PREFIX = "ponder-sandbox-"


def _mounts() -> list[tuple[str, str, set[str]]]:
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) >= 5 and len(rfields) >= 3 and rfields[0] in ("cgroup", "cgroup2"):
                out.append((rfields[0], fields[4], set(rfields[2].split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path."""
    paths = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            for c in ctrls.split(",") if ctrls else [""]:
                paths[c] = path
    return paths


def locate() -> tuple[str, dict[str, str]] | str:
    """("v2" | "v1", {"memory": dir, "pids": dir}) where this process may make cgroups, else a reason."""
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as e:
        return f"cannot read cgroups ({e})"
    for kind, point, _ in mounts:
        if kind == "cgroup2" and "" in own:
            base = point + own[""].rstrip("/")
            try:
                with open(base + "/cgroup.subtree_control") as fh:
                    enabled = set(fh.read().split())
                if not {"memory", "pids"} <= enabled:
                    with open(base + "/cgroup.subtree_control", "w") as fh:
                        fh.write("+memory +pids")
                return "v2", {"memory": base, "pids": base}
            except OSError:
                pass  # not delegated here, or the controllers are bound to v1 hierarchies
    dirs = {}
    for kind, point, opts in mounts:
        for c in ("memory", "pids"):
            if kind == "cgroup" and c in opts and c in own and os.access(point + own[c], os.W_OK):
                dirs[c] = point + own[c].rstrip("/")
    if set(dirs) == {"memory", "pids"}:
        return "v1", dirs
    return "no writable cgroup with the memory and pids controllers (v2 not delegated here, v1 not writable)"


class WorkerCgroup:
    """One worker's cgroup(s): made on the host, removed when the worker is gone."""

    def __init__(self, kind: str, parents: dict[str, str], index: int):
        self.kind = kind
        name = f"{_PREFIX}{os.getpid()}-{index}-{os.urandom(3).hex()}"
        self.dirs = sorted({p + "/" + name for p in parents.values()})
        for d in self.dirs:
            os.mkdir(d)
        mem, pids = parents["memory"] + "/" + name, parents["pids"] + "/" + name
        v2 = kind == "v2"
        self.files = {
            "procs": [d + "/cgroup.procs" for d in self.dirs],
            "memory": mem + ("/memory.max" if v2 else "/memory.limit_in_bytes"),
            "pids": pids + "/pids.max",
            "events": mem + ("/memory.events" if v2 else "/memory.oom_control"),
        }
        if v2:
            _try_write(mem + "/memory.swap.max", "0")
            _try_write(mem + "/memory.oom.group", "1")

    def fds(self) -> dict:
        """Open descriptors for the worker (inherited through exec): write procs, limits; read events."""
        f = self.files
        return {
            "kind": self.kind,
            "procs": [os.open(p, os.O_WRONLY) for p in f["procs"]],
            "memory": os.open(f["memory"], os.O_WRONLY),
            "pids": os.open(f["pids"], os.O_WRONLY),
            "events": os.open(f["events"], os.O_RDONLY),
        }

    def oom_kills(self) -> int:
        """OOM kills so far in this cgroup, read on the host (the worker itself may be one of them)."""
        try:
            with open(self.files["events"]) as fh:
                return _oom_count(fh.read())
        except OSError:
            return 0

    def remove(self) -> None:
        for d in self.dirs:
            for _ in range(50):  # the last processes may still be exiting
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)


def remove_stale(parents: dict[str, str]) -> None:
    """Remove cgroups of earlier ponder processes that died without cleaning up."""
    for parent in set(parents.values()):
        try:
            names = os.listdir(parent)
        except OSError:
            continue
        for name in names:
            if name.startswith(_PREFIX):
                pid = name[len(_PREFIX) :].split("-", 1)[0]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    try:
                        os.rmdir(f"{parent}/{name}")
                    except OSError:
                        pass


def _try_write(path: str, text: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError:
        pass


# --------------------------------------------------------------------------- inside the worker


def set_limits(cg: dict, memory_mb: int, processes: int) -> None:
    """Per program, from the supervisor (no process of the program is alive)."""
    os.pwrite(cg["memory"], str((int(memory_mb) + HEADROOM_MB) << 20).encode(), 0)
    os.pwrite(cg["pids"], str(int(processes)).encode(), 0)


def join(cg: dict) -> None:
    """Move the calling process into the cgroup."""
    for fd in cg["procs"]:
        os.pwrite(fd, b"0", 0)


def oom_kills(cg: dict) -> int:
    """OOM kills so far in the cgroup whose descriptors (:meth:`WorkerCgroup.fds`) are ``cg``."""
    try:
        return _oom_count(os.pread(cg["events"], 4096, 0).decode())
    except OSError:
        return 0


def _oom_count(text: str) -> int:
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        if k == "oom_kill" and v.strip().isdigit():
            return int(v)
    return 0

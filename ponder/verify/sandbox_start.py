"""Starting sandbox workers: namespaces required (failing closed with one line that says how to opt in to
rlimits and what that exposes), rlimits only when asked for, a cgroup per worker where one can be made.
See :mod:`ponder.verify.sandbox` for the threat model."""

from __future__ import annotations

import warnings

from ponder.verify import sandbox as sb
from ponder.verify import sandbox_cgroup


def exposed(cfg: dict) -> list[str]:
    """What programs can do when they run with rlimits only (``cfg``: that worker's configuration)."""
    lost = [
        "open network connections, also to 127.0.0.1",
        "read what any user may read on this machine (home directories, keys, tokens) and write world-writable places",
    ]
    if cfg["privileges"] == "none":
        lost += [
            "kill(-1) every process of this user, the caller included",
            "outgrow the process limit (RLIMIT_NPROC counts every process of this user)",
            "leave processes behind when their worker is killed",
        ]
    return lost


def fallback_warning(reason: str, cfg: dict) -> str:
    return (
        f"ponder sandbox: running programs with rlimits only ({reason}); programs can "
        f"{'; '.join(exposed(cfg))}."
    )


def namespaces_error(reason: str) -> str:
    """The one-line error when namespaces cannot be created: how to opt in to rlimits and what that exposes."""
    cfg = sb.worker_config("rlimits", 0)
    return (
        f"cannot isolate programs: kernel namespaces are unavailable ({reason}). To run them with rlimits only, "
        f"pass isolation='rlimits' (ponder exec --isolation rlimits, or PONDER_SANDBOX_ISOLATION=rlimits); "
        f"programs can then {'; '.join(exposed(cfg))}."
    )


def cgroups() -> tuple[str, dict[str, str]] | str:
    """Where workers' cgroups go (see :mod:`sandbox_cgroup`), or why there are none."""
    found = sandbox_cgroup.locate()
    if not isinstance(found, str):
        sandbox_cgroup.remove_stale(found[1])
    return found


def _launch(n: int, isolation: str, **kw) -> tuple[list[sb.SandboxWorker], list[str]]:
    found = cgroups()
    workers = []
    for i in range(n):
        cg = None
        if not isinstance(found, str):
            try:
                cg = sandbox_cgroup.WorkerCgroup(*found, i)
            except OSError:
                cg = None
        workers.append(sb.SandboxWorker(sb.worker_config(isolation, i, **kw), i, cg))
    for w in workers:
        w.spawn()
    errors = [str(r.get("error")) for r in (w.handshake() for w in workers) if not r.get("ready")]
    if errors:
        for w in workers:
            w.close()
    return workers, errors


def start_workers(n: int, isolation: str = "auto", **kw) -> tuple[list[sb.SandboxWorker], str]:
    """Start ``n`` workers in parallel. Returns them and the isolation in effect ("namespaces" or "rlimits").

    "auto" and "namespaces" require namespaces and raise :class:`SandboxError` (one line: why, how to opt in
    to rlimits, and what that exposes) where they cannot be created; only an explicit "rlimits" runs without
    them, with a :class:`SandboxWarning` naming what programs can then do. Keyword arguments go to
    :func:`worker_config`.
    """
    if isolation not in sb.ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(sb.ISOLATIONS)}, got {isolation!r}")
    if isolation != "rlimits":
        workers, errors = _launch(n, "namespaces", **kw)
        if errors and errors[0].startswith("namespaces: "):
            raise sb.SandboxError(namespaces_error(" ".join(errors[0].removeprefix("namespaces: ").split())))
        if errors:
            raise sb.SandboxError(f"cannot start the sandbox: {' '.join(errors[0].split())}")
        return workers, "namespaces"
    kw.pop("single_uid", None)
    workers, errors = _launch(n, "rlimits", **kw)
    if errors:
        raise sb.SandboxError(f"cannot start the sandbox even without namespaces: {errors[0]}")
    warnings.warn(
        fallback_warning("isolation='rlimits' was asked for", workers[0].cfg), sb.SandboxWarning, stacklevel=3
    )
    return workers, "rlimits"

"""Ray: the settings every fan-out shares (which cluster, CPUs per worker) and the one way to join it.

A stage that fans out over Ray -- generation (model copies) and the sandbox (program runs) -- takes its
settings dataclass from :class:`RaySettings`, so ``--ray-address`` and ``--cpus-per-worker`` mean the same
on every command and in every config section. :func:`connect` starts or joins the cluster once per process;
a missing ``ray`` package is one line naming the option.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from ponder.config import option
from ponder.errors import PonderError

RAY_EXTRA = "pip install -e '.[ray]'"


@dataclass(frozen=True)
class RaySettings:
    """Which Ray cluster a stage fans out over, and what each of its workers reserves there."""

    ray_address: str | None = option(
        None,
        help="Ray cluster to fan out over: HOST:PORT of its head (`ray start --head`) or auto; none: run on "
        "this machine (needs the ray extra).",
    )
    cpus_per_worker: float = option(
        1.0,
        help="CPUs each Ray worker reserves on its node (sandbox: one program at a time per whole CPU; "
        "generation: its torch threads).",
    )

    def __post_init__(self) -> None:
        if self.cpus_per_worker <= 0:
            raise ValueError(f"cpus_per_worker must be positive, got {self.cpus_per_worker}")
        if self.ray_address is not None and not self.ray_address.strip():
            raise ValueError("ray_address must be HOST:PORT or auto (leave it unset to run here)")

    @property
    def on_ray(self) -> bool:
        return self.ray_address is not None


def connect(address: str | None, *, needed_by: str = "--ray-address") -> Any:
    """The ``ray`` module, joined to the cluster at ``address`` (``None``: a local one is started). A process
    joins one cluster: a second call reuses it, and naming another address than the one joined is an error."""
    try:
        import ray
    except ImportError:
        raise PonderError(f"{needed_by} needs Ray, which is not installed: {RAY_EXTRA}") from None
    if ray.is_initialized():
        joined = ray.get_runtime_context().gcs_address
        if address not in (None, "auto") and _port(address) != _port(joined):
            raise PonderError(
                f"{needed_by} {address}: this process already joined the Ray cluster at {joined}"
            )
        return ray
    _reachable(address, needed_by)
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PonderError(f"{needed_by} {address}: cannot join the Ray cluster: {first}") from None
    return ray


def _reachable(address: str | None, needed_by: str, timeout_s: float = 10.0) -> None:
    """A HOST:PORT with no head listening is one line now; ``ray.init`` would retry it for minutes."""
    host, _, port = (address or "").rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # None, auto, local or a client URL: Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise PonderError(f"{needed_by} {address}: no Ray head answers there ({e.strerror or e})") from None


def _port(address: str) -> str:
    return address.rsplit(":", 1)[-1]

"""Fixtures for the PFPO-code tests: one sandbox pool, one torch thread, and ``ponder serve`` subprocesses."""

import pytest

from ponder.verify.code import SandboxPool
from tests.generation.conftest import Server


@pytest.fixture(scope="session")
def code_pool():
    """Two sandbox workers (started once, about 0.3 s)."""
    with SandboxPool(2) as p:
        yield p


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Tiny models: per-op overhead dominates, and on a shared machine two threads were measured many times slower.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def untrained_server(tiny_model_dir, tmp_path_factory):
    """``ponder serve`` with the untrained nano model: its answers are noise."""
    server = Server(tiny_model_dir, "nano", tmp_path_factory.mktemp("serve") / "serve.log")
    yield server
    server.stop()

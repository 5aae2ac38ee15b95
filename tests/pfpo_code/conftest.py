"""Fixtures for the PFPO-code tests: one sandbox pool shared by the tests of this folder."""

import pytest

from ponder.verify.code import SandboxPool


@pytest.fixture(scope="session")
def code_pool():
    """Two sandbox workers (started once, about 0.3 s)."""
    with SandboxPool(2) as p:
        yield p

import pytest

from ponder.verify.answers.limits import POOL


@pytest.fixture(scope="session", autouse=True)
def warm_symbolic_worker():
    """Start the symbolic worker once, so that no test's time limit includes its start-up."""
    assert POOL.warm(60)

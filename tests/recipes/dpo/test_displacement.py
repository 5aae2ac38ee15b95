"""Likelihood displacement read from a DPO run's per-step rewards."""

import pytest

from ponder.recipes.dpo.displacement import displacement
from tests.helpers import approx

# Expected floats are float64 results of a few operations: 4 roundings of their size (tests/helpers.py).


def test_tail_means_in_nats():
    """beta 0.5; the last 2 of 10 steps have chosen rewards -0.1 and -0.3 (mean -0.2 -> -0.4 nats) and
    rejected -1.0 and -2.0 (mean -1.5 -> -3.0 nats): the chosen side fell, so it is displaced."""
    m = [{"rewards_chosen": 1.0, "rewards_rejected": 0.0}] * 8
    m += [
        {"rewards_chosen": -0.1, "rewards_rejected": -1.0},
        {"rewards_chosen": -0.3, "rewards_rejected": -2.0},
    ]
    d = displacement(m, beta=0.5)
    assert d["chosen_logp_change"] == approx(-0.4, factor=4)
    assert d["rejected_logp_change"] == approx(-3.0, factor=4)
    assert d["displaced"] is True and d["steps"] == 10


def test_rising_chosen_is_not_displaced():
    d = displacement([{"rewards_chosen": 0.2, "rewards_rejected": -0.4}], beta=0.1)
    assert d["displaced"] is False
    assert d["chosen_logp_change"] == approx(2.0, factor=4)


def test_bad_beta_and_empty():
    with pytest.raises(ValueError, match="beta"):
        displacement([], beta=0)
    assert displacement([], beta=0.5)["displaced"] is None

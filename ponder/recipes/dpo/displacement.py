"""Likelihood displacement in a DPO run: does the chosen side's log-probability fall with the rejected one?

DPO (Rafailov et al., 2023, Eq. 7) only widens the *margin* ``(log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) -
log pi_ref(y_l))``; both terms may fall together, so the policy can end up giving its chosen programs *less*
probability than the reference did (Razin et al., 2024, "likelihood displacement"). The trainer logs, per
step, the batch means ``rewards_chosen = beta * (log pi(y_w) - log pi_ref(y_w))`` and ``rewards_rejected``
(summed response log-probs); this module reads them back and says how far each side moved, in nats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def displacement(metrics: Sequence[dict[str, Any]], beta: float, *, tail: float = 0.2) -> dict[str, Any]:
    """Mean change of the chosen and rejected log-probs (nats per response, policy minus reference) over the
    last ``tail`` share of steps (at least one), and ``displaced``: whether the chosen side fell.

    >>> displacement([{"rewards_chosen": -0.5, "rewards_rejected": -2.0}], beta=0.5)["chosen_logp_change"]
    -1.0
    """
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    if not metrics:
        return {"chosen_logp_change": None, "rejected_logp_change": None, "displaced": None, "steps": 0}
    last = metrics[-max(1, round(len(metrics) * tail)) :]
    chosen = sum(m["rewards_chosen"] for m in last) / len(last) / beta
    rejected = sum(m["rewards_rejected"] for m in last) / len(last) / beta
    return {
        "chosen_logp_change": chosen,
        "rejected_logp_change": rejected,
        "displaced": chosen < 0,
        "steps": len(metrics),
    }

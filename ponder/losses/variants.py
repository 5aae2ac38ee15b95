"""The names of the RL loss choices: aggregations, KL estimators and the GRPO family's variants.

Kept free of torch so that configs (``ponder train rl --show-config``) can list the choices without loading
it; the formulas they select are in :mod:`ponder.losses.rl`.
"""

from __future__ import annotations

from dataclasses import dataclass

AGGREGATIONS = ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")
KL_ESTIMATORS = ("k1", "k2", "k3")


@dataclass(frozen=True)
class GRPOVariant:
    """How one member of the GRPO family turns group rewards into a loss."""

    scale_by_std: bool
    aggregation: str
    clip_low: float
    clip_high: float


GRPO_VARIANTS: dict[str, GRPOVariant] = {
    # DeepSeekMath: std-normalised advantages, per-sequence mean of per-token means, symmetric clip 0.2.
    "grpo": GRPOVariant(scale_by_std=True, aggregation="seq-mean-token-mean", clip_low=0.2, clip_high=0.2),
    # Dr. GRPO: no std division, no per-sequence length division (a constant normaliser instead).
    "dr_grpo": GRPOVariant(
        scale_by_std=False, aggregation="seq-mean-token-sum-norm", clip_low=0.2, clip_high=0.2
    ),
    # DAPO: std-normalised advantages, token-level mean over the batch, Clip-Higher (0.2, 0.28).
    "dapo": GRPOVariant(scale_by_std=True, aggregation="token-mean", clip_low=0.2, clip_high=0.28),
}

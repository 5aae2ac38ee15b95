"""The DPO recipe's settings: how to train (:class:`DPOSettings`, what ThinkPO and PFPO nest as their DPO
section) and what on (:class:`DPOConfig` adds the policy, the reference, the pairs and the run folder).
Torch-free, so the command line and the configs of other recipes can read it cheaply."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ponder.config import option
from ponder.train.settings import TrainRun, TrainSettings


@dataclass(frozen=True)
class DPOSettings(TrainSettings):
    """How DPO-family training runs (``ponder train dpo`` options; ThinkPO's ``dpo:``, PFPO's ``train:``):
    the trainer's settings, the DPO objective's, and the pairs per step. ``lr`` and ``warmup_ratio`` have
    DPO's own defaults."""

    loss_type: Literal["sigmoid", "robust", "ipo", "hinge"] = option(
        "sigmoid", help="sigmoid (DPO; cDPO with label_smoothing > 0), robust (rDPO), ipo, hinge."
    )
    beta: float = option(0.1, help="β: strength of the KL constraint to the reference (τ for IPO).")
    label_smoothing: float = option(
        0.0, help="ε: assumed share of flipped labels (sigmoid: cDPO; robust: rDPO)."
    )
    sft_loss_weight: float = option(
        0.0, help="Weight of the token-mean NLL of the chosen response (RPO, PFPO)."
    )
    length_normalize: bool = option(
        False, help="Use mean instead of summed response log-probs (as TRL's IPO)."
    )
    cut: Literal["none", "first-token", "first-line"] = option(
        "none",
        help="Train each pair only where its sides part: none (whole responses, the authors'), first-token "
        "(the first differing token), first-line (from it to the end of its line); shared tokens before it "
        "are context, tokens after it are dropped.",
    )
    reference_free: bool = option(False, help="No reference model: reference log-probs count as 0.")
    precompute_ref: bool = option(
        False,
        help="Compute reference log-probs once before training and cache them "
        "next to the data, instead of a live reference model.",
    )
    lr: float = option(1e-6, help="Peak learning rate (AdamW).")
    warmup_ratio: float = option(0.1, help="Share of the optimizer steps spent warming up linearly from 0.")
    pairs_per_step: int = option(32, help="Pairs per optimizer step, over all processes.")
    share_prompt: bool = option(True, help="Compute each pair's prompt once for chosen and rejected.")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("beta", "pairs_per_step"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError("label_smoothing must be in [0, 0.5)")
        if self.reference_free and self.precompute_ref:
            raise ValueError("reference_free cannot be combined with precompute_ref")


@dataclass(frozen=True, kw_only=True)
class DPOConfig(TrainRun, DPOSettings):
    """One DPO run: the settings, plus the policy to start from, its reference, the pairs and the run folder."""

    ref_model: str | None = option(None, help="Reference model; default: the starting policy (`model`).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.reference_free and self.ref_model:
            raise ValueError("reference_free cannot be combined with ref_model")

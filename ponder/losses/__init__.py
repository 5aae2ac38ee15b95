"""Losses as pure functions of log-probs and masks (SFT, the DPO family; RL losses live here too)."""

from ponder.losses.dpo import LOSS_TYPES, PreferenceLoss, preference_loss
from ponder.losses.sft import sft_loss

__all__ = ["LOSS_TYPES", "PreferenceLoss", "preference_loss", "sft_loss"]

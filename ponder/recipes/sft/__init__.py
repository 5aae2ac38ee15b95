"""Supervised fine-tuning: ``run(SFTConfig(...))`` (the loop is in :mod:`ponder.recipes.sft.train`)."""

from __future__ import annotations

from ponder.recipes.sft.config import SFTConfig, SFTSettings

__all__ = ["SFTConfig", "SFTSettings", "run"]


def run(cfg: SFTConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    from ponder.recipes.sft.train import run as train

    return train(cfg)

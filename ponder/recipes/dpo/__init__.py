"""DPO-family training on preference pairs: ``run(DPOConfig(...))`` (the loop: :mod:`ponder.recipes.dpo.train`)."""

from __future__ import annotations

from ponder.recipes.dpo.config import DPOConfig, DPOSettings

__all__ = ["DPOConfig", "DPOSettings", "run"]


def run(cfg: DPOConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    from ponder.recipes.dpo.train import run as train

    return train(cfg)

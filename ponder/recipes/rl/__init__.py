"""RL with PPO or GRPO on the Thinker task or single-turn QA: ``run(RLConfig(...))``.

The loop is :mod:`ponder.recipes.rl.train`; :mod:`~ponder.recipes.rl.batch` turns dialogues into training
samples, :mod:`~ponder.recipes.rl.update` computes advantages and updates, :mod:`~ponder.recipes.rl.metrics`
summarises rollouts. Thinker is this recipe with ``env: thinker``; its single-turn baseline ``env: qa``.
"""

from __future__ import annotations

from ponder.recipes.rl.config import RLConfig

__all__ = ["RLConfig", "run"]


def run(cfg: RLConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    from ponder.recipes.rl.train import run as train

    return train(cfg)

"""Losses as pure functions of log-probs, masks and advantages: :mod:`~ponder.losses.sft`,
:mod:`~ponder.losses.dpo` (the DPO family), :mod:`~ponder.losses.rl` (PPO, GAE, GRPO family, KL); the names of
the RL choices in :mod:`~ponder.losses.variants` (torch-free)."""

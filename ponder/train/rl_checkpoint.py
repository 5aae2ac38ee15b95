"""Checkpoints of an RL run: the policy, the critic, both optimizers and the RNG states, in one directory.

The layout extends :mod:`ponder.train.checkpoint` (same ``OUT/checkpoints/step-N`` names, so
``latest_checkpoint`` and ``load_checkpoint_state`` work unchanged) with ``critic/`` next to ``model/``:

- ``model/`` -- the policy (``save_pretrained`` + tokenizer);
- ``critic/`` -- the critic's body as a model folder plus ``value_head.safetensors`` (PPO only);
- ``state/`` -- accelerate's state: every prepared optimizer and the RNG states;
- ``trainer_state.json`` -- the step, the run's config and the RL state (trailing accuracy, tokens so far).

Written under a temporary name and renamed when complete: a killed run leaves whole checkpoints only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ponder.train.checkpoint import save_checkpoint


def save_rl_checkpoint(
    accelerator,
    policy,
    critic,
    tokenizer,
    out: str | Path,
    step: int,
    trainer_state: dict[str, Any],
    keep: int | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``OUT/checkpoints/step-N`` with policy, critic (may be None), optimizers and RNG states."""

    def write_critic(folder: Path) -> None:
        if critic is None:
            return
        state_dict = accelerator.get_state_dict(critic)
        if accelerator.is_main_process:
            accelerator.unwrap_model(critic).save(folder / "critic", state_dict)

    return save_checkpoint(
        accelerator, policy, tokenizer, out, step, trainer_state, keep, extra=write_critic, dtype=dtype
    )


def save_critic(accelerator, critic, path: str | Path) -> None:
    """The final critic, written under a temporary name and renamed."""
    path = Path(path)
    state_dict = accelerator.get_state_dict(critic)
    if accelerator.is_main_process:
        tmp = path.with_name(f".partial-{path.name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        accelerator.unwrap_model(critic).save(tmp, state_dict)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    accelerator.wait_for_everyone()

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

import json
import os
import shutil
from pathlib import Path
from typing import Any

from ponder.train.checkpoint import checkpoint_dir, list_checkpoints, save_model


def save_rl_checkpoint(
    accelerator,
    policy,
    critic,
    tokenizer,
    out: str | Path,
    step: int,
    trainer_state: dict[str, Any],
    keep: int | None = None,
) -> Path:
    """Write ``OUT/checkpoints/step-N`` with policy, critic (may be None), optimizers and RNG states."""
    final = checkpoint_dir(out, step)
    tmp = final.with_name(f".partial-{final.name}")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    save_model(accelerator, policy, tokenizer, tmp / "model")
    if critic is not None:
        state_dict = accelerator.get_state_dict(critic)
        if accelerator.is_main_process:
            accelerator.unwrap_model(critic).save(tmp / "critic", state_dict)

    def drop_weights(models, weights, output_dir):
        weights.clear()  # the weights are in model/ and critic/ already

    handle = accelerator.register_save_state_pre_hook(drop_weights)
    try:
        accelerator.save_state(str(tmp / "state"))
    finally:
        handle.remove()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        if keep is not None:
            for old in list_checkpoints(out)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


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

"""Checkpoints that resume exactly, and the final model.

Layout of ``OUT/checkpoints/step-000040/``:

- ``model/`` -- ``save_pretrained`` weights and the tokenizer: loads unchanged in transformers and vLLM;
  in fp32, or in the run's ``save_dtype`` (bf16 halves the folder: a 7B model takes 15 GB, not 30; a run
  resumed from such a checkpoint continues from the rounded weights, with exact optimizer and RNG states);
- ``state/`` -- accelerate's ``save_state``: optimizer state (sharded under FSDP/DeepSpeed), the RNG states
  of every process;
- ``trainer_state.json`` -- the step, the data position and the run's config.

A checkpoint is written under a temporary name and renamed when complete, so a killed run leaves either a
whole checkpoint or none. Resuming loads the policy weights from ``model/`` *before* the model is wrapped
for distribution, then the optimizer and RNG states from ``state/``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CHECKPOINTS = "checkpoints"
PREFIX = "step-"


def checkpoint_dir(out: str | Path, step: int) -> Path:
    return Path(out) / CHECKPOINTS / f"{PREFIX}{step:06d}"


def list_checkpoints(out: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(out: str | Path) -> Path | None:
    found = list_checkpoints(out)
    return found[-1] if found else None


def read_trainer_state(ckpt: str | Path) -> dict[str, Any]:
    return json.loads((Path(ckpt) / "trainer_state.json").read_text(encoding="utf-8"))


SAVE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def save_model(accelerator, model, tokenizer, path: str | Path, dtype: str = "float32") -> None:
    """``save_pretrained`` of the (possibly wrapped or sharded) model, plus the tokenizer, written under a
    temporary name and renamed, so ``path`` is always a whole model. All processes call it.

    ``dtype`` (a key of ``SAVE_DTYPES``): floating-point weights are cast to it and ``config.json`` names it,
    so transformers (``dtype="auto"``) and vLLM load the model in that dtype.
    """
    path = Path(path)
    state_dict = accelerator.get_state_dict(model)  # gathers shards; a collective under FSDP/DeepSpeed
    if accelerator.is_main_process:
        tmp = path.with_name(f".partial-{path.name}")
        if tmp.exists():
            shutil.rmtree(tmp)
        unwrapped = accelerator.unwrap_model(model)
        state_dict = cast_state_dict(_drop_tied_head(unwrapped, state_dict), SAVE_DTYPES[dtype])
        unwrapped.save_pretrained(tmp, state_dict=state_dict, safe_serialization=True)
        _name_dtype(tmp / "config.json", dtype)
        tokenizer.save_pretrained(tmp)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    accelerator.wait_for_everyone()


def cast_state_dict(state_dict: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Floating-point tensors cast to ``dtype``; others (integer buffers) unchanged. Tensors that share
    memory (tied embeddings) stay shared, so ``save_pretrained`` still stores them once."""
    cast: dict[tuple, torch.Tensor] = {}
    out = {}
    for k, v in state_dict.items():
        if not v.is_floating_point() or v.dtype == dtype:
            out[k] = v
            continue
        key = (v.data_ptr(), v.shape, v.stride())
        if key not in cast:
            cast[key] = v.to(dtype)
        out[k] = cast[key]
    return out


def _drop_tied_head(model, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Without the LM head's weight when it is tied to the input embedding: a state dict gathered from
    shards (FSDP) holds two separate copies, which ``save_pretrained`` would both store."""
    if not getattr(getattr(model, "config", None), "tie_word_embeddings", False):
        return state_dict
    names = {id(m): n for n, m in model.named_modules()}
    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    if head is None or embed is None or id(head) not in names or id(embed) not in names:
        return state_dict
    head_key, embed_key = f"{names[id(head)]}.weight", f"{names[id(embed)]}.weight"
    if head_key in state_dict and embed_key in state_dict and head_key != embed_key:
        return {k: v for k, v in state_dict.items() if k != head_key}
    return state_dict


def _name_dtype(config_path: Path, dtype: str) -> None:
    # save_pretrained writes the dtype of the module's parameters (the fp32 master weights), not the saved one
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["dtype"] = dtype
    if "torch_dtype" in config:
        config["torch_dtype"] = dtype
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def save_checkpoint(
    accelerator,
    model,
    tokenizer,
    out: str | Path,
    step: int,
    trainer_state: dict[str, Any],
    keep: int | None = None,
    extra: Callable[[Path], None] | None = None,
    dtype: str = "float32",
) -> Path:
    """Write ``OUT/checkpoints/step-N`` atomically; keep only the ``keep`` newest (``None``: all).
    ``dtype``: of the weights in ``model/`` (see :func:`save_model`).

    ``extra(folder)`` writes further parts (an RL critic) into the checkpoint before it is renamed; it is
    called on every process, like ``save_model``.
    """
    final = checkpoint_dir(out, step)
    tmp = final.with_name(f".partial-{final.name}")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    save_model(accelerator, model, tokenizer, tmp / "model", dtype)
    if extra is not None:
        extra(tmp)

    def drop_weights(models, weights, output_dir):
        # Plain and DDP weights are in model/ already: do not store them twice. (FSDP and DeepSpeed save
        # their sharded model states themselves, outside this list.)
        weights.clear()

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


def load_checkpoint_state(accelerator, ckpt: str | Path) -> dict[str, Any]:
    """Restore optimizer and RNG states from ``ckpt/state`` (weights were loaded from ``ckpt/model``)."""

    def skip_models(models, input_dir):
        models.clear()  # the weights came from model/ (FSDP and DeepSpeed load their shards themselves)

    handle = accelerator.register_load_state_pre_hook(skip_models)
    try:
        accelerator.load_state(str(Path(ckpt) / "state"))
    finally:
        handle.remove()
    return read_trainer_state(ckpt)

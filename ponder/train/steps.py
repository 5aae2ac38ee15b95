"""The pieces of one optimizer step shared by the SFT, DPO and RL recipes.

A step takes a list of prompt groups (the whole step, identical on every process), gives each process
its share, cuts the share into micro-batches of at most ``tokens_per_microbatch`` tokens, runs forward and
backward per micro-batch (gradient sync only on the last one), then clips and applies the update.
Processes with fewer micro-batches than the busiest one run empty ones (a one-token forward with zero
loss), because FSDP and DeepSpeed need every process to take part in every forward.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from ponder.errors import PonderError
from ponder.progress import progress
from ponder.train import distributed
from ponder.train.checkpoint import latest_checkpoint, read_trainer_state
from ponder.train.logprobs import logprobs
from ponder.train.packing import PromptGroup, TokenBatch, pack, pad, plan_microbatches

# Fields that may change between an interrupted run and its resumption without changing the result.
RESUME_FREE = {"resume", "save_every", "keep_checkpoints", "tensorboard", "tracker", "warm_engine"}


def changed_fields(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Top-level keys whose values differ between a saved run config and this one, ``RESUME_FREE`` aside."""
    return sorted(
        k
        for k in set(saved) | set(config)
        if k not in RESUME_FREE and json.dumps(saved.get(k)) != json.dumps(config.get(k))
    )


def autocast(accelerator, bf16: bool):
    """bf16 autocast (fp32 master weights) when asked; a no-op context otherwise."""
    return torch.autocast(device_type=accelerator.device.type, dtype=torch.bfloat16, enabled=bf16)


def local_microbatches(
    groups: Sequence[PromptGroup],
    *,
    accelerator,
    tokens_per_microbatch: int,
    share_prompt: bool = True,
    packing: bool = True,
    pad_id: int = 0,
) -> list[tuple[list[int], TokenBatch | None]]:
    """This process's micro-batches of a step: ``(indices into groups, batch)``; ``batch`` is ``None`` for
    an empty one. Every process gets the same number of micro-batches."""
    sizes = [g.num_tokens(share_prompt) for g in groups]
    mine = distributed.assign(sizes, accelerator.num_processes)[accelerator.process_index]
    local = [groups[i] for i in mine]
    plan = plan_microbatches(local, tokens_per_microbatch, share_prompt=share_prompt, padded=not packing)
    out: list[tuple[list[int], TokenBatch | None]] = []
    for idx in plan:
        chunk = [local[i] for i in idx]
        batch = pack(chunk, share_prompt=share_prompt) if packing else pad(chunk, pad_id=pad_id)
        out.append(([mine[i] for i in idx], batch.to(accelerator.device)))
    count = distributed.max_across(accelerator, len(out))
    out += [([], None)] * (count - len(out))
    return out


def empty_batch(accelerator, pad_id: int) -> TokenBatch:
    return pack([PromptGroup((pad_id,), ((pad_id,),))]).to(accelerator.device)


def accumulate(
    accelerator,
    model,
    microbatches: list[tuple[list[int], TokenBatch | None]],
    loss_fn: Callable[[list[int], TokenBatch], tuple[torch.Tensor, dict[str, float]]],
    *,
    bf16: bool = False,
    pad_id: int = 0,
) -> dict[str, float]:
    """Forward and backward over the micro-batches; gradients are synchronised on the last one only.

    ``loss_fn(indices, batch)`` returns this micro-batch's share of the step loss -- already normalised by
    the step's global count and multiplied by the world size (see :mod:`ponder.train.distributed`) -- and
    named statistics; the statistics are summed over micro-batches (of this process) and returned.
    """
    last = len(microbatches) - 1
    totals: dict[str, float] = {}
    for k, (indices, batch) in enumerate(microbatches):
        # DDP/FSDP: no gradient all-reduce before the last micro-batch (no_sync). DeepSpeed ignores no_sync
        # and instead steps inside backward whenever sync_gradients is set: mark the boundary explicitly.
        accelerator.sync_gradients = k == last
        sync = contextlib.nullcontext() if k == last else accelerator.no_sync(model)
        with sync:
            with autocast(accelerator, bf16):
                if batch is None:
                    loss, stats = logprobs(model, empty_batch(accelerator, pad_id)).tokens.sum() * 0.0, {}
                else:
                    loss, stats = loss_fn(indices, batch)
            accelerator.backward(loss)
        for key, value in stats.items():
            totals[key] = totals[key] + value if key in totals else value
    accelerator.sync_gradients = True
    return totals


def apply_update(accelerator, model, optimizer, max_grad_norm: float | None) -> float:
    """Clip (if asked), step and zero the gradients; returns the gradient norm before clipping."""
    params = [p for p in model.parameters() if p.requires_grad]
    if max_grad_norm:
        # Under DeepSpeed the engine clips (gradient_clipping in its config) and this returns its norm.
        norm = accelerator.clip_grad_norm_(params, max_grad_norm)
    else:
        grads = [p.grad.detach().norm() for p in params if p.grad is not None]
        norm = torch.stack(grads).norm() if grads else None
    optimizer.step()  # a no-op under DeepSpeed, which stepped at the end of backward
    optimizer.zero_grad(set_to_none=True)
    return float("nan") if norm is None else float(norm)


class _Silent:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass


def step_bar(accelerator, *, total: int, initial: int, desc: str):
    """A progress bar with ETA over optimizer steps, on the main process only."""
    if not accelerator.is_main_process:
        return _Silent()
    return progress(total=total, initial=initial, desc=desc, unit="step")


def finished_summary(out: str | Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The summary of a run in ``out`` that already finished with this config, if any."""
    path = Path(out) / "summary.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text(encoding="utf-8"))
    saved = summary.get("config", {})
    same = all(
        json.dumps(saved.get(k)) == json.dumps(config.get(k))
        for k in set(saved) | set(config)
        if k not in RESUME_FREE
    )
    return summary if same else None


def trainer_state(schedule, done: int, config: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint records besides weights, optimizer and RNG: the data position and the config.

    ``schedule`` is the run's :class:`~ponder.train.data.StepSchedule`; the data order of every epoch is a
    function of the seed, so the step number fixes the position.
    """
    epoch, offset = divmod(done, schedule.steps_per_epoch)
    return {
        "step": done,
        "epoch": epoch,
        "steps_into_epoch": offset,
        "total_steps": schedule.total_steps,
        "config": config,
    }


def to_yaml(config: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(config, sort_keys=False)


class StepTimer:
    """Wall time of one step."""

    def __enter__(self) -> StepTimer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def prepare_output(out: str | Path, *, resume: bool, config: dict[str, Any]) -> Path | None:
    """Check the output folder; return the checkpoint to resume from (``None``: start fresh).

    A folder that already holds a run is refused unless ``resume`` is set; a checkpoint written with a
    different config (other than the fields in ``RESUME_FREE``) is refused, since it would not continue
    the same run.
    """
    out = Path(out)
    ckpt = latest_checkpoint(out)
    if not resume:
        if ckpt is not None or (out / "metrics.jsonl").exists():
            raise PonderError(
                f"{out} already holds a training run; pass --resume (resume=true) to continue it, "
                "or choose another output folder"
            )
        return None
    if ckpt is None:
        return None
    saved = read_trainer_state(ckpt).get("config", {})
    changed = changed_fields(saved, config)
    if changed:
        raise PonderError(
            f"cannot resume {ckpt}: the config differs in {', '.join(changed)} "
            "(resuming continues the same run; start a new output folder to change them)"
        )
    return ckpt

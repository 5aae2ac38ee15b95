"""AdamW and learning-rate schedules.

The schedule is a pure function of the step, so resuming needs only the step number. The shapes are the
ones of transformers' ``get_linear_schedule_with_warmup`` / ``get_cosine_schedule_with_warmup`` (the lr of
optimizer step ``s``, counted from 0, is ``base * f(s)``; warmup rises linearly from 0), so runs compare
step for step with TRL; ``min_lr_ratio`` lifts the floor of the decay.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine", "constant")


def build_optimizer(
    model: torch.nn.Module,
    *,
    lr: float,
    weight_decay: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = all(p.device.type in ("cpu", "cuda") for p in decay + no_decay)
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, fused=fused)


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    return math.ceil(total_steps * warmup_ratio)


def lr_at(
    step: int,
    *,
    base_lr: float,
    total_steps: int,
    warmup: int,
    schedule: str = "cosine",
    min_lr_ratio: float = 0.0,
) -> float:
    """Learning rate of optimizer step ``step`` (0-based)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if step < warmup:
        return base_lr * step / max(1, warmup)
    if schedule == "constant":
        return base_lr
    progress = (step - warmup) / max(1, total_steps - warmup)
    if schedule == "linear":
        factor = max(0.0, 1.0 - progress)
    else:
        factor = max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
    return base_lr * (min_lr_ratio + (1.0 - min_lr_ratio) * factor)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr

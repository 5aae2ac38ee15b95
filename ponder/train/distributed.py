"""Multi-process helpers on top of accelerate (DDP, FSDP, DeepSpeed; gloo on CPU under torchrun).

Every process holds all the data and computes the same plan; :func:`assign` then gives each process its
share of a step. Losses are normalised by *global* counts (pairs or tokens of the whole step), and since
data-parallel wrappers average gradients over processes, each process multiplies its loss by the world
size: the update equals the one-process update on the same global batch.
"""

from __future__ import annotations

import torch


def make_accelerator():
    """An ``Accelerator`` for the current launch (plain, torchrun, or ``accelerate launch``).

    On a machine without GPUs it is created with ``cpu=True``: that is what makes accelerate start a gloo
    process group under ``torchrun`` instead of silently running each process alone.
    """
    from accelerate import Accelerator

    return Accelerator(cpu=not torch.cuda.is_available())


def assign(sizes: list[int], world: int) -> list[list[int]]:
    """Split item indices over ``world`` processes, balancing the summed sizes (largest first)."""
    shares: list[list[int]] = [[] for _ in range(world)]
    loads = [0] * world
    for i in sorted(range(len(sizes)), key=lambda i: (-sizes[i], i)):
        r = min(range(world), key=lambda r: (loads[r], r))
        shares[r].append(i)
        loads[r] += sizes[i]
    return [sorted(s) for s in shares]


def sum_across(accelerator, values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over processes (float64)."""
    t = torch.tensor(values, dtype=torch.float64, device=accelerator.device)
    if accelerator.num_processes > 1:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return t.tolist()


def max_across(accelerator, value: int) -> int:
    t = torch.tensor([value], dtype=torch.long, device=accelerator.device)
    if accelerator.num_processes > 1:
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return int(t.item())


def gather_objects(accelerator, obj):
    """Every process's ``obj``, in rank order."""
    if accelerator.num_processes == 1:
        return [obj]
    out = [None] * accelerator.num_processes
    torch.distributed.all_gather_object(out, obj)
    return out

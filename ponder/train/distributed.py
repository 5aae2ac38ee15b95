"""Multi-process helpers on top of accelerate (DDP, FSDP, DeepSpeed; gloo on CPU under torchrun).

Every process holds all the data and computes the same plan; :func:`assign` then gives each process its
share of a step. Losses are normalised by *global* counts (pairs or tokens of the whole step), and since
data-parallel wrappers average gradients over processes, each process multiplies its loss by the world
size: the update equals the one-process update on the same global batch.
"""

from __future__ import annotations

import os

import torch

from ponder.errors import PonderError


def make_accelerator():
    """An ``Accelerator`` for the current launch (plain, torchrun, or ``accelerate launch``).

    On a machine without GPUs it is created with ``cpu=True``: that is what makes accelerate start a gloo
    process group under ``torchrun`` instead of silently running each process alone. accelerate then
    ignores an FSDP launch config (``accelerate launch --config_file fsdp.yaml`` still starts the processes
    and sets the FSDP variables): FSDP2 runs on CPU with gloo, so it is switched back on, and an FSDP config
    runs on a CPU machine exactly as on GPUs, from loading through sharding to the gathered save.
    """
    from accelerate import Accelerator

    cpu = not torch.cuda.is_available()
    if cpu and os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        # accelerate would run it as plain data parallel (or stop on a missing package) without saying so
        raise PonderError(
            "a DeepSpeed launch config needs GPUs; on CPU launch with fsdp.yaml (FSDP2) or torchrun (DDP)"
        )
    acc = Accelerator(cpu=cpu)
    if cpu and acc.num_processes > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        _fsdp_on_cpu(acc)
    return acc


def _fsdp_on_cpu(acc) -> None:
    """Turn a multi-CPU accelerator into the FSDP one the launch config asked for (FSDP2 only)."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()  # read from the launcher's environment, as accelerate does
    if plugin.fsdp_version != 2:
        raise PonderError("on CPU, FSDP runs as FSDP2 only: set fsdp_version: 2 in the accelerate config")
    if acc.state.mixed_precision != "no":
        plugin.set_mixed_precision(acc.state.mixed_precision)
    acc.state.fsdp_plugin = plugin
    acc.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def prepare_reference(acc, model: torch.nn.Module) -> torch.nn.Module:
    """A frozen model (DPO or KL reference) placed and sharded like the policy.

    - FSDP2: sharded by accelerate's own ``fsdp2_prepare_model``, as the policy is: the same wrapping and
      mixed precision, and with ``cpu_ram_efficient_loading`` -- where only rank 0 loaded real weights and
      the other ranks hold placeholders -- rank 0's weights are broadcast into every shard.
    - DeepSpeed ZeRO-3: a DeepSpeed inference engine with the policy's ZeRO-3 settings (parameters
      sharded); ZeRO-1/2 keep whole parameters on every rank, so the reference is simply moved.
    - Otherwise (one process, DDP): moved to the device; a model without gradients needs no DDP wrapper.

    Under FSDP and ZeRO-3 every process must then run every reference forward (empty micro-batches
    included), as for the policy.
    """
    from accelerate.utils import DistributedType

    if acc.distributed_type == DistributedType.FSDP:
        if not acc.is_fsdp2:
            raise PonderError(
                "a live reference model under FSDP needs fsdp_version: 2 (or set precompute_ref=true)"
            )
        from accelerate.utils.fsdp_utils import fsdp2_prepare_model

        model = fsdp2_prepare_model(acc, model)
        model.requires_grad_(False)
        return model.eval()
    if acc.distributed_type == DistributedType.DEEPSPEED:
        return _deepspeed_reference(acc, model)
    return model.to(acc.device).eval()


def reference_deepspeed_config(ds: dict) -> dict | None:
    """The DeepSpeed config of a frozen reference from the policy's (accelerate's ``deepspeed_config``):
    ZeRO-3 parameter sharding and the 16-bit setting kept; no optimizer, no "auto" entries (those are
    resolved for the trainer only). ``None`` below stage 3, where parameters are not sharded."""
    zero = dict(ds.get("zero_optimization", {}))
    if zero.get("stage") != 3:
        return None
    config = {
        "zero_optimization": {
            k: v for k, v in zero.items() if v != "auto" and not k.startswith("offload_optimizer")
        },
        "train_micro_batch_size_per_gpu": 1,
        "gradient_accumulation_steps": 1,
    }
    for key in ("bf16", "fp16"):
        if ds.get(key, {}).get("enabled") is True:
            config[key] = {"enabled": True}
    return config


def _deepspeed_reference(acc, model: torch.nn.Module) -> torch.nn.Module:
    config = reference_deepspeed_config(acc.state.deepspeed_plugin.deepspeed_config)
    if config is None:
        return model.to(acc.device).eval()
    import deepspeed

    engine, *_ = deepspeed.initialize(model=model, config=config)
    engine.eval()
    return engine


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

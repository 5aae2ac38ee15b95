"""The miniatures: each demo makes its data, runs recipes from their configs, and writes its report
(``ponder demo NAME`` writes ``OUT/report.json``). They wire no pipeline of their own beyond that."""

from __future__ import annotations

from typing import TypeVar

from ponder.errors import PonderError

S = TypeVar("S")


def size_of(sizes: dict[str, S], size: str) -> S:
    """The named size of a demo; an unknown name is a one-line error listing the known ones."""
    if size not in sizes:
        raise PonderError(f"--size: unknown size {size!r}; choose one of {', '.join(sizes)}")
    return sizes[size]


def tiny_sft(base, data, out, *, seed: int, lr: float, examples_per_step: int, **more) -> dict:
    """SFT of a demo's fresh tiny model (the SFT recipe): linear warmup over 5% of the steps, no TensorBoard,
    resumable; ``more`` sets the length (``epochs`` or ``max_steps``) and anything else. Returns its summary."""
    from ponder.recipes import sft

    cfg = sft.SFTConfig(
        model=str(base),
        data=[str(data)],
        output=str(out),
        lr=lr,
        examples_per_step=examples_per_step,
        warmup_ratio=0.05,
        seed=seed,
        tensorboard=False,
        resume=True,
        **more,
    )
    return sft.run(cfg)


def sft_on_chosen(train, policy, pairs, out, *, steps: int, seed: int) -> dict:
    """SFT from ``policy`` on the chosen sides of the pair file ``pairs`` for ``steps`` steps: as many
    examples per step as ``train`` (a DPO section) has pairs per step, with its lr, schedule and weight decay
    -- what the SFT term of that DPO run would do alone. Returns the SFT summary."""
    from ponder.recipes import sft

    return sft.run(
        sft.SFTConfig(
            model=str(policy),
            data=[str(pairs)],
            output=str(out),
            lr=train.lr,
            lr_schedule=train.lr_schedule,
            warmup_ratio=train.warmup_ratio,
            weight_decay=train.weight_decay,
            max_steps=steps,
            examples_per_step=train.pairs_per_step,
            seed=seed,
            tensorboard=False,
            resume=True,
        )
    )

"""The settings every trainer shares: optimizer, schedule, batching, lengths, checkpoints and logging.

:class:`TrainSettings` is the one declaration of these knobs; the SFT and DPO settings extend it with their
objective's own (``ponder.recipes.sft.SFTSettings``, ``ponder.recipes.dpo.DPOSettings``), so ``lr`` or
``save_every`` means the same everywhere. Torch-free: configs and the command line read it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from ponder.config import option

SaveDtype = Literal["float32", "bfloat16"]

# Logit values (scored tokens x vocabulary) the LM head computes at once: 2**25 fp32 values are 128 MiB,
# about 220 tokens of a 151,936-token vocabulary per chunk. Large enough for full-speed matrix products.
LOGITS_PER_CHUNK = 2**25


# Fields every trainer declares the same way, RL included (whose config does not extend TrainSettings).
def gradient_checkpointing() -> Any:
    return option(False, help="Recompute activations in backward to save memory.")


def logits_per_chunk() -> Any:
    return option(
        LOGITS_PER_CHUNK,
        help="Logit values (scored tokens x vocabulary) the LM head computes at once when scoring: bounds "
        "log-prob memory at large vocabularies; 0: the whole [tokens, vocabulary] logits at once.",
    )


def save_dtype() -> Any:
    return option(
        "float32",
        help="dtype of the saved model weights (final model and checkpoints); bfloat16 halves them "
        "(a 7B model: 15 GB, not 30); resuming then continues from the rounded weights.",
    )


TrackerName = Literal["none", "wandb", "trackio"]  # experiment trackers (ponder.train.trackers)


def tracker_option():
    """The ``tracker`` field of every trainer's settings (SFT and DPO through TrainSettings, RL's config)."""
    return option(
        "none",
        help="Experiment tracker beside TensorBoard: none, wandb (W&B; WANDB_MODE=offline keeps it in "
        "OUTPUT/wandb) or trackio; needs its package.",
    )


def check_tracker_name(name: str) -> None:
    if name not in get_args(TrackerName):
        raise ValueError(f"tracker: expected one of {', '.join(get_args(TrackerName))}, got {name!r}")


@dataclass(frozen=True)
class TrainSettings:
    """How a trainer steps: AdamW and its schedule, batches of packed tokens, checkpoints, logging."""

    lr: float = option(1e-5, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["cosine", "linear", "constant"] = option("cosine", help="Decay after warmup.")
    warmup_ratio: float = option(0.03, help="Share of the optimizer steps spent warming up linearly from 0.")
    min_lr_ratio: float = option(0.0, help="Floor of the decay, as a share of lr.")
    weight_decay: float = option(0.0, help="AdamW weight decay (not applied to biases and norm weights).")
    adam_betas: list[float] = option([0.9, 0.999], help="AdamW betas.")
    adam_eps: float = option(1e-8, help="AdamW epsilon.")
    max_grad_norm: float | None = option(1.0, help="Clip the gradient norm to this; null: no clipping.")
    epochs: int = option(1, help="Passes over the data mixture (ignored when max_steps is set).")
    max_steps: int | None = option(None, help="Optimizer steps to run; overrides epochs.")
    tokens_per_microbatch: int = option(
        4096,
        help="Token budget of one forward pass per process (packed tokens; a longer example or pair gets a "
        "micro-batch of its own).",
    )
    max_length: int | None = option(None, help="Longest prompt + response in tokens; null: no limit.")
    overlong: Literal["truncate_prompt", "skip", "error"] = option(
        "truncate_prompt",
        help="Over max_length: cut the prompt from the left (never the response), skip the example or "
        "pair, or stop with an error naming it.",
    )
    chat_template: bool = option(
        True,
        help="Render with the tokenizer's chat template (text prompts become one user message); false: raw "
        "text, EOS appended to responses.",
    )
    packing: bool = option(
        True, help="Pack examples or pairs without padding; false: right-padded batches (slow path)."
    )
    shuffle: bool = option(True, help="Shuffle the data each epoch (seeded); false keeps file order.")
    seed: int = option(0, help="Seed for data order, mixture sampling and any randomness in training.")
    bf16: bool = option(False, help="bf16 autocast with fp32 master weights.")
    gradient_checkpointing: bool = gradient_checkpointing()
    logits_per_chunk: int = logits_per_chunk()
    save_dtype: SaveDtype = save_dtype()
    save_every: int = option(0, help="Write a resumable checkpoint every N steps; 0: only the final model.")
    keep_checkpoints: int | None = option(2, help="Keep the N newest checkpoints; null: keep all.")
    tensorboard: bool = option(True, help="Write TensorBoard logs to OUTPUT/tensorboard.")
    tracker: TrackerName = tracker_option()

    def __post_init__(self) -> None:
        for name in ("lr", "tokens_per_microbatch"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.warmup_ratio <= 1:
            raise ValueError("warmup_ratio must be in [0, 1]")
        if self.epochs < 1 or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError("epochs and max_steps must be at least 1")
        if self.save_every < 0 or (self.keep_checkpoints is not None and self.keep_checkpoints < 1):
            raise ValueError("save_every must be >= 0 and keep_checkpoints >= 1")
        if self.max_length is not None and self.max_length < 2:
            raise ValueError("max_length must be at least 2")
        if len(self.adam_betas) != 2:
            raise ValueError("adam_betas needs two numbers")
        check_tracker_name(self.tracker)


@dataclass(frozen=True, kw_only=True)
class TrainRun:
    """What one training run adds to a trainer's settings: the model it starts from, its data, its folder."""

    model: str = option(help="Model (policy) to start from: a local folder or a hub name.")
    data: list[str] = option(
        repeat=True,
        help="Data files, each PATH or PATH:RATIO (share of the file per epoch; e.g. new.jsonl:1.0,old.jsonl:0.5). "
        "SFT: {prompt, completion}, {messages}, ponder samples or pairs (chosen); DPO: pairs in TRL's "
        "preference format. JSONL or Parquet.",
    )
    output: str = option(
        short="-o", help="Run folder: metrics.jsonl, tensorboard/, checkpoints/, model/, summary.json."
    )
    resume: bool = option(False, help="Continue the run in `output` from its latest checkpoint.")

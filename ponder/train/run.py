"""One training run's frame, shared by the SFT and DPO loops: set-up, a step's rate and statistics,
checkpoints, the final model and the summary. The loop itself -- what a step computes -- stays in each
recipe, so it reads top to bottom; the objective comes from :mod:`ponder.losses` through the recipe.

Order of set-up (kept fixed: it fixes the random state a run starts from): the accelerator; a finished run
with the same config is returned as it is; the output folder is checked (and the checkpoint to resume from
found); the seed; the tokenizer and encoder; the data and its step schedule; then the model, optimizer and
the checkpoint's state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ponder.config import config_to_dict
from ponder.io import write_json, write_text
from ponder.train import checkpoint, distributed, optim, steps
from ponder.train.data import StepSchedule
from ponder.train.encode import Encoder
from ponder.train.metrics import MetricsLogger
from ponder.train.model import load_model, load_tokenizer, quiet_transformers
from ponder.train.packing import PromptGroup
from ponder.train.settings import TrainSettings
from ponder.train.trackers import check_tracker


@dataclass
class Run:
    """The state of one training run: where it writes, what it resumes from, its data schedule, its model."""

    cfg: Any  # the trainer's config: TrainSettings plus model, data, output, resume
    acc: Any
    out: Path
    config: dict[str, Any]
    ckpt: Path | None
    tokenizer: Any = None
    encoder: Encoder | None = None
    schedule: StepSchedule | None = None
    warmup: int = 0
    model: Any = None
    optimizer: Any = None
    start: int = 0
    logger: MetricsLogger | None = None
    started: float = field(default_factory=time.perf_counter)
    final: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.schedule.total_steps

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id


def begin(cfg: Any) -> tuple[Run | None, dict[str, Any] | None]:
    """``(run, None)`` with the output folder checked and the tokenizer and encoder loaded, or ``(None,
    summary)`` when this config's run already finished in ``cfg.output`` (nothing left to do)."""
    quiet_transformers()
    check_tracker(cfg.tracker)  # a missing tracker package stops the run before anything loads
    acc = distributed.make_accelerator()
    out = Path(cfg.output)
    config = config_to_dict(cfg)
    if cfg.resume and (done := steps.finished_summary(out, config)) is not None:
        return None, done
    ckpt = steps.prepare_output(out, resume=cfg.resume, config=config)
    torch.manual_seed(cfg.seed)
    run = Run(cfg, acc, out, config, ckpt)
    run.tokenizer = load_tokenizer(cfg.model)
    run.encoder = Encoder(
        run.tokenizer, chat_template=cfg.chat_template, max_length=cfg.max_length, overlong=cfg.overlong
    )
    return run, None


def schedule(run: Run, sizes: Sequence[int], ratios: Sequence[float], per_step: int) -> None:
    """The run's step schedule over data files of ``sizes`` mixed at ``ratios``, ``per_step`` items a step."""
    cfg: TrainSettings = run.cfg
    run.schedule = StepSchedule(
        list(sizes),
        list(ratios),
        per_step=per_step,
        seed=cfg.seed,
        shuffle=cfg.shuffle,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
    )
    run.warmup = optim.warmup_steps(run.total, cfg.warmup_ratio)


def trainable(run: Run) -> None:
    """Load the model to train (from the checkpoint when resuming), its optimizer and the step reached; write
    ``config.yaml`` and open the metrics log."""
    cfg, acc = run.cfg, run.acc
    model = load_model(
        run.ckpt / "model" if run.ckpt else cfg.model,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logits_per_chunk=cfg.logits_per_chunk,
    )
    optimizer = optim.build_optimizer(
        model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.adam_betas), eps=cfg.adam_eps
    )
    run.model, run.optimizer = acc.prepare(model, optimizer)
    run.start = checkpoint.load_checkpoint_state(acc, run.ckpt)["step"] if run.ckpt else 0
    if acc.is_main_process:
        write_text(run.out / "config.yaml", steps.to_yaml(run.config))
    run.logger = MetricsLogger(
        run.out,
        enabled=acc.is_main_process,
        resume_step=run.start if run.ckpt else None,
        tensorboard=cfg.tensorboard,
        tracker=cfg.tracker,
        config=run.config,
    )
    run.started = time.perf_counter()


@dataclass
class Step:
    """One optimizer step of a loop: its index (0-based), learning rate, and the record the body fills in."""

    index: int
    lr: float
    record: dict = field(default_factory=dict)


def loop(run: Run, desc: str):
    """The steps still to run: each comes with its learning rate set; after the body has filled
    ``step.record`` (with ``loss``, ``tokens`` and ``grad_norm``), the step's throughput is added, the record is
    logged, the bar moves and a checkpoint is written when due. ``run.final`` is the last record."""
    bar = steps.step_bar(run.acc, total=run.total, initial=run.start, desc=desc)
    for index in range(run.start, run.total):
        t0 = time.perf_counter()
        step = Step(index, step_lr(run, index))
        yield step
        seconds = time.perf_counter() - t0
        body = {k: v for k, v in step.record.items() if k != "grad_norm"}
        record = {"step": index + 1, "epoch": run.schedule.epoch_of(index), **body}
        record.update(tokens_per_s=record["tokens"] / seconds, lr=step.lr, grad_norm=step.record["grad_norm"])
        run.logger.log(record)
        run.final = record
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        maybe_checkpoint(run, index + 1)
    bar.close()


def microbatches(run: Run, groups: Sequence[PromptGroup], *, share_prompt: bool = True):
    """This process's micro-batches of a step (:func:`ponder.train.steps.local_microbatches`)."""
    return steps.local_microbatches(
        groups,
        accelerator=run.acc,
        tokens_per_microbatch=run.cfg.tokens_per_microbatch,
        share_prompt=share_prompt,
        packing=run.cfg.packing,
        pad_id=run.pad_id,
    )


def update(run: Run, micro, loss_fn, keys: Sequence[str]) -> tuple[dict[str, float], float]:
    """Forward and backward over the micro-batches, clip and step: ``(statistics summed over micro-batches
    and processes, gradient norm before clipping)``."""
    sums = steps.accumulate(run.acc, run.model, micro, loss_fn, bf16=run.cfg.bf16, pad_id=run.pad_id)
    grad_norm = steps.apply_update(run.acc, run.model, run.optimizer, run.cfg.max_grad_norm)
    return step_stats(run, sums, keys), grad_norm


def step_lr(run: Run, step: int) -> float:
    """Set and return the learning rate of ``step`` (0-based)."""
    cfg: TrainSettings = run.cfg
    lr = optim.lr_at(
        step,
        base_lr=cfg.lr,
        total_steps=run.total,
        warmup=run.warmup,
        schedule=cfg.lr_schedule,
        min_lr_ratio=cfg.min_lr_ratio,
    )
    optim.set_lr(run.optimizer, lr)
    return lr


def step_stats(run: Run, sums: dict[str, float], keys: Sequence[str]) -> dict[str, float]:
    """A step's statistics summed over micro-batches and processes (a process with none adds zeros)."""
    total = distributed.sum_across(run.acc, [sums.get(k, 0.0) for k in keys])
    return dict(zip(keys, total, strict=True))


def maybe_checkpoint(run: Run, done: int) -> None:
    """Write a resumable checkpoint after ``done`` steps when ``save_every`` asks (not after the last one)."""
    cfg: TrainSettings = run.cfg
    if cfg.save_every and done % cfg.save_every == 0 and done < run.total:
        checkpoint.save_checkpoint(
            run.acc,
            run.model,
            run.tokenizer,
            run.out,
            done,
            steps.trainer_state(run.schedule, done, run.config),
            keep=cfg.keep_checkpoints,
            dtype=cfg.save_dtype,
        )


def finish(run: Run, recipe: str, **more: Any) -> dict[str, Any]:
    """Save the final model, close the log and write ``summary.json`` (the last step's record is ``final``);
    return the summary."""
    elapsed = time.perf_counter() - run.started
    checkpoint.save_model(run.acc, run.model, run.tokenizer, run.out / "model", run.cfg.save_dtype)
    run.logger.close()
    summary = {
        "recipe": recipe,
        "config": run.config,
        "steps": run.total,
        "resumed_from": run.start if run.ckpt else None,
        "final": run.final,
        "model": str(run.out / "model"),
        "metrics": str(run.out / "metrics.jsonl"),
        "seconds": elapsed,
        **more,
        "skipped_overlong": run.encoder.skipped,
        "truncated_prompts": run.encoder.truncated,
    }
    if run.acc.is_main_process:
        write_json(run.out / "summary.json", summary)
    run.acc.wait_for_everyone()
    return summary

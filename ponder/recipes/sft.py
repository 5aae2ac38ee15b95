"""Supervised fine-tuning: config, setup, loop, checkpoint, report.

``run(SFTConfig(...))`` trains on prompt-completion, conversational, ponder-sample or pair files (see
:mod:`ponder.train.data`) with the token-mean NLL of the response tokens (:mod:`ponder.losses.sft`), packed
without padding; ``ponder train sft`` is the same from the command line.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from ponder.config import config_to_dict, option
from ponder.errors import PonderError
from ponder.io import write_json, write_text
from ponder.losses.sft import sft_loss
from ponder.records import Pair, Sample
from ponder.train import checkpoint, distributed, optim, settings, steps
from ponder.train.data import Conversation, PromptCompletion, StepSchedule, parse_sources, read_sft_records
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.metrics import MetricsLogger
from ponder.train.model import load_model, load_tokenizer, quiet_transformers
from ponder.train.packing import PromptGroup, TokenBatch


@dataclass(frozen=True)
class SFTConfig:
    model: str = option(help="Model to start from: a local folder or a hub name.")
    data: list[str] = option(
        help="Training files, each PATH or PATH:RATIO (share of the file per epoch). "
        "Records: {prompt, completion}, {messages}, ponder samples or pairs (chosen)."
    )
    output: str = option(help="Run folder: metrics.jsonl, tensorboard/, checkpoints/, model/, summary.json.")
    sample_filter: Literal["all", "correct"] = option(
        "all", help="For ponder sample files: train on every response, or only on those graded correct."
    )
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
    examples_per_step: int = option(
        32, help="Examples (prompt + response) per optimizer step, over all processes."
    )
    tokens_per_microbatch: int = option(
        4096,
        help="Token budget of one forward pass per process (packed tokens; "
        "a longer example gets a micro-batch of its own).",
    )
    max_length: int | None = option(None, help="Longest prompt + response in tokens; null: no limit.")
    overlong: Literal["truncate_prompt", "skip", "error"] = option(
        "truncate_prompt",
        help="Over max_length: cut the prompt from the left (never the response), skip the "
        "example, or stop with an error naming it.",
    )
    chat_template: bool = option(
        True,
        help="Render with the tokenizer's chat template (text prompts become one "
        "user message); false: raw text, EOS appended to responses.",
    )
    packing: bool = option(
        True, help="Pack examples without padding; false: right-padded batches (slow path)."
    )
    shuffle: bool = option(True, help="Shuffle the examples each epoch (seeded); false keeps file order.")
    seed: int = option(0, help="Seed for data order, mixture sampling and any randomness in training.")
    bf16: bool = option(False, help="bf16 autocast with fp32 master weights.")
    gradient_checkpointing: bool = settings.gradient_checkpointing()
    logits_per_chunk: int = settings.logits_per_chunk()
    save_dtype: settings.SaveDtype = settings.save_dtype()
    save_every: int = option(0, help="Write a resumable checkpoint every N steps; 0: only the final model.")
    keep_checkpoints: int | None = option(2, help="Keep the N newest checkpoints; null: keep all.")
    resume: bool = option(False, help="Continue the run in `output` from its latest checkpoint.")
    tensorboard: bool = option(True, help="Write TensorBoard logs to OUTPUT/tensorboard.")

    def __post_init__(self) -> None:
        for name in ("lr", "examples_per_step", "tokens_per_microbatch"):
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


def run(cfg: SFTConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    # ------------------------------------------------------------------ setup
    quiet_transformers()
    acc = distributed.make_accelerator()
    out = Path(cfg.output)
    config = config_to_dict(cfg)
    if cfg.resume and (done := steps.finished_summary(out, config)) is not None:
        return done  # this run already finished: nothing left to do
    ckpt = steps.prepare_output(out, resume=cfg.resume, config=config)
    torch.manual_seed(cfg.seed)
    tokenizer = load_tokenizer(cfg.model)
    encoder = Encoder(
        tokenizer, chat_template=cfg.chat_template, max_length=cfg.max_length, overlong=cfg.overlong
    )
    sources = parse_sources(cfg.data)
    files = [encode_sft_file(src.path, encoder, cfg.sample_filter) for src in sources]
    schedule = StepSchedule(
        [len(f) for f in files],
        [s.ratio for s in sources],
        per_step=cfg.examples_per_step,
        seed=cfg.seed,
        shuffle=cfg.shuffle,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
    )
    total = schedule.total_steps
    warmup = optim.warmup_steps(total, cfg.warmup_ratio)
    model = load_model(
        ckpt / "model" if ckpt else cfg.model,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logits_per_chunk=cfg.logits_per_chunk,
    )
    optimizer = optim.build_optimizer(
        model, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.adam_betas), eps=cfg.adam_eps
    )
    model, optimizer = acc.prepare(model, optimizer)
    start = checkpoint.load_checkpoint_state(acc, ckpt)["step"] if ckpt else 0
    if acc.is_main_process:
        write_text(out / "config.yaml", steps.to_yaml(config))
    logger = MetricsLogger(
        out, enabled=acc.is_main_process, resume_step=start if ckpt else None, tensorboard=cfg.tensorboard
    )
    pad_id = tokenizer.pad_token_id

    # ------------------------------------------------------------------ loop
    bar = steps.step_bar(acc, total=total, initial=start, desc="sft")
    record: dict = {}
    t0 = time.perf_counter()
    tokens_seen = 0
    for step in range(start, total):
        with steps.StepTimer() as timer:
            lr = optim.lr_at(
                step,
                base_lr=cfg.lr,
                total_steps=total,
                warmup=warmup,
                schedule=cfg.lr_schedule,
                min_lr_ratio=cfg.min_lr_ratio,
            )
            optim.set_lr(optimizer, lr)
            groups = [files[f][i] for f, i in schedule.items(step)]
            # token-mean over the whole step: every micro-batch divides by the step's response-token count
            scored = sum(g.scored(0) for g in groups)
            micro = steps.local_microbatches(
                groups,
                accelerator=acc,
                tokens_per_microbatch=cfg.tokens_per_microbatch,
                packing=cfg.packing,
                pad_id=pad_id,
            )
            loss_fn = functools.partial(_microbatch_loss, model, scored, acc.num_processes)
            sums = steps.accumulate(acc, model, micro, loss_fn, bf16=cfg.bf16, pad_id=pad_id)
            grad_norm = steps.apply_update(acc, model, optimizer, cfg.max_grad_norm)
            total_sums = distributed.sum_across(acc, sums or [0.0] * 3)
        tokens_seen += int(total_sums[2])
        record = {
            "step": step + 1,
            "epoch": schedule.epoch_of(step),
            "loss": total_sums[0] / scored,
            "examples": int(total_sums[1]),
            "response_tokens": scored,
            "tokens": int(total_sums[2]),
            "tokens_per_s": total_sums[2] / timer.seconds,
            "lr": lr,
            "grad_norm": grad_norm,
        }
        logger.log(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total:
            checkpoint.save_checkpoint(
                acc,
                model,
                tokenizer,
                out,
                step + 1,
                steps.trainer_state(schedule, step + 1, config),
                keep=cfg.keep_checkpoints,
                dtype=cfg.save_dtype,
            )
    bar.close()

    # ------------------------------------------------------------------ final model and report
    elapsed = time.perf_counter() - t0
    checkpoint.save_model(acc, model, tokenizer, out / "model", cfg.save_dtype)
    logger.close()
    summary = {
        "recipe": "sft",
        "config": config,
        "steps": total,
        "resumed_from": start if ckpt else None,
        "final": record,
        "model": str(out / "model"),
        "metrics": str(out / "metrics.jsonl"),
        "tokens": tokens_seen,
        "seconds": elapsed,
        "examples": [len(f) for f in files],
        "skipped_overlong": encoder.skipped,
        "truncated_prompts": encoder.truncated,
    }
    if acc.is_main_process:
        write_json(out / "summary.json", summary)
    acc.wait_for_everyone()
    return summary


def _microbatch_loss(
    model, scored: int, scale: float, indices: list[int], batch: TokenBatch
) -> tuple[torch.Tensor, list[float]]:
    """Loss share and statistics of one micro-batch; ``scored``: response tokens of the whole step."""
    tokens = logprobs(model, batch).tokens
    return sft_loss(tokens, num_tokens=scored) * scale, [
        -float(tokens.detach().sum()),
        len(indices),
        batch.num_tokens,
    ]


def encode_sft_file(path: str, encoder: Encoder, sample_filter: str = "all") -> list[PromptGroup]:
    """Every training example of an SFT file as a one-response prompt group."""
    groups: list[PromptGroup] = []
    for line, rec in read_sft_records(path):
        where = Where(path, line)
        if isinstance(rec, Conversation):
            found = [encoder.encode_conversation(rec.messages, where)]
        elif isinstance(rec, PromptCompletion):
            found = [encoder.encode(rec.prompt, [rec.completion], where, ["completion"])]
        elif isinstance(rec, Pair):
            prefix = bool((rec.meta or {}).get("prefix", False))
            found = [encoder.encode(rec.prompt, [rec.chosen], where, ["chosen"], prefix=prefix)]
        else:
            found = _sample_examples(rec, encoder, where, sample_filter)
        groups.extend(g for g in found if g is not None)
    if not groups:
        raise PonderError(f"{path}: no example left to train on (filtered out, or all over max_length)")
    return groups


def _sample_examples(
    rec: Sample, encoder: Encoder, where: Where, sample_filter: str
) -> list[PromptGroup | None]:
    if sample_filter == "correct" and rec.correct is None:
        raise where.error("sample_filter=correct needs graded samples (run ponder grade first)", "correct")
    out = []
    for k, response in enumerate(rec.responses):
        if sample_filter == "correct" and not rec.correct[k]:
            continue
        # A response cut at its token budget did not end its turn: train it as a prefix, without end-of-turn.
        prefix = rec.finish_reasons[k] == "length"
        out.append(encoder.encode(rec.prompt, [response], where, [f"responses[{k}]"], prefix=prefix))
    return out

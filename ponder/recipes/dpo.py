"""DPO-family training on preference pairs: config, setup, loop, checkpoint, report.

``run(DPOConfig(...))`` trains a policy on one or more pair files (TRL's preference format) and returns a
summary dict; ``ponder train dpo`` is the same from the command line. The losses are in
:mod:`ponder.losses.dpo`, the mechanics (packing with a shared prompt, log-probs, optimizer, checkpoints)
in :mod:`ponder.train`.
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
from ponder.losses.dpo import preference_loss
from ponder.progress import progress
from ponder.train import checkpoint, distributed, optim, refcache, settings, steps
from ponder.train.data import StepSchedule, parse_sources, read_pair_records
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.metrics import MetricsLogger
from ponder.train.model import load_model, load_tokenizer, quiet_transformers
from ponder.train.packing import PromptGroup, TokenBatch


@dataclass(frozen=True)
class DPOConfig:
    model: str = option(help="Policy to start from: a local folder or a hub name.")
    data: list[str] = option(
        help="Pair files, each PATH or PATH:RATIO (share of the file per epoch, e.g. "
        "new.jsonl:1.0,old.jsonl:0.5). JSONL or Parquet, TRL's preference format."
    )
    output: str = option(help="Run folder: metrics.jsonl, tensorboard/, checkpoints/, model/, summary.json.")
    ref_model: str | None = option(None, help="Reference model; default: the starting policy (`model`).")
    loss_type: Literal["sigmoid", "robust", "ipo", "hinge"] = option(
        "sigmoid", help="sigmoid (DPO; cDPO with label_smoothing > 0), robust (rDPO), ipo, hinge."
    )
    beta: float = option(0.1, help="β: strength of the KL constraint to the reference (τ for IPO).")
    label_smoothing: float = option(
        0.0, help="ε: assumed share of flipped labels (sigmoid: cDPO; robust: rDPO)."
    )
    sft_loss_weight: float = option(
        0.0, help="Weight of the token-mean NLL of the chosen response (RPO, PFPO)."
    )
    length_normalize: bool = option(
        False, help="Use mean instead of summed response log-probs (as TRL's IPO)."
    )
    reference_free: bool = option(False, help="No reference model: reference log-probs count as 0.")
    precompute_ref: bool = option(
        False,
        help="Compute reference log-probs once before training and cache them "
        "next to the data, instead of a live reference model.",
    )
    lr: float = option(1e-6, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["cosine", "linear", "constant"] = option("cosine", help="Decay after warmup.")
    warmup_ratio: float = option(0.1, help="Share of the optimizer steps spent warming up linearly from 0.")
    min_lr_ratio: float = option(0.0, help="Floor of the decay, as a share of lr.")
    weight_decay: float = option(0.0, help="AdamW weight decay (not applied to biases and norm weights).")
    adam_betas: list[float] = option([0.9, 0.999], help="AdamW betas.")
    adam_eps: float = option(1e-8, help="AdamW epsilon.")
    max_grad_norm: float | None = option(1.0, help="Clip the gradient norm to this; null: no clipping.")
    epochs: int = option(1, help="Passes over the data mixture (ignored when max_steps is set).")
    max_steps: int | None = option(None, help="Optimizer steps to run; overrides epochs.")
    pairs_per_step: int = option(32, help="Pairs per optimizer step, over all processes.")
    tokens_per_microbatch: int = option(
        4096,
        help="Token budget of one forward pass per process (packed tokens; "
        "a longer pair gets a micro-batch of its own).",
    )
    max_length: int | None = option(None, help="Longest prompt + response in tokens; null: no limit.")
    overlong: Literal["truncate_prompt", "skip", "error"] = option(
        "truncate_prompt",
        help="Over max_length: cut the prompt from the left (never the response), skip the "
        "pair, or stop with an error naming it.",
    )
    chat_template: bool = option(
        True,
        help="Render with the tokenizer's chat template (text prompts become one "
        "user message); false: raw text, EOS appended to responses.",
    )
    share_prompt: bool = option(True, help="Compute each pair's prompt once for chosen and rejected.")
    packing: bool = option(True, help="Pack pairs without padding; false: right-padded batches (slow path).")
    shuffle: bool = option(True, help="Shuffle the pairs each epoch (seeded); false keeps file order.")
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
        for name in ("beta", "lr", "pairs_per_step", "tokens_per_microbatch"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.label_smoothing < 0.5:
            raise ValueError("label_smoothing must be in [0, 0.5)")
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
        if self.reference_free and (self.precompute_ref or self.ref_model):
            raise ValueError("reference_free cannot be combined with ref_model or precompute_ref")


def run(cfg: DPOConfig) -> dict:
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
    files = [_encode_file(src.path, encoder) for src in sources]
    schedule = StepSchedule(
        [len(f) for f, _ in files],
        [s.ratio for s in sources],
        per_step=cfg.pairs_per_step,
        seed=cfg.seed,
        shuffle=cfg.shuffle,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
    )
    total = schedule.total_steps
    warmup = optim.warmup_steps(total, cfg.warmup_ratio)

    ref_path = cfg.ref_model or cfg.model
    ref_model, ref_table = None, None
    if cfg.precompute_ref:
        ref_table = _precompute_reference(acc, cfg, sources, files, encoder, ref_path)
    policy = load_model(
        ckpt / "model" if ckpt else cfg.model,
        gradient_checkpointing=cfg.gradient_checkpointing,
        logits_per_chunk=cfg.logits_per_chunk,
    )
    optimizer = optim.build_optimizer(
        policy, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.adam_betas), eps=cfg.adam_eps
    )
    policy, optimizer = acc.prepare(policy, optimizer)
    if not (cfg.precompute_ref or cfg.reference_free):
        # sharded like the policy under FSDP / ZeRO-3 (after it: DeepSpeed's settings are resolved by then)
        ref = load_model(ref_path, trainable=False, logits_per_chunk=cfg.logits_per_chunk)
        ref_model = distributed.prepare_reference(acc, ref)
    start = 0
    if ckpt is not None:
        start = checkpoint.load_checkpoint_state(acc, ckpt)["step"]
    if acc.is_main_process:
        write_text(out / "config.yaml", steps.to_yaml(config))
    logger = MetricsLogger(
        out, enabled=acc.is_main_process, resume_step=start if ckpt else None, tensorboard=cfg.tensorboard
    )
    pad_id = tokenizer.pad_token_id

    # ------------------------------------------------------------------ loop
    bar = steps.step_bar(acc, total=total, initial=start, desc="dpo")
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
            items = schedule.items(step)
            groups = [files[f][0][i] for f, i in items]
            refs = None if ref_table is None else torch.tensor([ref_table[f][i] for f, i in items])
            micro = steps.local_microbatches(
                groups,
                accelerator=acc,
                tokens_per_microbatch=cfg.tokens_per_microbatch,
                share_prompt=cfg.share_prompt,
                packing=cfg.packing,
                pad_id=pad_id,
            )
            loss_fn = functools.partial(
                _microbatch_loss, cfg, policy, ref_model, refs, acc.num_processes / len(groups)
            )
            sums = steps.accumulate(acc, policy, micro, loss_fn, bf16=cfg.bf16, pad_id=pad_id)
            grad_norm = steps.apply_update(acc, policy, optimizer, cfg.max_grad_norm)
            total_sums = distributed.sum_across(acc, sums or [0.0] * 7)
        n = total_sums[5]
        tokens_seen += int(total_sums[6])
        record = {
            "step": step + 1,
            "epoch": schedule.epoch_of(step),
            "loss": total_sums[0] / n,
            "rewards_chosen": total_sums[1] / n,
            "rewards_rejected": total_sums[2] / n,
            "margin": total_sums[3] / n,
            "accuracy": total_sums[4] / n,
            "pairs": int(n),
            "tokens": int(total_sums[6]),
            "tokens_per_s": total_sums[6] / timer.seconds,
            "lr": lr,
            "grad_norm": grad_norm,
        }
        logger.log(record)
        bar.update(1)
        bar.set_postfix(loss=f"{record['loss']:.4f}", acc=f"{record['accuracy']:.2f}")
        if cfg.save_every and (step + 1) % cfg.save_every == 0 and step + 1 < total:
            checkpoint.save_checkpoint(
                acc,
                policy,
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
    checkpoint.save_model(acc, policy, tokenizer, out / "model", cfg.save_dtype)
    logger.close()
    summary = {
        "recipe": "dpo",
        "config": config,
        "steps": total,
        "resumed_from": start if ckpt else None,
        "final": record,
        "model": str(out / "model"),
        "metrics": str(out / "metrics.jsonl"),
        "tokens": tokens_seen,
        "seconds": elapsed,
        "pairs": [len(f) for f, _ in files],
        "skipped_overlong": encoder.skipped,
        "truncated_prompts": encoder.truncated,
    }
    if acc.is_main_process:
        write_json(out / "summary.json", summary)
    acc.wait_for_everyone()
    return summary


def _encode_file(path: str, encoder: Encoder) -> tuple[list[PromptGroup], list[int]]:
    """Encoded pairs of a file and, for each, its record number in the file (skipped pairs left out)."""
    groups: list[PromptGroup] = []
    index: list[int] = []
    for k, (line, pair) in enumerate(read_pair_records(path)):
        group = encoder.encode_pair(pair, Where(path, line))
        if group is not None:
            groups.append(group)
            index.append(k)
    if not groups:
        raise PonderError(f"{path}: no pair left to train on (all over max_length?)")
    return groups, index


def _microbatch_loss(
    cfg: DPOConfig,
    policy,
    ref_model,
    refs: torch.Tensor | None,
    scale: float,
    indices: list[int],
    batch: TokenBatch,
) -> tuple[torch.Tensor, list[float]]:
    """Loss share and statistics of one micro-batch (``refs``: precomputed reference log-probs of the step)."""
    out = _pair_losses(cfg, policy, ref_model, batch, None if refs is None else refs[indices])
    stats = [
        out.losses.detach().sum(),
        out.rewards_chosen.sum(),
        out.rewards_rejected.sum(),
        out.margins.sum(),
        out.accuracies.sum(),
    ]
    return out.losses.sum() * scale, [float(x) for x in stats] + [len(indices), batch.num_tokens]


def _pair_losses(cfg: DPOConfig, policy, ref_model, batch: TokenBatch, refs: torch.Tensor | None):
    """Per-pair losses of one micro-batch; sequences alternate chosen, rejected."""
    lp = logprobs(policy, batch).sequences
    if cfg.reference_free:
        ref_c = ref_r = None
    elif refs is not None:
        ref_c, ref_r = refs[:, 0].to(lp), refs[:, 1].to(lp)
    else:
        with torch.no_grad():
            ref = logprobs(ref_model, batch).sequences
        ref_c, ref_r = ref[0::2], ref[1::2]
    return preference_loss(
        lp[0::2],
        lp[1::2],
        ref_c,
        ref_r,
        chosen_tokens=batch.lengths[0::2],
        rejected_tokens=batch.lengths[1::2],
        loss_type=cfg.loss_type,
        beta=cfg.beta,
        label_smoothing=cfg.label_smoothing,
        length_normalize=cfg.length_normalize,
        sft_loss_weight=cfg.sft_loss_weight,
    )


def _precompute_reference(
    acc, cfg: DPOConfig, sources, files, encoder: Encoder, ref_path: str
) -> list[list[list[float]]]:
    """Reference log-probs ``[file][pair] -> [chosen, rejected]``, from the cache or one pass of the model."""
    settings = {
        "chat_template": cfg.chat_template,
        "max_length": cfg.max_length,
        "overlong": cfg.overlong,
        "bf16": cfg.bf16,
    }
    table: list[list[list[float]]] = []
    model = None
    for src, (groups, index) in zip(sources, files, strict=True):
        key = refcache.cache_key(src.path, ref_path, settings)
        path = refcache.cache_path(src.path, key, Path(cfg.output) / "ref_cache")
        cached = refcache.load(path, key)
        if cached is None:
            if model is None:
                ref = load_model(ref_path, trainable=False, logits_per_chunk=cfg.logits_per_chunk)
                model = distributed.prepare_reference(acc, ref)
            values = _reference_pass(acc, cfg, model, groups)
            cached = [None] * (max(index) + 1)
            for k, v in zip(index, values, strict=True):
                cached[k] = v
            if acc.is_main_process:
                refcache.store(path, key, cached)
            acc.wait_for_everyone()
        table.append([cached[k] for k in index])
    return table


@torch.no_grad()
def _reference_pass(acc, cfg: DPOConfig, model, groups: list[PromptGroup]) -> list[list[float]]:
    """``[chosen, rejected]`` reference log-probs of every group, the work split over processes."""
    micro = steps.local_microbatches(
        groups,
        accelerator=acc,
        tokens_per_microbatch=cfg.tokens_per_microbatch,
        share_prompt=cfg.share_prompt,
        packing=True,
    )
    mine: dict[int, list[float]] = {}
    for indices, batch in (
        progress(micro, desc="reference log-probs", unit="batch") if acc.is_main_process else micro
    ):
        with steps.autocast(acc, cfg.bf16):
            seq = logprobs(model, batch if batch is not None else steps.empty_batch(acc, 0)).sequences
        for j, i in enumerate(indices):
            mine[i] = [float(seq[2 * j]), float(seq[2 * j + 1])]
    merged: dict[int, list[float]] = {}
    for part in distributed.gather_objects(acc, mine):
        merged.update(part)
    return [merged[i] for i in range(len(groups))]

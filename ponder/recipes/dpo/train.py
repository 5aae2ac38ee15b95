"""DPO-family training on preference pairs: config, setup, loop, checkpoint, report.

``run(DPOConfig(...))`` trains a policy on one or more pair files (TRL's preference format) and returns a
summary dict; ``ponder train dpo`` is the same from the command line. The losses are in
:mod:`ponder.losses.dpo`, the mechanics (packing with a shared prompt, log-probs, optimizer, checkpoints)
in :mod:`ponder.train`.
"""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from ponder.errors import PonderError
from ponder.losses.dpo import preference_loss
from ponder.progress import progress
from ponder.recipes.dpo.config import DPOConfig
from ponder.train import distributed, refcache, steps
from ponder.train import run as trainer
from ponder.train.data import parse_sources, read_pair_records
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, TokenBatch


def run(cfg: DPOConfig) -> dict:
    """Train; return the summary (also written to ``OUTPUT/summary.json``)."""
    # ------------------------------------------------------------------ setup
    r, done = trainer.begin(cfg)
    if done is not None:
        return done  # this run already finished: nothing left to do
    sources = parse_sources(cfg.data)
    files = [_encode_file(src.path, r.encoder, cfg.cut) for src in sources]
    trainer.schedule(r, [len(f) for f, _ in files], [s.ratio for s in sources], cfg.pairs_per_step)
    ref_path = cfg.ref_model or cfg.model
    ref_model, ref_table = None, None
    if cfg.precompute_ref:
        ref_table = _precompute_reference(r.acc, cfg, sources, files, r.encoder, ref_path)
    trainer.trainable(r)
    if not (cfg.precompute_ref or cfg.reference_free):
        # sharded like the policy under FSDP / ZeRO-3 (after it: DeepSpeed's settings are resolved by then)
        ref = load_model(ref_path, trainable=False, logits_per_chunk=cfg.logits_per_chunk)
        ref_model = distributed.prepare_reference(r.acc, ref)

    # ------------------------------------------------------------------ loop
    tokens_seen = 0
    for step in trainer.loop(r, "dpo"):
        items = r.schedule.items(step.index)
        groups = [files[f][0][i] for f, i in items]
        refs = None if ref_table is None else torch.tensor([ref_table[f][i] for f, i in items])
        micro = trainer.microbatches(r, groups, share_prompt=cfg.share_prompt)
        scale = r.acc.num_processes / len(groups)
        loss_fn = functools.partial(_microbatch_loss, cfg, r.model, ref_model, refs, scale)
        t, grad_norm = trainer.update(r, micro, loss_fn, STATS)
        n = t["pairs"]
        tokens_seen += int(t["tokens"])
        step.record = {
            **{k: t[k] / n for k in ("loss", "rewards_chosen", "rewards_rejected", "margin", "accuracy")},
            "pairs": int(n),
            "tokens": int(t["tokens"]),
            "grad_norm": grad_norm,
        }

    # ------------------------------------------------------------------ final model and report
    return trainer.finish(r, "dpo", tokens=tokens_seen, pairs=[len(f) for f, _ in files])


STATS = ("loss", "rewards_chosen", "rewards_rejected", "margin", "accuracy", "pairs", "tokens")


def _encode_file(path: str, encoder: Encoder, cut: str) -> tuple[list[PromptGroup], list[int]]:
    """Encoded pairs of a file (each ``cut`` as :meth:`Encoder.encode_pair` says) and, for each, its record
    number in the file (skipped pairs left out)."""
    groups: list[PromptGroup] = []
    index: list[int] = []
    for k, (line, pair) in enumerate(read_pair_records(path)):
        group = encoder.encode_pair(pair, Where(path, line), cut)
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
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss share and statistics of one micro-batch (``refs``: precomputed reference log-probs of the step)."""
    out = _pair_losses(cfg, policy, ref_model, batch, None if refs is None else refs[indices])
    stats = {
        "loss": float(out.losses.detach().sum()),
        "rewards_chosen": float(out.rewards_chosen.sum()),
        "rewards_rejected": float(out.rewards_rejected.sum()),
        "margin": float(out.margins.sum()),
        "accuracy": float(out.accuracies.sum()),
        "pairs": len(indices),
        "tokens": batch.num_tokens,
    }
    return out.losses.sum() * scale, stats


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
        "cut": cfg.cut,
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

"""The advantage and update stages of an RL step (:mod:`ponder.recipes.rl`).

``compute_advantages``: PPO -- each sample's reward on its last token, GAE within the sample (γ = 0 across
samples, hence across stages), advantages whitened over all tokens of the step; GRPO -- the outcome
advantage of the sample's group, the same on every token.

``update``: ``ppo_epochs`` passes; each splits the step's prompt groups (seeded shuffle) into
``minibatches_per_step`` optimizer steps, each accumulated over packed micro-batches with the optimizer
step's token and sequence counts as normalisers (so micro-batching does not change the update). Under
several processes every process holds the whole step; each runs its share of every optimizer step's
micro-batches (:func:`ponder.train.steps.local_microbatches`), its loss times the world size since the
data-parallel wrapper averages gradients, and the statistics are summed over processes: the update and
the logged numbers equal one process's.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ponder.losses.rl import (
    aggregate,
    gae,
    group_advantages,
    kl_estimate,
    last_token_rewards,
    masked_mean,
    policy_loss,
    value_loss,
    whiten,
)
from ponder.recipes.rl.batch import Encoded, RLSample, gather, padded
from ponder.train.distributed import gather_objects, sum_across
from ponder.train.logprobs import logprobs
from ponder.train.steps import empty_batch, local_microbatches


@dataclass
class UpdateInputs:
    """Per-sample 1-D tensors (response length) of one step, keyed by sample index."""

    enc: Encoded
    old_logp: dict[int, torch.Tensor]
    old_values: dict[int, torch.Tensor] | None
    ref_logp: dict[int, torch.Tensor] | None
    advantages: dict[int, torch.Tensor]
    returns: dict[int, torch.Tensor] | None


def compute_advantages(
    cfg, variant, samples: list[RLSample], enc: Encoded, values: dict[int, torch.Tensor] | None
):
    """``(advantages, returns or None, stats)``; tensors per kept sample id."""
    kept = enc.kept
    if not kept:
        return {}, ({} if values is not None else None), {}
    lengths = torch.tensor([enc.lengths[s] for s in kept])
    scores = torch.tensor([samples[s].reward for s in kept], dtype=torch.float32)
    mask = padded(torch.zeros(int(lengths.sum())), lengths)[1]
    stats: dict[str, float] = {}
    returns_pad = None
    if cfg.algo == "ppo":
        v_pad = padded(torch.cat([values[s] for s in kept]), lengths)[0]
        adv_pad, returns_pad = gae(
            last_token_rewards(scores, mask), v_pad, mask, gamma=cfg.gamma, lam=cfg.lam
        )
        stats["values/mean"] = float(masked_mean(v_pad, mask))
        resid = masked_mean((returns_pad - v_pad) ** 2, mask)
        var = masked_mean((returns_pad - masked_mean(returns_pad, mask)) ** 2, mask)
        stats["values/explained_variance"] = float(1 - resid / var) if float(var) > 0 else 0.0
        if cfg.normalize_advantages:
            adv_pad = whiten(adv_pad, mask)
    else:
        keys: dict[tuple, int] = {}
        groups = torch.tensor([keys.setdefault(samples[s].group, len(keys)) for s in kept])
        a = group_advantages(scores, groups, scale_by_std=variant.scale_by_std)
        adv_pad = a[:, None] * mask
    stats["advantages/mean"] = float(masked_mean(adv_pad, mask))
    stats["advantages/abs_mean"] = float(masked_mean(adv_pad.abs(), mask))
    adv = {s: adv_pad[i, : lengths[i]].clone() for i, s in enumerate(kept)}
    ret = (
        {s: returns_pad[i, : lengths[i]].clone() for i, s in enumerate(kept)}
        if returns_pad is not None
        else None
    )
    return adv, ret, stats


def _grad_norm_step(model, optimizer, max_grad_norm) -> float:
    params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
    if not params:
        optimizer.zero_grad(set_to_none=True)
        return 0.0
    if max_grad_norm:
        norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    else:
        norm = torch.stack([p.grad.detach().norm() for p in params]).norm()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(norm)


@dataclass(frozen=True)
class _Clip:
    """The policy loss's aggregation and clip range, and whether the policy trains this step."""

    aggregation: str
    low: float
    high: float
    train_policy: bool


def _microbatch_loss(
    cfg, data: UpdateInputs, sids, batch, policy, critic, norms: dict, clip: _Clip
) -> tuple[torch.Tensor, dict[str, float]]:
    """One micro-batch's share of the optimizer step's loss (normalised by the step's global counts in
    ``norms``) and its per-token statistics."""
    agg, ntok = clip.aggregation, norms["num_tokens"]
    lengths = batch.lengths
    mask = padded(torch.zeros(int(lengths.sum())), lengths)[1]
    share = float(lengths.sum()) / ntok
    loss = torch.zeros(())
    stats: dict[str, float] = {}
    if clip.train_policy:
        lp = padded(logprobs(policy, batch).tokens, lengths)[0]
        pl = policy_loss(
            lp,
            padded(gather(data.old_logp, sids), lengths)[0],
            padded(gather(data.advantages, sids), lengths)[0],
            mask,
            clip_low=clip.low,
            clip_high=clip.high,
            aggregation=agg,
            **norms,
        )
        loss = loss + pl.loss
        stats.update(
            policy_loss=pl.loss.item() / share,
            clip_fraction=float(pl.clip_fraction),
            approx_kl=float(pl.approx_kl),
            ratio=float(pl.ratio_mean),
        )
        if data.ref_logp is not None:
            ref = padded(gather(data.ref_logp, sids), lengths)[0]
            kl = aggregate(kl_estimate(lp, ref, cfg.kl_estimator), mask, agg, **norms)
            loss = loss + cfg.kl_coef * kl
            stats["kl"] = kl.item() / share
    if critic is not None:
        v = padded(critic(batch), lengths)[0]
        vl = value_loss(
            v,
            padded(gather(data.old_values, sids), lengths)[0],
            padded(gather(data.returns, sids), lengths)[0],
            mask,
            clip=cfg.value_clip,
            aggregation="token-mean",
            num_tokens=ntok,
        )
        loss = loss + vl.loss
        stats.update(value_loss=vl.loss.item() / share, value_clip_fraction=float(vl.clip_fraction))
    return loss, stats


def _empty_loss(accelerator, trained, train_policy: bool) -> torch.Tensor:
    """A zero loss through every trained model (a process with no micro-batch left still takes part in the
    gradient all-reduce)."""
    batch = empty_batch(accelerator, 0)
    loss = torch.zeros(())
    for m in trained:
        out = logprobs(m, batch).tokens if (train_policy and m is trained[0]) else m(batch)
        loss = loss + out.sum() * 0.0
    return loss


def update(
    cfg,
    variant,
    data: UpdateInputs,
    accelerator,
    policy,
    critic,
    opt_p,
    opt_c,
    *,
    train_policy: bool,
    max_len: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """Optimizer steps on one RL step's samples; returns mean losses and diagnostics."""
    enc = data.enc
    ppo = cfg.algo == "ppo"
    clip = _Clip(
        cfg.aggregation if ppo else variant.aggregation,
        cfg.clip_low if ppo else variant.clip_low,
        cfg.clip_high if ppo else variant.clip_high,
        train_policy,
    )
    world = accelerator.num_processes
    trained = [m for m in (policy if train_policy else None, critic) if m is not None]
    sums: dict[str, float] = {}
    weight = 0.0
    updates = 0
    n_groups = len(enc.groups)
    for _ in range(cfg.ppo_epochs):
        perm = torch.randperm(n_groups, generator=generator).tolist()
        chunks = [perm[i :: cfg.minibatches_per_step] for i in range(cfg.minibatches_per_step)]
        for chunk in chunks:
            sids_all = [s for g in chunk for s in enc.members[g]]
            if not sids_all:
                continue
            ntok = float(sum(enc.lengths[s] for s in sids_all))
            nseq = float(len(sids_all))
            norms = {"num_tokens": ntok, "num_sequences": nseq, "max_len": max_len}
            # This process's share of the optimizer step (every process runs as many micro-batches; the
            # gradients are all-reduced on the last one only).
            mbs = local_microbatches(
                [enc.groups[g] for g in chunk],
                accelerator=accelerator,
                tokens_per_microbatch=cfg.tokens_per_microbatch,
            )
            for k, (gids, batch) in enumerate(mbs):
                with contextlib.ExitStack() as sync:
                    if k < len(mbs) - 1:
                        for m in trained:
                            sync.enter_context(accelerator.no_sync(m))
                    if batch is None:
                        loss = _empty_loss(accelerator, trained, train_policy)
                        stats: dict[str, float] = {}
                        w = 0.0
                    else:
                        sids = [s for i in gids for s in enc.members[chunk[i]]]
                        loss, stats = _microbatch_loss(cfg, data, sids, batch, policy, critic, norms, clip)
                        w = float(batch.lengths.sum())
                    if loss.requires_grad:
                        # data-parallel wrappers average gradients over processes: scale back to the sum
                        (loss * world).backward()
                for key, val in stats.items():
                    sums[key] = sums.get(key, 0.0) + val * w
                weight += w
            if train_policy:
                sums["grad_norm_actor"] = sums.get("grad_norm_actor", 0.0) + _grad_norm_step(
                    policy, opt_p, cfg.max_grad_norm
                )
            else:
                opt_p.zero_grad(set_to_none=True)
            if critic is not None:
                sums["grad_norm_critic"] = sums.get("grad_norm_critic", 0.0) + _grad_norm_step(
                    critic, opt_c, cfg.max_grad_norm
                )
            updates += 1
    # Token-weighted statistics summed over processes (gradient norms are the same on every process).
    keys = sorted({k for part in gather_objects(accelerator, sorted(sums)) for k in part})
    keys = [k for k in keys if not k.startswith("grad_norm")]
    summed = sum_across(accelerator, [sums.get(k, 0.0) for k in keys] + [weight])
    sums.update(zip(keys, summed[:-1], strict=True))
    weight = summed[-1]
    out = {k: v / weight for k, v in sums.items() if not k.startswith("grad_norm") and weight}
    out.update({k: v / updates for k, v in sums.items() if k.startswith("grad_norm") and updates})
    out["optimizer_steps"] = updates
    out["policy_updated"] = float(train_policy)
    return out

"""Reinforcement-learning losses and advantage estimators: pure functions of tensors.

Layout. Every per-token tensor is padded ``[B, T]``: ``B`` responses (one RL sample each -- a Thinker stage
or a single-turn answer), ``T`` response tokens, right-padded. ``mask`` ``[B, T]`` is 1 on real response
tokens (a contiguous prefix of each row) and 0 on padding. Token ``t`` of a response is the action taken
in state ``s_t`` = prompt + tokens ``< t``; ``values[:, t]`` is the critic's ``V(s_t)``.

=========================  =====================================================================================
``gae``                    Generalised Advantage Estimation, Schulman et al. 2016 ("High-Dimensional Continuous
                           Control Using GAE"): ``δ_t = r_t + γ V(s_{t+1}) - V(s_t)`` and
                           ``Â_t = Σ_l (γλ)^l δ_{t+l}`` (eq. 16); returns ``Â_t + V(s_t)`` are the critic targets.
``whiten``                 advantages normalised to mean 0 / std 1 over all real tokens of the batch.
``group_advantages``       GRPO outcome advantages, Shao et al. 2024 (DeepSeekMath, §4.1.2):
                           ``(r_i - mean(r_group)) / (std(r_group) + ε)``; Dr. GRPO (Liu et al. 2025,
                           "Understanding R1-Zero-Like Training", §3.1) drops the division by the std.
``policy_loss``            PPO clipped surrogate, Schulman et al. 2017 (eq. 7), as a loss to minimise:
                           ``max(-Â ρ, -Â clip(ρ, 1-ε_low, 1+ε_high))`` per token with ``ρ = π/π_old``;
                           ``ε_high > ε_low`` is DAPO's Clip-Higher (Yu et al. 2025, §3.1).
``value_loss``             clipped value loss of OpenAI Baselines' ppo2 (not in the PPO paper):
                           ``½ max((V - R)², (V_old + clip(V - V_old, -c, c) - R)²)``.
``kl_estimate``            per-token estimators of KL(π ‖ π_ref) from samples of π (Schulman 2020, "Approximating
                           KL Divergence"): with ``log ρ = log π_ref - log π``: k1 = ``-log ρ``,
                           k2 = ``½ (log ρ)²``, k3 = ``ρ - 1 - log ρ`` (the one GRPO uses, DeepSeekMath eq. 4).
``aggregate``              per-token losses to a scalar; the choice is named explicitly (see ``AGGREGATIONS``).
=========================  =====================================================================================

Aggregation (``AGGREGATIONS``), with ``m`` the mask, ``ℓ`` the per-token loss, ``S`` sequences, ``L`` a constant:

- ``token-mean``: ``Σ_{i,t} m ℓ / Σ_{i,t} m`` -- every token weighs the same (DAPO's token-level loss, §3.3);
- ``seq-mean-token-mean``: ``(1/S) Σ_i (Σ_t m ℓ / Σ_t m)`` -- every sequence weighs the same (GRPO eq. 3);
- ``seq-mean-token-sum``: ``(1/S) Σ_i Σ_t m ℓ``;
- ``seq-mean-token-sum-norm``: ``Σ_{i,t} m ℓ / (S · L)`` -- Dr. GRPO's constant normaliser (L = the budget).

Gradient accumulation and data parallelism: pass the *optimizer step's* totals as ``num_tokens`` /
``num_sequences`` and every micro-batch's loss adds up to the loss of the whole batch (tested).

The GRPO family is the set of presets in ``GRPO_VARIANTS``: which advantage and which aggregation (and
clip range) each paper uses. Deviations from the papers: none in the formulas; ``group_advantages`` gives
0 to a group of one (its std is undefined) rather than NaN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ponder.losses.variants import AGGREGATIONS, KL_ESTIMATORS

# --------------------------------------------------------------------------- helpers


def _check_mask(mask: torch.Tensor) -> torch.Tensor:
    if mask.dim() != 2:
        raise ValueError(f"mask must be [B, T], got shape {tuple(mask.shape)}")
    m = mask.to(torch.bool)
    if m.shape[1] > 1 and bool((m[:, 1:] & ~m[:, :-1]).any()):
        raise ValueError("mask must be right-padded: each row's real tokens form a prefix")
    return m


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``x`` over the entries where ``mask`` is 1 (0 when there are none). Any shape."""
    m = mask.to(x.dtype)
    return (x * m).sum() / m.sum().clamp(min=1)


def aggregate(
    per_token: torch.Tensor,
    mask: torch.Tensor,
    mode: str,
    *,
    num_tokens: float | None = None,
    num_sequences: float | None = None,
    max_len: float | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss ``[B, T]`` to a scalar with the named aggregation (module docstring).

    ``num_tokens`` / ``num_sequences`` default to this batch's counts; pass the optimizer step's totals when the
    step is split into micro-batches. ``max_len`` is the constant ``L`` of ``seq-mean-token-sum-norm``
    (Dr. GRPO uses the generation budget) and is required for that mode.
    """
    if mode not in AGGREGATIONS:
        raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(AGGREGATIONS)}")
    m = mask.to(per_token.dtype)
    if num_sequences is None:
        num_sequences = float(per_token.shape[0])
    n_seq = max(float(num_sequences), 1.0)
    if mode == "token-mean":
        n_tok = float(m.sum()) if num_tokens is None else float(num_tokens)
        return (per_token * m).sum() / max(n_tok, 1.0)
    if mode == "seq-mean-token-mean":
        per_seq = (per_token * m).sum(-1) / m.sum(-1).clamp(min=1)
        return per_seq.sum() / n_seq
    if mode == "seq-mean-token-sum":
        return (per_token * m).sum() / n_seq
    if max_len is None or max_len <= 0:
        raise ValueError("seq-mean-token-sum-norm needs max_len (the constant length normaliser) > 0")
    return (per_token * m).sum() / (n_seq * float(max_len))


# --------------------------------------------------------------------------- rewards and advantages


def last_token_rewards(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-token rewards ``[B, T]``: ``scores[i]`` on the last real token of row ``i``, 0 elsewhere.

    This is how an outcome reward (one number per response) enters GAE. Rows with no real token get nothing.
    """
    m = _check_mask(mask)
    lengths = m.sum(-1)
    out = torch.zeros(m.shape, dtype=scores.dtype, device=scores.device)
    rows = torch.nonzero(lengths > 0, as_tuple=True)[0]
    out[rows, lengths[rows] - 1] = scores[rows]
    return out


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, *, gamma: float = 1.0, lam: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns, both ``[B, T]`` (0 on padding).

    ``rewards``, ``values``: ``[B, T]``. The state after a response's last token is terminal (its value is 0),
    so no credit flows from one response to another: with Thinker's stages as separate responses this is
    γ = 0 *between* stages while ``gamma`` applies *within* one. ``δ_t = r_t + γ V_{t+1} m_{t+1} - V_t``;
    ``Â_t = δ_t + γλ m_{t+1} Â_{t+1}`` (GAE eq. 16 written recursively); returns ``R_t = Â_t + V_t``.
    """
    m = _check_mask(mask).to(values.dtype)
    values = values.detach() * m
    rewards = rewards * m
    B, T = values.shape
    adv = torch.zeros_like(values)
    running = torch.zeros(B, dtype=values.dtype, device=values.device)
    for t in reversed(range(T)):
        if t + 1 < T:
            m_next = m[:, t + 1]
            v_next = values[:, t + 1]
        else:
            m_next = torch.zeros_like(running)
            v_next = torch.zeros_like(running)
        delta = rewards[:, t] + gamma * v_next * m_next - values[:, t]
        running = delta + gamma * lam * m_next * running
        adv[:, t] = running
    adv = adv * m
    return adv, (adv + values) * m


def whiten(
    advantages: torch.Tensor, mask: torch.Tensor, *, shift_mean: bool = True, eps: float = 1e-8
) -> torch.Tensor:
    """Advantages normalised over all real tokens of the batch: ``(A - mean) / (std + eps)`` (0 on padding).

    The std is the population std (divide by the token count). ``shift_mean=False`` only rescales.
    """
    m = mask.to(advantages.dtype)
    mean = masked_mean(advantages, m)
    var = masked_mean((advantages - mean) ** 2, m)
    out = advantages - mean if shift_mean else advantages
    return out / (var.sqrt() + eps) * m


def group_advantages(
    scores: torch.Tensor, groups: torch.Tensor, *, scale_by_std: bool = True, eps: float = 1e-6
) -> torch.Tensor:
    """GRPO-family outcome advantages ``[B]`` for scores ``[B]`` grouped by ``groups`` ``[B]`` (integer ids).

    ``A_i = (r_i - mean_g) / (std_g + eps)`` with the mean and the sample std (``n - 1``, as ``torch.std``) of
    the group ``g`` of ``i`` (GRPO); ``scale_by_std=False`` gives ``A_i = r_i - mean_g`` (Dr. GRPO). A group
    of one sample has advantage 0. Vectorised with scatter-adds; equal to a plain loop over groups (tested).
    """
    if scores.dim() != 1 or groups.shape != scores.shape:
        raise ValueError(
            f"scores and groups must both be [B], got {tuple(scores.shape)} and {tuple(groups.shape)}"
        )
    _, inverse = torch.unique(groups, return_inverse=True)
    G = int(inverse.max()) + 1 if inverse.numel() else 0
    x = scores.to(torch.float64)
    count = torch.zeros(G, dtype=x.dtype, device=x.device).index_add_(0, inverse, torch.ones_like(x))
    mean = torch.zeros(G, dtype=x.dtype, device=x.device).index_add_(0, inverse, x) / count
    centred = x - mean[inverse]
    if not scale_by_std:
        return centred.to(scores.dtype)
    sq = torch.zeros(G, dtype=x.dtype, device=x.device).index_add_(0, inverse, centred**2)
    std = (sq / (count - 1).clamp(min=1)).sqrt()
    denom = std[inverse] + eps
    # a group with one sample, or all-equal scores with eps = 0, has nothing to centre: advantage 0, not NaN
    out = torch.where(denom > 0, centred / denom.clamp(min=torch.finfo(x.dtype).tiny), torch.zeros_like(x))
    return out.to(scores.dtype)


# --------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class PolicyLoss:
    """``loss``: scalar (with gradient); ``per_token`` ``[B, T]``; diagnostics without gradient:
    ``clip_fraction`` (share of real tokens where the clipped term is the one used), ``approx_kl``
    (k3 estimate of KL(π_old ‖ π) over real tokens, sampled from π_old: ``ρ - 1 - log ρ``), ``ratio_mean``."""

    loss: torch.Tensor
    per_token: torch.Tensor
    clip_fraction: torch.Tensor
    approx_kl: torch.Tensor
    ratio_mean: torch.Tensor


def policy_loss(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_low: float = 0.2,
    clip_high: float | None = None,
    aggregation: str = "token-mean",
    num_tokens: float | None = None,
    num_sequences: float | None = None,
    max_len: float | None = None,
) -> PolicyLoss:
    """PPO clipped surrogate loss (Schulman et al. 2017, eq. 7, negated to be minimised).

    ``logp``, ``old_logp``, ``advantages``, ``mask``: ``[B, T]``. Per token, with ``ρ = exp(logp - old_logp)``:
    ``ℓ = max(-Â ρ, -Â clip(ρ, 1 - clip_low, 1 + clip_high))``; ``clip_high`` defaults to ``clip_low``.
    Then reduced with ``aggregate(…, aggregation)``.
    """
    clip_high = clip_low if clip_high is None else clip_high
    adv = advantages.detach()
    log_ratio = logp - old_logp.detach()
    ratio = torch.exp(log_ratio)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    loss = aggregate(
        per_token, mask, aggregation, num_tokens=num_tokens, num_sequences=num_sequences, max_len=max_len
    )
    with torch.no_grad():
        m = mask.to(per_token.dtype)
        clip_fraction = masked_mean((clipped > unclipped).to(per_token.dtype), m)
        approx_kl = masked_mean(torch.exp(log_ratio) - 1 - log_ratio, m)
        ratio_mean = masked_mean(ratio, m)
    return PolicyLoss(loss, per_token, clip_fraction, approx_kl, ratio_mean)


@dataclass(frozen=True)
class ValueLoss:
    """``loss``: scalar (with gradient); ``per_token`` ``[B, T]``; ``clip_fraction`` (no gradient)."""

    loss: torch.Tensor
    per_token: torch.Tensor
    clip_fraction: torch.Tensor


def value_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip: float | None = 0.2,
    aggregation: str = "token-mean",
    num_tokens: float | None = None,
    num_sequences: float | None = None,
    max_len: float | None = None,
) -> ValueLoss:
    """Clipped value loss: ``½ max((V - R)², (V_old + clip(V - V_old, -c, c) - R)²)`` per token.

    ``values`` (with gradient), ``old_values`` (the values at rollout time), ``returns``, ``mask``: ``[B, T]``.
    ``clip=None`` gives the plain squared error ``½ (V - R)²``.
    """
    returns = returns.detach()
    plain = (values - returns) ** 2
    if clip is None:
        per_token = 0.5 * plain
        clip_fraction = torch.zeros((), dtype=values.dtype)
    else:
        old_values = old_values.detach()
        v_clipped = old_values + torch.clamp(values - old_values, -clip, clip)
        clipped = (v_clipped - returns) ** 2
        per_token = 0.5 * torch.maximum(plain, clipped)
        with torch.no_grad():
            clip_fraction = masked_mean((clipped > plain).to(values.dtype), mask)
    loss = aggregate(
        per_token, mask, aggregation, num_tokens=num_tokens, num_sequences=num_sequences, max_len=max_len
    )
    return ValueLoss(loss, per_token, clip_fraction)


def kl_estimate(logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k3") -> torch.Tensor:
    """Per-token estimate of KL(π ‖ π_ref) at tokens sampled from π; same shape as the inputs.

    ``log ρ = ref_logp - logp``; k1 = ``-log ρ`` (unbiased, high variance, can be negative),
    k2 = ``½ (log ρ)²`` (biased, low variance), k3 = ``ρ - 1 - log ρ`` (unbiased, never negative).
    """
    if kind not in KL_ESTIMATORS:
        raise ValueError(f"unknown KL estimator {kind!r}; choose one of {', '.join(KL_ESTIMATORS)}")
    log_ratio = ref_logp - logp
    if kind == "k1":
        return -log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    return torch.exp(log_ratio) - 1 - log_ratio

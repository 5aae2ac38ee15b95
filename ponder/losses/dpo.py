"""Preference losses of the DPO family: pure functions of sequence log-probs.

Inputs are one value per pair (shape ``[P]``): the summed log-probs of the chosen and rejected responses
under the policy (``πc``, ``πr``) and under the reference model (``rc``, ``rr``), and the response lengths
in tokens. With ``h = (πc - rc) - (πr - rr)`` the per-pair losses are

==========  ==========================================================  =========================================
``sigmoid``  ``-(1-ε) log σ(βh) - ε log σ(-βh)``                         Rafailov et al. 2023 (DPO) eq. 7; ε > 0 is
                                                                         the label-smoothed "conservative" cDPO
                                                                         (Mitchell 2023)
``robust``   ``[-(1-ε) log σ(βh) + ε log σ(-βh)] / (1-2ε)``              Chowdhury et al. 2024 (rDPO) eq. 8
``ipo``      ``(h - 1/(2β))²``                                           Azar et al. 2023 (IPO) eq. 17
``hinge``    ``max(0, 1 - βh)``                                          Zhao et al. 2023 (SLiC), Liu et al. 2024
                                                                         (RSO) eq. 9
==========  ==========================================================  =========================================

plus, with ``sft_loss_weight = α > 0``, the token-mean negative log-likelihood of the chosen response,
``α · (-πc / |yc|)`` (Pang et al. 2024, "Iterative Reasoning Preference Optimization", eq. 2; PFPO's SFT
term on the chosen response). The implicit rewards are ``β(πc - rc)`` and ``β(πr - rr)``; the margin is
their difference and a pair counts as accurate when the chosen reward is strictly larger.

Options:

- ``length_normalize``: use mean instead of summed log-probs (``π/|y|``) everywhere above, for policy and
  reference alike (as TRL does for IPO and SimPO-style losses).
- reference-free: pass ``None`` for both reference tensors; they count as zero (``h = πc - πr``).

Deviation from TRL: TRL's SFT term (``rpo_alpha``) averages the chosen NLL over all chosen tokens of the
batch; here it is averaged per pair (the paper's form), so that it is a per-pair loss like the others and
gradient accumulation stays exact. The two agree when all chosen responses have the same length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LOSS_TYPES = ("sigmoid", "robust", "ipo", "hinge")


@dataclass(frozen=True)
class PreferenceLoss:
    """Per-pair outputs, each of shape ``[P]``; only ``losses`` carries gradients."""

    losses: torch.Tensor
    rewards_chosen: torch.Tensor
    rewards_rejected: torch.Tensor
    margins: torch.Tensor
    accuracies: torch.Tensor


def sigmoid_loss(h: torch.Tensor, beta: float, label_smoothing: float = 0.0) -> torch.Tensor:
    """DPO (eq. 7 of Rafailov et al.), label-smoothed as cDPO when ``label_smoothing > 0``. ``h``: ``[P]``."""
    return -(1 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)


def robust_loss(h: torch.Tensor, beta: float, label_smoothing: float) -> torch.Tensor:
    """rDPO (eq. 8 of Chowdhury et al. 2024): unbiased under a label-flip rate ``label_smoothing`` < 0.5."""
    if not 0.0 <= label_smoothing < 0.5:
        raise ValueError(f"robust loss needs 0 <= label_smoothing < 0.5, got {label_smoothing}")
    clean = -(1 - label_smoothing) * F.logsigmoid(beta * h)
    flipped = label_smoothing * F.logsigmoid(-beta * h)
    return (clean + flipped) / (1 - 2 * label_smoothing)


def ipo_loss(h: torch.Tensor, beta: float) -> torch.Tensor:
    """IPO (eq. 17 of Azar et al. 2023), ``β`` playing the role of the paper's ``τ``."""
    return (h - 1 / (2 * beta)) ** 2


def hinge_loss(h: torch.Tensor, beta: float) -> torch.Tensor:
    """SLiC / RSO hinge loss on the scaled margin."""
    return torch.relu(1 - beta * h)


def preference_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor | None,
    ref_rejected: torch.Tensor | None,
    *,
    chosen_tokens: torch.Tensor,
    rejected_tokens: torch.Tensor,
    loss_type: str = "sigmoid",
    beta: float = 0.1,
    label_smoothing: float = 0.0,
    length_normalize: bool = False,
    sft_loss_weight: float = 0.0,
) -> PreferenceLoss:
    """Per-pair preference losses and rewards (see the module docstring for the formulas).

    Args:
        policy_chosen, policy_rejected: ``[P]`` summed response log-probs under the policy (with gradients).
        ref_chosen, ref_rejected: ``[P]`` summed log-probs under the reference, or both ``None`` (reference-free).
        chosen_tokens, rejected_tokens: ``[P]`` response lengths in tokens (for length normalisation and the
            SFT term).
    """
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if (ref_chosen is None) != (ref_rejected is None):
        raise ValueError("pass both reference log-probs or neither (reference-free)")
    if ref_chosen is None:
        ref_chosen = torch.zeros_like(policy_chosen)
        ref_rejected = torch.zeros_like(policy_rejected)
    nc = chosen_tokens.to(policy_chosen.dtype).clamp(min=1)
    nr = rejected_tokens.to(policy_rejected.dtype).clamp(min=1)
    pc, pr, rc, rr = policy_chosen, policy_rejected, ref_chosen.detach(), ref_rejected.detach()
    if length_normalize:
        pc, pr, rc, rr = pc / nc, pr / nr, rc / nc, rr / nr
    h = (pc - rc) - (pr - rr)
    if loss_type == "sigmoid":
        losses = sigmoid_loss(h, beta, label_smoothing)
    elif loss_type == "robust":
        losses = robust_loss(h, beta, label_smoothing)
    elif loss_type == "ipo":
        losses = ipo_loss(h, beta)
    else:
        losses = hinge_loss(h, beta)
    if sft_loss_weight:
        losses = losses + sft_loss_weight * (-policy_chosen / nc)
    rewards_chosen = beta * (pc - rc).detach()
    rewards_rejected = beta * (pr - rr).detach()
    return PreferenceLoss(
        losses=losses,
        rewards_chosen=rewards_chosen,
        rewards_rejected=rewards_rejected,
        margins=rewards_chosen - rewards_rejected,
        accuracies=(rewards_chosen > rewards_rejected).to(policy_chosen.dtype),
    )

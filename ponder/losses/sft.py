"""Supervised fine-tuning loss: token-mean negative log-likelihood of response tokens.

``loss = -Σ_t m_t log π(y_t | y_<t, x) / N`` where ``m`` marks response tokens (prompt tokens and other
turns are not trained) and ``N`` is the number of response tokens in the *optimizer step* -- not in one
micro-batch. Passing the step's count as ``num_tokens`` makes gradient accumulation and data-parallel
training give the same gradient as one large batch (each micro-batch contributes its token sum / N).
"""

from __future__ import annotations

import torch


def sft_loss(
    token_logps: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    num_tokens: float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Token-mean NLL.

    Args:
        token_logps: log-probs of the target tokens, any shape (``[N]`` packed or ``[B, T]`` padded).
        mask: same shape, 1 for tokens that count; ``None`` counts every entry.
        num_tokens: the normaliser ``N``; defaults to the number of counted tokens here.
    Returns:
        A scalar.
    """
    if mask is None:
        mask = torch.ones_like(token_logps)
    mask = mask.to(token_logps.dtype)
    total = -(token_logps * mask).sum()
    if num_tokens is None:
        num_tokens = mask.sum()
    return total / torch.as_tensor(num_tokens, dtype=token_logps.dtype).clamp(min=1)

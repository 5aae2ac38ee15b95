"""Log-probs through the LM head in token chunks: never a whole ``[tokens, vocabulary]`` logits tensor.

With a 151,936-token vocabulary, the fp32 logits of 4,096 scored tokens take 2.3 GiB, and the plain
computation holds several such tensors at once (the logits, ``exp`` inside ``logsumexp``, their gradient,
the same again for the reference model). :class:`ChunkedLogProbs` computes, chunk by chunk of scored
tokens, ``logits = h W^T (+ b)``, their ``logsumexp``, the target's log-prob and (when asked) the entropy,
and keeps only the inputs and one number per token for the backward pass, which recomputes each chunk's
logits and turns them into the gradient in place:

    d log p(y) / d logits = onehot(y) - softmax(logits)           (per token; scaled by the incoming grad)
    grad_h = grad_logits W,   grad_W = sum over chunks of grad_logits^T h,   grad_b = sum of grad_logits

So the extra memory is a few ``[chunk, vocabulary]`` buffers, whatever the number of tokens. The same
chunking over tokens with recomputation in backward is what Liger-Kernel's fused linear cross-entropy does
on GPUs.

Precision follows the plain path: the matrix product runs in the autocast dtype when autocast is on (as
``nn.Linear`` would), everything after it in fp32; ``grad_W`` is summed over chunks in the weight's dtype.

:class:`ChunkedHead` is ``nn.Linear`` with one extra behaviour: while a :class:`HeadRequest` is set on it,
its forward returns ``[N, 2]`` (log-prob, entropy) of the requested tokens instead of logits. The
computation thus runs *inside* the model's forward, where FSDP and DeepSpeed ZeRO-3 have the head's
weight gathered, and its weight gradient reaches them like any ``nn.Linear``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ponder.train.settings import LOGITS_PER_CHUNK


def chunk_tokens(vocab: int, logits_per_chunk: int) -> int:
    """Scored tokens per chunk for a vocabulary of ``vocab`` under a budget of ``logits_per_chunk`` values."""
    return max(1, logits_per_chunk // max(vocab, 1))


def _logits(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype):
    """Logits of one chunk in fp32 (fp64 for fp64 inputs), the product computed in ``dtype``
    (``weight``/``bias`` already cast to it)."""
    return F.linear(h.to(dtype), weight, bias).to(_out_dtype(dtype))


def _out_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


class ChunkedLogProbs(torch.autograd.Function):
    """``(hidden [N, H], weight [V, H], bias [V] | None, targets [N]) -> (logp [N], entropy [N])``, fp32.

    ``entropy`` carries no gradient (it is a statistic); it is zeros unless ``with_entropy``.
    """

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, chunk, dtype, with_entropy):
        device_type = hidden.device.type
        n = hidden.shape[0]
        out = {"dtype": _out_dtype(dtype), "device": hidden.device}
        logp, entropy, lse = torch.empty(n, **out), torch.zeros(n, **out), torch.empty(n, **out)
        with torch.autocast(device_type, enabled=False):
            w = weight.to(dtype)
            b = None if bias is None else bias.to(dtype)
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                logits = _logits(hidden[s:e], w, b, dtype)
                lse[s:e] = torch.logsumexp(logits, dim=-1)
                logp[s:e] = logits.gather(1, targets[s:e, None])[:, 0] - lse[s:e]
                if with_entropy:
                    # H = lse - sum_v p_v * logit_v
                    expected = (logits - lse[s:e, None]).exp_().mul_(logits).sum(-1)
                    entropy[s:e] = lse[s:e] - expected
                del logits
        ctx.save_for_backward(hidden, weight, bias, targets, lse)
        ctx.chunk, ctx.dtype = chunk, dtype
        ctx.mark_non_differentiable(entropy)
        return logp, entropy

    @staticmethod
    def backward(ctx, grad_logp, grad_entropy):
        hidden, weight, bias, targets, lse = ctx.saved_tensors
        chunk, dtype = ctx.chunk, ctx.dtype
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        n = hidden.shape[0]
        grad_h = torch.empty_like(hidden) if need_h else None
        # Accumulated over chunks in the parameters' own dtype, as autograd would for nn.Linear.
        grad_w = torch.zeros_like(weight) if need_w else None
        grad_b = torch.zeros_like(bias) if need_b and bias is not None else None
        if grad_logp is None:
            grad_logp = torch.zeros(n, dtype=lse.dtype, device=hidden.device)
        with torch.autocast(hidden.device.type, enabled=False):
            w = weight.to(dtype)
            b = None if bias is None else bias.to(dtype)
            rows = torch.arange(chunk, device=hidden.device)
            for s in range(0, n, chunk):
                e = min(s + chunk, n)
                g = grad_logp[s:e].to(lse.dtype)
                # grad_logits = g * (onehot(y) - softmax), built in the recomputed logits' buffer
                grad = _logits(hidden[s:e], w, b, dtype).sub_(lse[s:e, None]).exp_().mul_(-g[:, None])
                grad[rows[: e - s], targets[s:e]] += g
                if grad_b is not None:
                    grad_b += grad.sum(0).to(grad_b.dtype)
                grad = grad.to(dtype)
                if need_h:
                    grad_h[s:e] = (grad @ w).to(hidden.dtype)
                if need_w:
                    h = hidden[s:e].to(dtype)
                    if grad_w.dtype == dtype:
                        grad_w.addmm_(grad.t(), h)
                    else:  # fp32 master weights under bf16 autocast: product in bf16, sum in fp32
                        grad_w += grad.t() @ h
                del grad
        return (
            grad_h,
            grad_w,
            grad_b,
            None,
            None,
            None,
            None,
        )


@dataclass
class HeadRequest:
    """What :class:`ChunkedHead` computes in place of logits during one forward call.

    ``rows``/``predictors`` ``[N]`` pick the predicting positions out of the head's input ``[B, T, H]``;
    ``targets`` ``[N]`` the token ids. After the call, ``hidden`` holds the picked inputs ``[N, H]``.
    """

    rows: torch.Tensor
    predictors: torch.Tensor
    targets: torch.Tensor
    with_entropy: bool = False
    hidden: torch.Tensor | None = None


class ChunkedHead(torch.nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) that scores tokens in chunks while requested."""

    logits_per_chunk: int = LOGITS_PER_CHUNK
    request: HeadRequest | None = None

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        req = self.request
        if req is None:
            return super().forward(hidden)
        h = hidden[req.rows, req.predictors]  # [N, H]
        req.hidden = h
        device_type = h.device.type
        if torch.is_autocast_enabled(device_type):
            dtype = torch.get_autocast_dtype(device_type)
        else:
            dtype = self.weight.dtype
        chunk = chunk_tokens(self.out_features, self.logits_per_chunk)
        logp, entropy = ChunkedLogProbs.apply(
            h, self.weight, self.bias, req.targets, chunk, dtype, req.with_entropy
        )
        return torch.stack([logp, entropy], dim=-1)


# Config entries that transform logits after the head (soft-capping, scaling): such models keep the plain path.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling", "output_multiplier_scale")


def install(model: torch.nn.Module, logits_per_chunk: int = LOGITS_PER_CHUNK) -> bool:
    """Turn the model's ``nn.Linear`` LM head into a :class:`ChunkedHead` (in place; parameters, ties and
    the state dict unchanged). Returns False, changing nothing, for heads or configs it does not cover
    (another head type, logit soft-capping or scaling) or when ``logits_per_chunk`` is 0."""
    head = model.get_output_embeddings()
    config = getattr(model, "config", None)
    if logits_per_chunk <= 0 or type(head) not in (torch.nn.Linear, ChunkedHead):
        return False
    if any(getattr(config, name, None) not in (None, 1, 1.0) for name in _LOGIT_TRANSFORMS):
        return False
    head.__class__ = ChunkedHead
    head.logits_per_chunk = logits_per_chunk
    return True

"""Per-token log-probs of responses, for packed or padded micro-batches.

Only the positions that predict a scored token go through the LM head, so prompt tokens cost a forward
pass through the body of the model but no vocabulary projection. A model loaded with
:func:`ponder.train.model.load_model` has a :class:`~ponder.train.chunked.ChunkedHead`: the head then
computes the log-probs chunk by chunk of scored tokens inside the forward pass and never holds the
``[N, vocabulary]`` logits (:mod:`ponder.train.chunked`). Other models take the plain path, which
materialises the logits of the scored positions (``logits_to_keep`` with an index tensor); the two are
tested equal. The same function serves SFT, DPO and RL (which also asks for the hidden states at those
positions, the input of a value head, and for the entropy of the predicted distribution).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ponder.train.chunked import ChunkedHead, HeadRequest
from ponder.train.packing import TokenBatch


@dataclass
class LogProbs:
    """``tokens`` ``[N]``: log-prob of each scored token; ``sequences`` ``[S]``: their sum per response.

    ``hidden`` ``[N, H]``: final hidden state (after the last norm) at each predicting position, when asked.
    ``entropy`` ``[N]``: entropy of the next-token distribution there, when asked (no gradient).
    """

    tokens: torch.Tensor
    sequences: torch.Tensor
    hidden: torch.Tensor | None = None
    entropy: torch.Tensor | None = None


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    while hasattr(model, "module"):
        model = model.module
    return model


@contextmanager
def _capture_head_input(model: torch.nn.Module, enabled: bool):
    box: dict[str, torch.Tensor] = {}
    if not enabled:
        yield box
        return
    head = _unwrap(model).get_output_embeddings()
    handle = head.register_forward_hook(lambda mod, args, out: box.__setitem__("hidden", args[0]))
    try:
        yield box
    finally:
        handle.remove()


def _forward(model: torch.nn.Module, batch: TokenBatch, keep: torch.Tensor | int) -> torch.Tensor:
    """The model's ``logits`` output for ``batch``; ``keep``: positions given to the head (0: all)."""
    if batch.layout is not None:
        config = _unwrap(model).config
        # No mask: the layout replaces it. Models with layer types take a mask per type (all None); the others
        # (Llama) build their own from None, which for one unpadded row is plain causal and left unused.
        types = getattr(config, "layer_types", None)
        no_mask = {t: None for t in set(types)} if types else None
        return model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=no_mask,
            ponder_layout=batch.layout,
            logits_to_keep=keep,
            use_cache=False,
        ).logits
    return model(input_ids=batch.input_ids, attention_mask=batch.attention_mask, use_cache=False).logits


def forward_logits(model: torch.nn.Module, batch: TokenBatch) -> torch.Tensor:
    """Logits ``[N, V]`` at the predicting positions of the scored tokens (the plain path)."""
    if batch.layout is not None:
        return _forward(model, batch, batch.predictors)[0]
    return _forward(model, batch, 0)[batch.rows, batch.predictors]


def logprobs(
    model: torch.nn.Module, batch: TokenBatch, *, return_hidden: bool = False, return_entropy: bool = False
) -> LogProbs:
    """Log-probs of every scored token of ``batch`` and their sum per response (fp32).

    For padded batches the hidden states are not available (``return_hidden`` needs a packed batch).
    """
    if return_hidden and batch.layout is None:
        raise ValueError("hidden states are returned for packed batches only")
    head = _unwrap(model).get_output_embeddings()
    if isinstance(head, ChunkedHead):
        return _chunked(model, head, batch, return_hidden, return_entropy)
    with _capture_head_input(model, return_hidden) as box:
        logits = forward_logits(model, batch)
    logits = logits.float()
    # log p(target) = logit[target] - logsumexp(logits): avoids materialising a second [N, V] tensor
    lse = torch.logsumexp(logits, dim=-1)
    tokens = logits.gather(-1, batch.targets[:, None])[:, 0] - lse
    entropy = None
    if return_entropy:
        with torch.no_grad():
            logp = logits - lse[:, None]
            entropy = -(logp.exp() * logp).sum(-1)
    hidden = box["hidden"][0] if return_hidden else None
    return _result(batch, tokens, hidden, entropy)


def _chunked(model, head: ChunkedHead, batch: TokenBatch, return_hidden: bool, return_entropy: bool):
    """The chunked path: the head returns ``[N, 2]`` (log-prob, entropy) in place of logits."""
    head.request = HeadRequest(batch.rows, batch.predictors, batch.targets, with_entropy=return_entropy)
    try:
        out = _forward(model, batch, 0).float()
        hidden = head.request.hidden
    finally:
        head.request = None
    return _result(batch, out[:, 0], hidden if return_hidden else None, out[:, 1] if return_entropy else None)


def _result(batch: TokenBatch, tokens, hidden, entropy) -> LogProbs:
    sequences = torch.zeros(batch.num_sequences, dtype=tokens.dtype, device=tokens.device)
    sequences = sequences.index_add(0, batch.sequence, tokens)
    return LogProbs(tokens=tokens, sequences=sequences, hidden=hidden, entropy=entropy)

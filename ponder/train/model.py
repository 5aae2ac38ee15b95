"""Loading policies, reference models and tokenizers from a local folder or a hub name."""

from __future__ import annotations

from pathlib import Path

import torch

from ponder.errors import PonderError
from ponder.train import chunked
from ponder.train.attention import register_attention


def quiet_transformers() -> None:
    """No per-file progress bars or info logs from transformers during training runs."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as e:
        raise PonderError(f"cannot load a tokenizer from {path}: {e}") from None
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    return tok


def load_model(
    path: str | Path,
    *,
    trainable: bool = True,
    gradient_checkpointing: bool = False,
    dtype: torch.dtype = torch.float32,
    logits_per_chunk: int = chunked.LOGITS_PER_CHUNK,
    packed_attention: str = "auto",
) -> torch.nn.Module:
    """A causal LM with ponder's packed attention (plain SDPA when called without a packing layout).

    ``trainable=False`` gives a frozen model in eval mode (a reference). Models with sliding-window layers
    are refused: packed attention implements full causal attention only. The LM head computes log-probs
    in chunks of ``logits_per_chunk`` logit values (:mod:`ponder.train.chunked`; 0: whole logits).
    ``packed_attention`` picks the kernel of packed rows (:mod:`ponder.train.attention`).
    """
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=dtype, attn_implementation=register_attention(packed_attention)
        )
    except (OSError, ValueError) as e:
        raise PonderError(f"cannot load a causal language model from {path}: {e}") from None
    if "sliding_attention" in (getattr(model.config, "layer_types", None) or []):
        raise PonderError(
            f"{path}: models with sliding-window attention layers are not supported by packed training"
        )
    model.config.use_cache = False
    chunked.install(model, logits_per_chunk)
    if trainable:
        model.train()
        if gradient_checkpointing:
            kwargs = {"use_reentrant": False}
            if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.20 name
                model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
            else:
                model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    else:
        model.eval()
        model.requires_grad_(False)
    return model

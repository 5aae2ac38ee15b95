"""Config fields that every training recipe declares the same way (SFT, DPO, RL): one default, one help.

Use as ``logits_per_chunk: int = settings.logits_per_chunk()`` in a recipe's frozen dataclass.
"""

from __future__ import annotations

from typing import Any, Literal

from ponder.config import option
from ponder.train.chunked import LOGITS_PER_CHUNK

SaveDtype = Literal["float32", "bfloat16"]


def gradient_checkpointing() -> Any:
    return option(False, help="Recompute activations in backward to save memory.")


def logits_per_chunk() -> Any:
    return option(
        LOGITS_PER_CHUNK,
        help="Logit values (scored tokens x vocabulary) the LM head computes at once when scoring: bounds "
        "log-prob memory at large vocabularies; 0: the whole [tokens, vocabulary] logits at once.",
    )


def save_dtype() -> Any:
    return option(
        "float32",
        help="dtype of the saved model weights (final model and checkpoints); bfloat16 halves them "
        "(a 7B model: 15 GB, not 30); resuming then continues from the rounded weights.",
    )

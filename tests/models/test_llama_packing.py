"""Packed training on a Llama model (SmolLM2's architecture), whose forward takes no per-layer-type masks."""

import pytest
import torch

from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack, pad
from tests.models.gguf_files import llama_from_tiny

EPS32 = 1.19e-7


@pytest.fixture(scope="module")
def llama(tiny_model_dir, tmp_path_factory):
    return load_model(llama_from_tiny(tiny_model_dir, tmp_path_factory.mktemp("llama") / "llama"))


def test_packed_equals_padded_and_segments_stay_apart(llama):
    a = PromptGroup((7, 8, 9), ((10, 11),))
    b = PromptGroup((20, 21, 30, 31), ((22, 23, 24), (25,)))
    other = PromptGroup((100, 101, 102), ((103, 104),))
    with torch.no_grad():
        packed = logprobs(llama, pack([a, b])).tokens
        padded = logprobs(llama, pad([a, b])).tokens
        swapped = logprobs(llama, pack([other, b])).sequences[1:]
        alone = logprobs(llama, pack([b])).sequences
    scale = float(packed.abs().max())
    torch.testing.assert_close(packed, padded, atol=16 * EPS32 * scale, rtol=0)
    torch.testing.assert_close(swapped, alone, atol=16 * EPS32 * float(alone.abs().max()), rtol=0)

"""Packed attention kernels: FlexAttention with a block mask from the layout equals per-segment SDPA.

On CPU torch has no FlexAttention backward, so the comparison is of forward values (log-probs and
entropy, no gradient); on CUDA the same kernel runs compiled, forward and backward."""

import pytest
import torch

from ponder.train.attention import _token_ids
from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack
from tests.helpers import assert_close


def test_token_ids_of_a_layout():
    """Row 1 2 | 3 4 | 5 || 6 | 7: group 1 has prompt (1, 2) and responses (3, 4) and (5,); group 2 prompt
    (6,) and response (7,). Segments 0 0 0 0 0 1 1; branches 0 0 1 1 2 0 1 (0: the shared prompt)."""
    b = pack([PromptGroup((1, 2), ((3, 4), (5,))), PromptGroup((6,), ((7,),))])
    segment, branch = _token_ids(b.layout, 7, "cpu")
    assert segment.tolist() == [0, 0, 0, 0, 0, 1, 1]
    assert branch.tolist() == [0, 0, 1, 1, 2, 0, 1]


# On CPU FlexAttention runs its unfused reference computation, and says so: expected here.
@pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")
def test_flex_kernel_equals_per_segment_sdpa(tiny_model_dir):
    """Shared prompts with 1-3 responses, several groups per row, grouped-query attention (3 query heads,
    1 key/value head): every scored token's log-prob and entropy agree within fp32 rounding."""
    gen = torch.Generator().manual_seed(5)

    def rnd(n):
        return tuple(torch.randint(3, 600, (n,), generator=gen).tolist())

    groups = [
        PromptGroup(rnd(9), (rnd(12), rnd(4), rnd(7))),
        PromptGroup(rnd(3), (rnd(20),)),
        PromptGroup(rnd(15), (rnd(6), rnd(9))),
    ]
    out = {}
    for kernel in ("flex", "sdpa"):
        model = load_model(tiny_model_dir, trainable=False, packed_attention=kernel)
        assert model.config._attn_implementation == f"ponder_packed_{kernel}"
        with torch.no_grad():
            for share in (True, False):
                lp = logprobs(model, pack(groups, share_prompt=share), return_entropy=True)
                out[kernel, share] = torch.cat([lp.tokens, lp.entropy])
    for share in (True, False):
        flex, sdpa = out["flex", share], out["sdpa", share]
        assert_close(flex, sdpa, factor=64)
    # and attention stays inside segments: the shared and separate layouts agree too
    assert_close(out["flex", True], out["sdpa", False], factor=64)

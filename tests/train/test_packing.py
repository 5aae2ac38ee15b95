"""Packing: layout by hand, then the fast paths against the slow ones on the nano model (fp32).

Packed, padded and prompt-shared batches compute the same sums over rows of different lengths, which
the attention and matmul kernels block differently: results agree to fp32 rounding of the largest value
compared, times a factor for the depth of the computation (tests/helpers.py).
"""

import pytest
import torch

from ponder.recipes.dpo import DPOConfig
from ponder.recipes.dpo.train import _pair_losses
from ponder.train.data import read_pair_records
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.model import load_model
from ponder.train.packing import PromptGroup, pack, pad, plan_microbatches
from tests.helpers import assert_close, grads

# Losses and log-probs: a sum of a few dozen token log-probs, each a log-softmax over the vocabulary after
# two transformer layers. Gradients: sums over every token of the batch through those layers. 64 roundings
# of the largest value leaves a wide margin (measured here: at most 3.5; the log-prob of ~19.6 that failed
# a bare 1e-6 on another CPU model was off by 0.8).
FACTOR = 64


def test_layout_of_a_shared_prompt_pair():
    """Prompt (10, 11, 12), chosen (20, 21), rejected (30,) packed after a plain group (5,) -> (6,).

    Row:        5  6 | 10 11 12 20 21 30
    index:      0  1 |  2  3  4  5  6  7
    positions:  0  1 |  0  1  2  3  4  3     (rejected continues the prompt at position 3)
    scored tokens and the positions predicting them: 6<-0, 20<-4, 21<-5, 30<-4 (the last prompt token)
    """
    b = pack([PromptGroup((5,), ((6,),)), PromptGroup((10, 11, 12), ((20, 21), (30,)))])
    assert b.input_ids.tolist() == [[5, 6, 10, 11, 12, 20, 21, 30]]
    assert b.position_ids.tolist() == [[0, 1, 0, 1, 2, 3, 4, 3]]
    assert b.targets.tolist() == [6, 20, 21, 30]
    assert b.predictors.tolist() == [0, 4, 5, 4]
    assert b.sequence.tolist() == [0, 1, 1, 2]
    assert b.lengths.tolist() == [1, 2, 1]
    seg = b.layout.segments[1]
    assert (seg.start, seg.prefix, seg.branches) == (2, 3, [2, 1])
    # the rejected token attends to the 3 prompt tokens and itself, not to the chosen tokens
    assert seg.masks[1].tolist() == [[True, True, True, True]]
    assert b.num_tokens == 8


def test_layout_without_sharing_and_padded():
    """Without sharing the prompt is repeated: 10 11 20 21 | 10 11 30 (7 tokens). Padded: two rows of 4."""
    g = PromptGroup((10, 11), ((20, 21), (30,)))
    b = pack([g], share_prompt=False)
    assert b.input_ids.tolist() == [[10, 11, 20, 21, 10, 11, 30]]
    assert b.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2]]
    assert b.predictors.tolist() == [1, 2, 5]
    p = pad([g], pad_id=0)
    assert p.input_ids.tolist() == [[10, 11, 20, 21], [10, 11, 30, 0]]
    assert p.attention_mask.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert list(zip(p.rows.tolist(), p.predictors.tolist(), strict=True)) == [(0, 1), (0, 2), (1, 1)]
    assert p.num_tokens == 7


def test_masks_skip_unscored_tokens():
    """A mask (multi-turn SFT) keeps tokens in the row but out of the scored set."""
    b = pack([PromptGroup((1, 2), ((3, 4, 5),), ((True, False, True),))])
    assert b.targets.tolist() == [3, 5] and b.predictors.tolist() == [1, 3] and b.lengths.tolist() == [2]


def test_plan_respects_the_budget_and_is_deterministic():
    """Sizes 5, 9, 3, 7, 2 (shared) into budgets of 10: first-fit decreasing gives {9}, {7, 3}, {5, 2}."""
    groups = [PromptGroup((1,) * (n - 1), ((2,),)) for n in (5, 9, 3, 7, 2)]
    plan = plan_microbatches(groups, 10)
    assert sorted(plan) == [[0, 4], [1], [2, 3]]
    assert plan == plan_microbatches(groups, 10)
    big = [PromptGroup((1,) * 20, ((2,),))]
    assert plan_microbatches(big, 10) == [[0]]  # too large for the budget: a micro-batch of its own


@pytest.fixture
def pairs(tokenizer, pair_file):
    enc = Encoder(tokenizer)
    return [enc.encode_pair(p, Where(pair_file, line)) for line, p in read_pair_records(pair_file)][:8]


@pytest.fixture
def policy_and_ref(model, tiny_model_dir):
    _perturb(model)  # move the policy away from the reference so the DPO loss is not flat
    return model, load_model(tiny_model_dir, trainable=False)


def _dpo(policy, ref, batch):
    policy.zero_grad()
    out = _pair_losses(DPOConfig(model="m", data=["d"], output="o", beta=0.1), policy, ref, batch, None)
    out.losses.mean().backward()  # the step loss: mean over pairs
    return out.losses.detach(), grads(policy).clone()


def test_packed_equals_padded_dpo_loss_and_gradients(policy_and_ref, pairs):
    policy, ref = policy_and_ref
    loss_packed, grad_packed = _dpo(policy, ref, pack(pairs))
    loss_padded, grad_padded = _dpo(policy, ref, pad(pairs))
    assert loss_packed.std() > 0.01  # the pairs differ: a real comparison, not a constant
    assert_close(loss_packed, loss_padded, factor=FACTOR)
    assert_close(grad_packed, grad_padded, factor=FACTOR)


def test_prompt_shared_equals_separate_dpo_loss_and_gradients(policy_and_ref, pairs):
    policy, ref = policy_and_ref
    loss_shared, grad_shared = _dpo(policy, ref, pack(pairs, share_prompt=True))
    loss_separate, grad_separate = _dpo(policy, ref, pack(pairs, share_prompt=False))
    assert_close(loss_shared, loss_separate, factor=FACTOR)
    assert_close(grad_shared, grad_separate, factor=FACTOR)


def test_packed_equals_padded_with_masks(model):
    """Masks (multi-turn SFT) and numbered masks (an RL dialogue's answers as separate sequences): packed and
    padded batches score the same tokens as the same sequences; log-probs, their per-sequence sums and the
    gradients agree."""
    gen = torch.Generator().manual_seed(3)

    def rnd(n):
        return tuple(torch.randint(3, 600, (n,), generator=gen).tolist())

    groups = [
        PromptGroup(rnd(6), (rnd(9),), ((True, True, False, False, False, True, True, True, True),)),
        PromptGroup(rnd(2), (rnd(4),)),
        # an RL dialogue: two answers (sequences 1 and 2) with a prompt between them, and a sibling branch
        PromptGroup(rnd(3), (rnd(7), rnd(2)), ((1, 1, 0, 0, 2, 2, 2), (1, 1))),
    ]
    out = []
    for batch in (pack(groups), pad(groups)):
        assert batch.lengths.tolist() == [6, 4, 2, 3, 2] and batch.num_sequences == 5
        assert batch.sequence.tolist() == [0] * 6 + [1] * 4 + [2] * 2 + [3] * 3 + [4] * 2
        model.zero_grad()
        lp = logprobs(model, batch)
        lp.sequences.sum().backward()
        out.append((lp.tokens.detach(), lp.sequences.detach(), grads(model).clone()))
    assert out[0][0].shape == (17,)
    for packed, padded in zip(out[0], out[1], strict=True):
        assert_close(packed, padded, factor=FACTOR)


def test_attention_never_crosses_segments(model):
    """Changing every token of the first group leaves the log-probs of the second group unchanged."""
    a = PromptGroup((7, 8, 9), ((10, 11),))
    b = PromptGroup((20, 21), ((22, 23, 24), (25,)))
    other = PromptGroup((100, 101, 102), ((103, 104),))
    with torch.no_grad():
        first = logprobs(model, pack([a, b])).sequences[1:]
        second = logprobs(model, pack([other, b])).sequences[1:]
        alone = logprobs(model, pack([b])).sequences
    # A leak across segments moves log-probs by ~1; rounding moves them by a few eps x |log-prob| (~20).
    assert_close(first, second, factor=FACTOR)
    assert_close(first, alone, factor=FACTOR)


def test_hidden_states_are_the_lm_head_inputs(model):
    """The returned hidden states, through the LM head, give the returned log-probs."""
    batch = pack([PromptGroup((7, 8, 9), ((10, 11), (12,)))])
    with torch.no_grad():
        lp = logprobs(model, batch, return_hidden=True, return_entropy=True)
        logits = model.lm_head(lp.hidden)
    assert lp.hidden.shape == (3, model.config.hidden_size)
    expected = torch.log_softmax(logits, -1).gather(-1, batch.targets[:, None])[:, 0]
    assert_close(lp.tokens, expected, factor=8)  # the same log-softmax, chunked vs whole: a few roundings
    assert lp.entropy.shape == (3,) and bool((lp.entropy > 0).all())


def test_gradient_checkpointing_keeps_the_layout(tiny_model_dir, pairs):
    """Recomputed activations in backward still see the packing layout: same loss and gradients."""
    out = []
    for ckpt in (False, True):
        policy = load_model(tiny_model_dir, gradient_checkpointing=ckpt)
        ref = load_model(tiny_model_dir, trainable=False)
        _perturb(policy)
        out.append(_dpo(policy, ref, pack(pairs)))
    assert_close(out[0][0], out[1][0], factor=FACTOR)
    assert_close(out[0][1], out[1][1], factor=FACTOR)


def _perturb(model):
    with torch.no_grad():
        gen = torch.Generator().manual_seed(0)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.02)

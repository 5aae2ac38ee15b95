"""RL samples to token groups: the stages of one dialogue are laid out once, each answer still its own sample."""

import pytest
import torch

from ponder.recipes.rl.batch import RLSample, encode_samples, microbatches, split
from ponder.train.encode import Encoder, Where
from ponder.train.logprobs import logprobs
from ponder.train.packing import PromptGroup, pack
from tests.helpers import assert_close

# a sum of a few dozen token log-probs through the nano model's layers (see tests/train/test_packing.py)
FACTOR = 64
W = Where("<test>")


def _user(text):
    return {"role": "user", "content": text}


def _said(text):
    return {"role": "assistant", "content": text}


def _sample(prompt, response, episode, stage, truncated=False):
    return RLSample(prompt, response, truncated, 0.0, stage, (episode, stage), episode)


def _samples():
    """Episode 0: fast (cut by its budget), verify, slow; episode 1: fast alone on the same question;
    episode 2: a turn whose prompt does not continue its episode's dialogue (a new question)."""
    q = [_user("Fast: 3 + 4?")]
    verify = [*q, _said("It is 8"), _user("Check 8. Yes or No?")]
    slow = [*verify, _said("\\boxed{No}"), _user("Not correct. Think:")]
    return [
        _sample(q, "It is 8", 0, "fast", truncated=True),
        _sample(verify, "\\boxed{No}", 0, "verify"),
        _sample(slow, "3 + 4 = 7. \\boxed{7}", 0, "slow"),
        _sample(q, "\\boxed{7}", 1, "fast"),
        _sample([_user("Fast: 5 + 1?")], "\\boxed{6}", 2, "fast"),
        _sample([_user("Think: 5 + 1?")], "\\boxed{6}", 2, "slow"),
    ]


def test_a_dialogue_is_one_sequence_and_each_answer_its_own_sample(tokenizer):
    samples = _samples()
    enc = encode_samples(Encoder(tokenizer), samples)
    assert enc.members == [[0, 1, 2, 3], [4], [5]]
    first = enc.groups[0]
    assert len(first.responses) == 2  # episode 0's dialogue and episode 1's answer share the question
    assert [first.sequences(0), first.sequences(1)] == [3, 1]
    alone = [Encoder(tokenizer).encode(s.prompt, [s.response], W, ["r"], prefix=s.truncated) for s in samples]
    for i in range(6):
        assert enc.lengths[i] == len(alone[i].responses[0])
    # the dialogue holds the slow prompt exactly: prompt + dialogue up to the slow answer
    labels = list(first.masks[0])
    slow_start = labels.index(3)
    assert list(first.prompt) + list(first.responses[0][:slow_start]) == list(alone[2].prompt)
    separate = sum(g.num_tokens() for g in alone)
    assert sum(g.num_tokens() for g in enc.groups) < 0.7 * separate


def test_chained_log_probs_equal_those_of_each_stage_alone(tokenizer, model):
    samples = _samples()
    enc = encode_samples(Encoder(tokenizer), samples)
    chained: dict[int, torch.Tensor] = {}
    for sids, batch in microbatches(enc, range(len(enc.groups)), 4096):
        for s, piece in zip(sids, split(logprobs(model, batch).tokens.detach(), batch.lengths), strict=True):
            chained[s] = piece
    encoder = Encoder(tokenizer)
    for i, s in enumerate(samples):
        g = encoder.encode(s.prompt, [s.response], W, ["r"], prefix=s.truncated)
        alone = logprobs(model, pack([PromptGroup(g.prompt, g.responses)])).tokens.detach()
        assert_close(chained[i], alone, factor=FACTOR)


def test_labels_must_number_sequences_in_order():
    PromptGroup((1,), ((2, 3, 4, 5),), ((1, 0, 2, 2),))
    for bad in ((2, 2, 0, 0), (1, 0, 3, 3), (2, 1, 0, 0), (1, -1, 0, 0)):
        with pytest.raises(ValueError, match="in order"):
            PromptGroup((1,), ((2, 3, 4, 5),), (bad,))

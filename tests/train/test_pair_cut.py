"""Pairs trained only where their sides part (``cut``): what is context, what is scored, and the margin."""

import math

import pytest
import torch

from ponder.records import Pair
from ponder.train.encode import Encoder, Where, first_difference
from ponder.train.logprobs import logprobs
from ponder.train.packing import pack
from tests.helpers import approx, assert_close

W = Where("pairs.jsonl", 1)
CHOSEN = "Step: 3 + 4 = 7\nStep: 7 + 5 = 12\nSo the answer is 12."
REJECTED = "Step: 3 + 4 = 8\nStep: 8 + 5 = 13\nSo the answer is 13."


def _pair(chosen=CHOSEN, rejected=REJECTED, **meta):
    return Pair(id="p", prompt="Add 3, 4 and 5.", chosen=chosen, rejected=rejected, meta=meta)


def _text(tok, ids):
    return tok.decode(list(ids))


def test_first_difference():
    assert first_difference([1, 2, 3], [1, 2, 4]) == 2
    assert first_difference([1, 2], [1, 2, 5]) == 2
    assert first_difference([5], [6, 7]) == 0
    assert first_difference([1, 2], [1, 2]) is None


@pytest.mark.parametrize("cut", ["first-token", "first-line"])
def test_shared_tokens_become_context_and_the_rest_is_dropped(tokenizer, cut):
    enc = Encoder(tokenizer)
    whole = enc.encode_pair(_pair(), W)
    g = enc.encode_pair(_pair(), W, cut)
    d = first_difference(whole.responses[0], whole.responses[1])
    assert list(g.prompt) == list(whole.prompt) + list(whole.responses[0][:d])
    assert _text(tokenizer, g.prompt).endswith("assistant\nStep: 3 + 4 = ")
    for side, full in zip(g.responses, whole.responses, strict=True):
        assert list(side) == list(full[d : d + len(side)])  # a piece of the response, from the difference on
    if cut == "first-token":
        assert [len(r) for r in g.responses] == [1, 1]
        assert (_text(tokenizer, g.responses[0]), _text(tokenizer, g.responses[1])) == ("7", "8")
    else:  # to the end of the first line: never the end-of-turn token, never the later lines
        assert (_text(tokenizer, g.responses[0]), _text(tokenizer, g.responses[1])) == ("7\n", "8\n")


def test_first_line_cut_ends_at_the_response_end_when_no_newline_follows(tokenizer):
    g = Encoder(tokenizer).encode_pair(_pair("The answer is 12.", "The answer is 13."), W, "first-line")
    assert (_text(tokenizer, g.responses[0]), _text(tokenizer, g.responses[1])) == (
        "2.<|im_end|>",
        "3.<|im_end|>",
    )


def test_a_side_that_is_a_prefix_of_the_other_keeps_the_last_shared_token(tokenizer):
    """A rejected prefix (cut by its budget) that the chosen response continues: the first difference is
    where the prefix ends; each side keeps the last shared token, so neither is empty."""
    enc = Encoder(tokenizer)
    p = _pair(chosen="Step: 3 + 4 = 7", rejected="Step: 3 + 4 = 7\nStep", chosen_prefix=True)
    whole = enc.encode_pair(p, W)
    g = enc.encode_pair(p, W, "first-token")
    n = len(whole.responses[0])
    assert list(g.prompt) == list(whole.prompt) + list(whole.responses[0][: n - 1])
    assert list(g.responses[0]) == list(whole.responses[0][n - 1 :])
    assert list(g.responses[1]) == list(whole.responses[1][n - 1 : n + 1])


def test_equal_sides_and_cut_none_are_left_whole(tokenizer):
    enc = Encoder(tokenizer)
    same = _pair(CHOSEN, CHOSEN)
    assert enc.encode_pair(same, W, "first-token") == enc.encode_pair(same, W)
    assert enc.encode_pair(_pair(), W, "none") == enc.encode_pair(_pair(), W)
    with pytest.raises(ValueError, match="cut must be one of"):
        enc.encode_pair(_pair(), W, "first-word")


def test_cut_margin_is_the_log_prob_gap_at_the_first_difference(tokenizer, model):
    """The scored margin of a first-token pair equals the whole pair's per-token log-probs at the first
    differing position: the prefix is context, nothing after the difference counts."""
    enc = Encoder(tokenizer)
    whole = enc.encode_pair(_pair(), W)
    d = first_difference(whole.responses[0], whole.responses[1])
    with torch.no_grad():
        full = logprobs(model, pack([whole]))
        cut = logprobs(model, pack([enc.encode_pair(_pair(), W, "first-token")]))
    n0 = len(whole.responses[0])
    at_d = torch.stack([full.tokens[d], full.tokens[n0 + d]])
    assert_close(cut.sequences, at_d, factor=256)  # another packing: other summation orders


def test_dpo_trains_the_cut_pairs_and_caches_their_reference_apart(tmp_path, tiny_model_dir, pair_file):
    """A DPO run with a cut scores fewer tokens than one on whole responses (the cut reaches the trainer),
    and precomputed reference log-probs are cached per cut: a cut run never reads a whole-response cache."""
    import json
    import shutil

    from ponder.recipes import dpo

    data = tmp_path / "pairs.jsonl"
    shutil.copy(pair_file, data)

    def run(name, **kw):
        cfg = dpo.DPOConfig(
            model=str(tiny_model_dir),
            data=[str(data)],
            output=str(tmp_path / name),
            pairs_per_step=16,
            max_steps=1,
            tensorboard=False,
            **kw,
        )
        dpo.run(cfg)
        return json.loads((tmp_path / name / "metrics.jsonl").read_text().splitlines()[0])

    whole = run("whole", precompute_ref=True)
    line = run("line", precompute_ref=True, cut="first-line")
    token = run("token", cut="first-token")
    # 16 pairs: the first-token cut scores one token a side, context counted once per pair
    assert token["tokens"] < line["tokens"] < whole["tokens"]
    assert len(list((tmp_path / ".ponder_ref").glob("pairs.jsonl.*.json"))) == 2
    for row in (line, token):  # policy = reference at the first step: every pair's loss is log 2
        assert row["loss"] == approx(math.log(2), factor=16)

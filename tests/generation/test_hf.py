import math

import pytest
import torch

from ponder.generation.base import SamplingParams, render_prompt
from ponder.generation.hf import HFGenerator, sample_next
from tests.helpers import ANSWER

QUESTIONS = [[{"role": "user", "content": f"Compute {i} * 3 + {i * i}."}] for i in range(5)]
PROMPTS = QUESTIONS + ["A raw text prompt: 1, 2, 3,"]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    return HFGenerator(tiny_model_dir, batch_size=64)


@pytest.fixture(scope="module")
def chatty(chatty_model_dir):
    return HFGenerator(chatty_model_dir, batch_size=8)


def test_sample_next_draws_from_the_renormalised_nucleus():
    """4,000 rows, each with its own generator, over p = (0.15, 0.5, 0.05, 0.3) for tokens 0..3.

    top_p = 0.7: sorted 0.5 (token 1), 0.3 (token 3), 0.15, 0.05. Token 3 is kept because the mass before
    it (0.5) is < 0.7; token 0 is dropped because the mass before it (0.8) is not. Renormalised:
    P(1) = 0.5/0.8 = 0.625, P(3) = 0.3/0.8 = 0.375; expected counts 2500 and 1500, sd sqrt(4000*.625*.375) = 30.6.
    temperature 2, top_p 1: P ~ p^(1/2) = (.3873, .7071, .2236, .5477) / 1.8657 = (.2076, .3790, .1198, .2936).
    temperature 0: always the argmax, token 1.
    """
    rows = 4000
    logits = torch.log(torch.tensor([0.15, 0.5, 0.05, 0.3])).repeat(rows, 1)
    gens = [torch.Generator().manual_seed(s) for s in range(rows)]

    def counts(t, p):
        out = sample_next(logits, torch.full((rows,), t), torch.full((rows,), p), gens)
        return torch.bincount(out, minlength=4).tolist()

    c = counts(1.0, 0.7)
    assert c[0] == c[2] == 0
    assert abs(c[1] - 2500) < 5 * 30.6 and abs(c[3] - 1500) < 5 * 30.6
    c = counts(2.0, 1.0)
    for k, p in enumerate((0.2076, 0.3790, 0.1198, 0.2936)):
        assert abs(c[k] - rows * p) < 5 * math.sqrt(rows * p * (1 - p)), (k, c)
    assert counts(0.0, 1.0) == [0, rows, 0, 0]
    assert counts(1.0, 1e-6) == [0, rows, 0, 0]  # a tiny nucleus keeps only the top token


def _reference_greedy(gen, prompt, max_new_tokens):
    tok = gen.tokenizer
    enc = tok(gen.prompt_text(prompt), add_special_tokens=False, return_tensors="pt")
    out = gen.model.generate(
        **enc,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=sorted(gen.eos_ids),
        pad_token_id=gen.pad_id,
    )
    new = out[0, enc.input_ids.shape[1] :].tolist()
    ended = bool(new) and new[-1] in gen.eos_ids
    return tok.decode(new[:-1] if ended else new, skip_special_tokens=True), len(new), ended


@pytest.mark.parametrize("which", ["tiny", "chatty"])
def test_greedy_matches_transformers_generate(which, request):
    gen = request.getfixturevalue(which)
    ours = gen.generate(PROMPTS, SamplingParams(temperature=0, max_new_tokens=12))
    for prompt, (c,) in zip(PROMPTS, ours, strict=True):
        text, n, ended = _reference_greedy(gen, prompt, 12)
        assert (c.text, c.num_tokens, c.finish_reason) == (text, n, "stop" if ended else "length")


def test_reproducible_with_a_seed_and_independent_of_batching(tiny):
    params = SamplingParams(n=3, temperature=1.0, max_new_tokens=24, seed=11)
    tiny.batch_size = 64
    first = tiny.generate(PROMPTS, params)
    assert tiny.generate(PROMPTS, params) == first
    assert tiny.generate(PROMPTS, params.replace(seed=12)) != first
    for batch_size in (1, 4):  # different batch composition, padding and pruning
        tiny.batch_size = batch_size
        assert tiny.generate(PROMPTS, params) == first
    tiny.batch_size = 64
    # Reversed order and extra prompts in the batch change nothing either (a resumed run sees fewer prompts).
    extra = [[{"role": "user", "content": "unrelated " * k}] for k in range(1, 4)]
    again = tiny.generate(extra + PROMPTS[::-1], params)
    assert again[len(extra) :][::-1] == first
    for comps in first:
        assert len(comps) == 3 and len({c.text for c in comps}) == 3


def test_honours_n_and_per_prompt_budgets(tiny):
    budgets = [3, 17, 1, 40, 9, 25]
    params = [SamplingParams(n=k % 3 + 1, max_new_tokens=b, seed=0) for k, b in enumerate(budgets)]
    out = tiny.generate(PROMPTS, params)
    for k, (comps, budget) in enumerate(zip(out, budgets, strict=True)):
        assert len(comps) == k % 3 + 1
        for c in comps:
            assert 1 <= c.num_tokens <= budget
            if c.finish_reason == "length":
                assert c.num_tokens == budget
    assert (
        sum(c.finish_reason == "length" for comps in out for c in comps) >= 8
    )  # the random model rarely ends
    stats = tiny.stats
    assert stats["completions"] == sum(len(c) for c in out)
    assert stats["generated_tokens"] == sum(c.num_tokens for comps in out for c in comps)


def test_stop_string_cuts_the_same_sample_before_it(tiny):
    free = tiny.generate(PROMPTS, SamplingParams(n=2, max_new_tokens=48, seed=5))
    checked = 0
    for prompt, comps in zip(PROMPTS, free, strict=True):
        for j, c in enumerate(comps):
            # An ASCII pair first seen after a few characters: the stopped sample must be the text before it.
            stops = [
                c.text[i : i + 2]
                for i in range(4, len(c.text) - 2)
                if c.text[i : i + 2].isascii()
                and c.text[i : i + 2].strip()
                and c.text.find(c.text[i : i + 2]) == i
            ]
            if not stops:
                continue
            stop = stops[0]
            (s,) = tiny.generate(
                [prompt], SamplingParams(n=j + 1, max_new_tokens=48, seed=5, stop=[stop, "@@@"])
            )[0][j:]
            assert s.text == c.text[: c.text.find(stop)]
            assert s.finish_reason == "stop" and s.num_tokens < c.num_tokens
            checked += 1
    assert checked >= 6


def test_eos_ends_the_answer_and_is_counted(chatty):
    """The chatty model answers 'ok 42' then <|im_end|>: k answer tokens + 1 eos token."""
    k = len(chatty.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    q = QUESTIONS[:2]
    assert (
        chatty.generate(q, SamplingParams(temperature=0, max_new_tokens=32))
        == [[_c(ANSWER, "stop", k + 1)]] * 2
    )
    # With a budget of exactly the answer the eos token does not fit: same text, finished by length.
    assert chatty.generate(q, SamplingParams(temperature=0, max_new_tokens=k))[0] == [_c(ANSWER, "length", k)]
    assert chatty.generate(q, SamplingParams(temperature=0, max_new_tokens=k + 1))[0] == [
        _c(ANSWER, "stop", k + 1)
    ]
    # A stop string is excluded from the text; the tokens up to it count.
    (c,) = chatty.generate(q[:1], SamplingParams(temperature=0, max_new_tokens=32, stop=[" 4"]))[0]
    assert c.text == "ok" and c.finish_reason == "stop" and 2 <= c.num_tokens <= k
    # include_stop keeps it (the end of an answer); the tokens are the same
    kept = SamplingParams(temperature=0, max_new_tokens=32, stop=[" 4"], include_stop=True)
    (d,) = chatty.generate(q[:1], kept)[0]
    assert d.text == "ok 4" and d.finish_reason == "stop" and d.num_tokens == c.num_tokens
    sampled = chatty.generate(q, SamplingParams(n=4, temperature=0.7, max_new_tokens=32, seed=0))
    assert sum(c == _c(ANSWER, "stop", k + 1) for comps in sampled for c in comps) >= 6


def test_raw_prompt_continues_an_assistant_prefix(chatty):
    text = render_prompt(chatty.tokenizer, QUESTIONS[0], "ok")
    (c,) = chatty.generate([text], SamplingParams(temperature=0, max_new_tokens=16))[0]
    assert c.text == " 42" and c.finish_reason == "stop"


def test_bfloat16_option(chatty_model_dir):
    gen = HFGenerator(chatty_model_dir, dtype="bfloat16")
    assert gen.model.dtype == torch.bfloat16
    (c,) = gen.generate(QUESTIONS[:1], SamplingParams(temperature=0, max_new_tokens=16))[0]
    assert (c.text, c.finish_reason) == (ANSWER, "stop")
    with pytest.raises(ValueError, match="dtype"):
        HFGenerator(chatty_model_dir, dtype="float16")


def test_budget_is_clamped_to_the_context(tiny):
    n_prompt = tiny.count_prompt_tokens(PROMPTS[0])
    saved = tiny.max_positions
    try:
        tiny.max_positions = n_prompt + 3
        out = tiny.generate(PROMPTS[:1], SamplingParams(n=2, max_new_tokens=50, seed=0))[0]
        assert [c.num_tokens for c in out] == [3, 3] or all(c.num_tokens <= 3 for c in out)
        tiny.max_positions = n_prompt
        assert tiny.generate(PROMPTS[:1], SamplingParams(max_new_tokens=50))[0] == [_c("", "length", 0)]
    finally:
        tiny.max_positions = saved


def test_a_loaded_model_needs_its_tokenizer(tiny):
    with pytest.raises(ValueError, match="tokenizer"):
        HFGenerator(tiny.model)
    same = HFGenerator(tiny.model, tiny.tokenizer)
    p = SamplingParams(n=2, max_new_tokens=8, seed=1)
    want = tiny.generate(PROMPTS, p)
    # A trainer's model in train mode with dropout: sampling must not use dropout, and must restore the mode.
    attns = [layer.self_attn for layer in tiny.model.model.layers]
    for a in attns:
        a.attention_dropout = 0.5
    tiny.model.train()
    try:
        x = torch.tensor([[5, 6, 7, 8, 9]])
        assert not torch.equal(tiny.model(x).logits, tiny.model(x).logits)  # dropout is really on
        assert same.generate(PROMPTS, p) == want
        assert tiny.model.training
    finally:
        for a in attns:
            a.attention_dropout = 0.0
        tiny.model.eval()


def _c(text, reason, n):
    from ponder.generation.base import Completion

    return Completion(text, reason, n)

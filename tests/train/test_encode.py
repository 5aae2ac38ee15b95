"""The log-prob convention: which tokens are the response, for ponder's template, a Qwen-style one and raw text."""

import copy

import pytest

from ponder.demos.pfpo import sum_problems
from ponder.errors import InputError
from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator, _Row
from ponder.records import Pair
from ponder.train.encode import Encoder, Where

# Like Qwen2.5's template: every message, the assistant's included, is followed by "\n".
QWEN_LIKE = (
    "{%- for m in messages %}{{- '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
# R1-distill style: no end-of-turn after the user message, the generation prompt opens a thinking block,
# and an assistant turn is rendered with its reasoning (everything before </think>) dropped.
R1_LIKE = (
    "{%- for m in messages %}{%- if m['role'] == 'user' %}{{- '<|im_start|>user\\n' + m['content'] }}"
    "{%- elif m['role'] == 'assistant' %}{%- set c = m['content'] %}"
    "{%- if '</think>' in c %}{%- set c = c.split('</think>')[-1] %}{%- endif %}"
    "{{- '<|im_start|>assistant\\n' + c + '<|im_end|>' }}{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n<think>\\n' }}{%- endif %}"
)
W = Where("data.jsonl", 3)


def _decode(tok, ids):
    return tok.decode(list(ids))


def test_response_is_content_and_end_of_turn(tokenizer):
    """ponder's template: the response is exactly ``content<|im_end|>``; prompt + response tokenise as the whole."""
    g = Encoder(tokenizer).encode("Compute 2 + 3.", ["So the answer is 5.", "5"], W, ["chosen", "rejected"])
    assert _decode(tokenizer, g.responses[0]) == "So the answer is 5.<|im_end|>"
    assert _decode(tokenizer, g.responses[1]) == "5<|im_end|>"
    assert (
        _decode(tokenizer, g.prompt) == "<|im_start|>user\nCompute 2 + 3.<|im_end|>\n<|im_start|>assistant\n"
    )
    full = tokenizer.apply_chat_template(
        [
            {"role": "user", "content": "Compute 2 + 3."},
            {"role": "assistant", "content": "So the answer is 5."},
        ],
        tokenize=False,
    )
    assert list(g.prompt) + list(g.responses[0]) == tokenizer(full, add_special_tokens=False)["input_ids"]


def test_trailing_newline_after_end_of_turn_is_not_part_of_the_response(tokenizer):
    """Qwen-style templates render ``content<|im_end|>\\n``: the newline is never generated, so it is left out."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = QWEN_LIKE
    g = Encoder(tok).encode("Q", ["A 1"], W, ["chosen"])
    assert _decode(tok, g.responses[0]) == "A 1<|im_end|>"
    assert _decode(tok, g.prompt) == "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n"


def test_conversational_pair_and_prefix_pairs(tokenizer):
    """Message lists render the same as text; a pair with meta.prefix drops the end-of-turn token."""
    enc = Encoder(tokenizer)
    text = enc.encode_pair(Pair(id="a", prompt="Q", chosen="Step 1", rejected="Step 2"), W)
    msgs = enc.encode_pair(
        Pair(
            id="a",
            prompt=[{"role": "user", "content": "Q"}],
            chosen=[{"role": "assistant", "content": "Step 1"}],
            rejected=[{"role": "assistant", "content": "Step 2"}],
        ),
        W,
    )
    assert text == msgs
    prefix = enc.encode_pair(
        Pair(id="a", prompt="Q", chosen="Step 1", rejected="Step 2", meta={"prefix": True}), W
    )
    assert _decode(tokenizer, prefix.responses[0]) == "Step 1"
    assert prefix.prompt == text.prompt and prefix.responses[1] == text.responses[1][:-1]


def test_raw_text_appends_eos_except_to_prefixes(tokenizer):
    enc = Encoder(tokenizer, chat_template=False)
    g = enc.encode("Compute 2 + 3. ", ["5"], W, ["completion"])
    assert _decode(tokenizer, g.prompt) == "Compute 2 + 3. "
    assert _decode(tokenizer, g.responses[0]) == "5" + tokenizer.eos_token
    p = enc.encode("Compute 2 + 3. ", ["5"], W, ["completion"], prefix=True)
    assert _decode(tokenizer, p.responses[0]) == "5"
    with pytest.raises(InputError, match=r"^data.jsonl:3: field 'chosen': is a list of messages"):
        enc.encode("Q", [[{"role": "assistant", "content": "A"}]], W, ["chosen"])


def test_max_length_cuts_the_prompt_from_the_left_never_the_response(tokenizer):
    long_prompt = "Compute " + " + ".join(str(i) for i in range(40)) + "."
    full = Encoder(tokenizer).encode(long_prompt, ["It is 780."], W, ["chosen"])
    n_resp = len(full.responses[0])
    enc = Encoder(tokenizer, max_length=n_resp + 5)
    cut = enc.encode(long_prompt, ["It is 780."], W, ["chosen"])
    assert cut.responses == full.responses
    assert cut.prompt == full.prompt[-5:] and enc.truncated == 1
    with pytest.raises(InputError, match=r"^data.jsonl:3: .*the response alone does not fit"):
        Encoder(tokenizer, max_length=n_resp).encode(long_prompt, ["It is 780."], W, ["chosen"])
    with pytest.raises(InputError, match=r"^data.jsonl:3: prompt \(\d+ tokens\) \+ response"):
        Encoder(tokenizer, max_length=n_resp + 5, overlong="error").encode(
            long_prompt, ["It is 780."], W, ["chosen"]
        )
    skip = Encoder(tokenizer, max_length=n_resp + 5, overlong="skip")
    assert skip.encode(long_prompt, ["It is 780."], W, ["chosen"]) is None and skip.skipped == 1


def test_conversation_scores_every_assistant_turn(tokenizer):
    """Scored tokens: both assistant turns with their end-of-turn; the user turn between them is context."""
    msgs = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    g = Encoder(tokenizer).encode_conversation(msgs, W)
    resp, mask = g.responses[0], g.masks[0]
    assert _decode(tokenizer, [t for t, m in zip(resp, mask, strict=True) if m]) == "A1<|im_end|>A2<|im_end|>"
    assert (
        _decode(tokenizer, [t for t, m in zip(resp, mask, strict=True) if not m])
        == "\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n"
    )
    full = tokenizer.apply_chat_template(msgs, tokenize=False)
    assert _decode(tokenizer, g.prompt + resp) == full


def test_assistant_turn_of_weight_zero_is_context(tokenizer):
    """A reply marked ``weight: 0`` (a shown answer to be checked) is in the sequence but not scored; the
    later turns see it as their context, token for token as a prompt-completion record would."""
    msgs = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "shown", "weight": 0},
        {"role": "user", "content": "Check"},
        {"role": "assistant", "content": "No"},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "A2"},
    ]
    enc = Encoder(tokenizer)
    g = enc.encode_conversation(msgs, W)
    resp, mask = g.responses[0], g.masks[0]
    assert _decode(tokenizer, [t for t, m in zip(resp, mask, strict=True) if m]) == "No<|im_end|>A2<|im_end|>"
    assert _decode(tokenizer, g.prompt + resp) == tokenizer.apply_chat_template(msgs, tokenize=False)
    alone = enc.encode(msgs[:3], ["No"], W, ["completion"])
    assert list(g.prompt) == list(alone.prompt)
    with pytest.raises(InputError, match=r"none, or all of weight 0"):
        enc.encode_conversation(msgs[:2], W)


def test_template_that_is_not_prefix_consistent_is_refused(tokenizer):
    """The generation prompt names another role than the rendered assistant turn: no split is possible."""
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = QWEN_LIKE.replace("'<|im_start|>assistant\\n'", "'<|im_start|>model\\n'")
    with pytest.raises(InputError, match=r"^data.jsonl:3: field 'chosen': the chat template does not render"):
        Encoder(tok).encode("Q", ["A"], W, ["chosen"])


def test_one_side_of_a_pair_can_be_a_prefix(tokenizer):
    """A rejected answer cut by its token budget (meta.rejected_prefix) never generated the end-of-turn token:
    only that side loses it; the chosen side is unchanged."""
    enc = Encoder(tokenizer)
    whole = enc.encode_pair(Pair(id="a", prompt="Q", chosen="Step 1", rejected="Step 2"), W)
    cut = enc.encode_pair(
        Pair(id="a", prompt="Q", chosen="Step 1", rejected="Step 2", meta={"rejected_prefix": True}), W
    )
    assert cut.responses[0] == whole.responses[0]
    assert cut.responses[1] == whole.responses[1][:-1] and _decode(tokenizer, cut.responses[1]) == "Step 2"
    raw = Encoder(tokenizer, chat_template=False).encode(
        "Q ", ["a", "b"], W, ["chosen", "rejected"], prefix=[False, True]
    )
    assert (
        _decode(tokenizer, raw.responses[0]) == "a" + tokenizer.eos_token
        and _decode(tokenizer, raw.responses[1]) == "b"
    )


def _r1(tokenizer):
    tok = copy.deepcopy(tokenizer)
    tok.chat_template = R1_LIKE
    return tok


def test_r1_style_template_prompt_opens_the_thinking_block(tokenizer):
    """The prompt ends with ``<think>\\n``; the response is the rest of what the model generates: the
    reasoning, ``</think>``, the answer and the end-of-turn token -- whether or not the record's content
    repeats the opening ``<think>``."""
    tok = _r1(tokenizer)
    enc = Encoder(tok)
    g = enc.encode("What is 2+3?", ["<think>\nadd them</think>\n\n5", "add them</think> 6"], W, ["c", "r"])
    assert _decode(tok, g.prompt) == "<|im_start|>user\nWhat is 2+3?<|im_start|>assistant\n<think>\n"
    assert _decode(tok, g.responses[0]) == "add them</think>\n\n5<|im_end|>"
    assert _decode(tok, g.responses[1]) == "add them</think> 6<|im_end|>"
    # prompt + response is what a model generating after the prompt has seen: the prompt text, then its output
    prompt_text = tok.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}], tokenize=False, add_generation_prompt=True
    )
    whole = tok(prompt_text + "add them</think>\n\n5<|im_end|>", add_special_tokens=False)["input_ids"]
    assert list(g.prompt) + list(g.responses[0]) == whole


def test_r1_style_template_pairs_prefixes_and_message_lists(tokenizer):
    """A prefix (cut by its budget) has no end-of-turn token; message lists encode like text."""
    enc = Encoder(_r1(tokenizer))
    text = enc.encode_pair(
        Pair(id="a", prompt="Q", chosen="long</think>A", rejected="short", meta={"rejected_prefix": True}), W
    )
    msgs = enc.encode_pair(
        Pair(
            id="a",
            prompt=[{"role": "user", "content": "Q"}],
            chosen=[{"role": "assistant", "content": "long</think>A"}],
            rejected=[{"role": "assistant", "content": "short"}],
            meta={"rejected_prefix": True},
        ),
        W,
    )
    assert text == msgs
    assert _decode(enc.tokenizer, text.responses[0]) == "long</think>A<|im_end|>"
    assert _decode(enc.tokenizer, text.responses[1]) == "short"


def test_r1_style_template_refuses_conversations(tokenizer):
    """Later turns would be rendered without the reasoning of earlier ones: refused, with what to do."""
    msgs = [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "r</think>A1"},
        {"role": "user", "content": "Q2"},
        {"role": "assistant", "content": "A2"},
    ]
    with pytest.raises(InputError, match=r"^data.jsonl:3: field 'messages': the chat template opens a block"):
        Encoder(_r1(tokenizer)).encode_conversation(msgs, W)


# --------------------------------------------------------------------------- pairs of sampled tokens


def test_pair_sides_re_tokenise_to_the_sampled_tokens(tiny_model_dir):
    """A sample is generated as token ids, decoded to text (samples.jsonl), then re-encoded by the trainer as
    the chosen side of an outcome pair. Both must give the same ids, or DPO scores sequences the model never
    produced: the prompt as the generator rendered it, the response as content + ``<|im_end|>`` (the token
    that stopped sampling), and as a prefix pair the same ids without ``<|im_end|>``."""
    problem = sum_problems(1, seed=0)[0]
    messages = [{"role": "user", "content": problem.prompt}]
    solution = problem.meta["solution"]
    gen = HFGenerator(str(tiny_model_dir), batch_size=1)
    enc = Encoder(gen.tokenizer, max_length=512)
    where = Where("pairs.jsonl", 1)

    sampled_prompt = gen.encode([gen.prompt_text(messages)])[0]
    gold = enc.encode(messages, [solution], where, ["chosen"])
    assert list(gold.prompt) == sampled_prompt
    tokens = list(gold.responses[0])
    end = gen.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokens[-1] == end and end in gen.eos_ids

    # What the generator writes to samples.jsonl for a row that sampled exactly these tokens.
    row = _Row(0, 0, sampled_prompt, SamplingParams(), budget=96, seed=0, tokens=tokens, finish="stop")
    completion = gen._completion(row)
    assert completion.text == solution
    assert completion.num_tokens == len(tokens)

    side = [{"role": "assistant", "content": completion.text}]
    pair = Pair(id="p", prompt=messages, chosen=side, rejected=side, meta={"kind": "outcome"})
    encoded = enc.encode_pair(pair, where)
    assert list(encoded.prompt) == sampled_prompt
    assert list(encoded.responses[0]) == tokens

    prefix = Pair(
        id="q", prompt=messages, chosen=side, rejected=side, meta={"kind": "process", "prefix": True}
    )
    assert list(enc.encode_pair(prefix, where).responses[0]) == tokens[:-1]

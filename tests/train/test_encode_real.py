"""Response masking on a real chat template (ChatML with a default system prompt), token by token.

The reference is the template's own rendering: the whole conversation is rendered and tokenised once with
character offsets; a token is the assistant's when its characters lie inside an assistant turn's content or
its ``<|im_end|>``. Training must score exactly those tokens, and feed exactly the rendering's tokens.
"""

import json

import pytest

from ponder.recipes.sft.train import encode_sft_file
from ponder.records import Pair
from ponder.train.encode import Encoder, Where
from ponder.train.packing import pack
from tests.real_model import CONVERSATIONS, DEFAULT_SYSTEM, reference

pytestmark = pytest.mark.real


def scored_positions(batch) -> list[int]:
    return sorted((batch.predictors + 1).tolist())


def test_default_system_prompt_is_rendered(real_tokenizer):
    text = real_tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True
    )
    assert text.startswith(f"<|im_start|>system\n{DEFAULT_SYSTEM}<|im_end|>\n<|im_start|>user\nhi")


def test_sft_scores_exactly_the_assistant_tokens(real_tokenizer, tmp_path):
    rows = {
        "conversation.jsonl": {"messages": CONVERSATIONS[1]},
        "completion.jsonl": {"prompt": CONVERSATIONS[0][:1], "completion": CONVERSATIONS[0][1]["content"]},
    }
    groups = []
    for name, row in rows.items():
        (tmp_path / name).write_text(json.dumps(row) + "\n")
        groups += encode_sft_file(str(tmp_path / name), Encoder(real_tokenizer))
    for group, messages in zip(groups, [CONVERSATIONS[1], CONVERSATIONS[0]], strict=True):
        ids, mask, text = reference(real_tokenizer, messages)
        batch = pack([group])
        fed = batch.input_ids[0].tolist()
        # The packed row is the rendering up to the last <|im_end|> (the newline after it is never generated).
        assert text.endswith("<|im_end|>\n") and fed == ids[: len(fed)] and len(fed) == len(ids) - 1
        assert scored_positions(batch) == [t for t, m in enumerate(mask) if m]
        assert batch.targets.tolist() == [ids[t] for t, m in enumerate(mask) if m]
        assert DEFAULT_SYSTEM in real_tokenizer.decode(group.prompt) or messages[0]["role"] == "system"
    # The conversation's scored text is its two assistant turns, each with its end-of-turn token, and nothing else.
    batch = pack([groups[0]])
    turns = [m["content"] + "<|im_end|>" for m in CONVERSATIONS[1] if m["role"] == "assistant"]
    assert real_tokenizer.decode(batch.targets.tolist()) == "".join(turns)


def test_dpo_pairs_score_each_side_exactly(real_tokenizer):
    prompt = CONVERSATIONS[0][:1]
    chosen, rejected = CONVERSATIONS[0][1]["content"], "It is \\boxed{43}."
    group = Encoder(real_tokenizer).encode_pair(
        Pair(id="p", prompt=prompt, chosen=chosen, rejected=rejected), Where("x")
    )
    for response, ids_resp in zip((chosen, rejected), group.responses, strict=True):
        ids, mask, _ = reference(real_tokenizer, [*prompt, {"role": "assistant", "content": response}])
        n = len(group.prompt)
        assert list(group.prompt) + list(ids_resp) == ids[: n + len(ids_resp)]
        assert [t for t, m in enumerate(mask) if m] == list(range(n, n + len(ids_resp)))
        assert real_tokenizer.decode(ids_resp) == response + "<|im_end|>"

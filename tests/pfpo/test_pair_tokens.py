"""The tokens DPO trains on are the tokens the model sampled: prompt and response, through the real hf
generator's rendering and decoding and the trainer's encoder, on a running-sum problem of the demo."""

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator, _Row
from ponder.recipes.pfpo_demo import sum_problems
from ponder.records import Pair
from ponder.train.encode import Encoder, Where


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

import pytest

from ponder.generation.base import (
    Completion,
    SamplingParams,
    check_prompt,
    cut_at_stop,
    derived_seed,
    first_stop,
    params_per_prompt,
    render_prompt,
    sample_seed,
)


def test_sampling_params_validate_every_field():
    assert SamplingParams(stop="###").stop == ("###",)
    assert SamplingParams(stop=["a", "b"]).stop == ("a", "b")
    for bad in (
        {"n": 0},
        {"temperature": -0.1},
        {"top_p": 0.0},
        {"top_p": 1.5},
        {"max_new_tokens": 0},
        {"stop": [""]},
        {"seed": 1.5},
        {"seed": True},
    ):
        with pytest.raises(ValueError, match=next(iter(bad))):
            SamplingParams(**bad)
    p = SamplingParams(max_new_tokens=64, seed=3)
    assert p.replace(max_new_tokens=8) == SamplingParams(max_new_tokens=8, seed=3)
    with pytest.raises(ValueError):
        Completion("x", "eos", 1)


def test_params_per_prompt():
    p, q = SamplingParams(max_new_tokens=4), SamplingParams(max_new_tokens=9)
    assert params_per_prompt(p, 3) == [p, p, p]
    assert params_per_prompt([p, q], 2) == [p, q]
    with pytest.raises(ValueError, match="2 SamplingParams for 3 prompts"):
        params_per_prompt([p, q], 3)


def test_check_prompt():
    assert check_prompt("raw") == "raw"
    msgs = [{"role": "user", "content": "hi"}]
    assert check_prompt(msgs) is msgs
    for bad in ([], [{"role": "user"}], [{"role": 1, "content": "x"}], 3, None):
        with pytest.raises(ValueError, match="prompt 7"):
            check_prompt(bad, 7)


def test_first_stop_finds_the_earliest_of_several():
    assert first_stop("abc END x STOP", ["STOP", "END"]) == 4
    assert first_stop("abc", ["x"]) == -1
    assert first_stop("a.b.", ["."], start=2) == 3


def test_cut_at_stop_drops_or_keeps_the_earliest_stop_string():
    assert cut_at_stop("x \\boxed{g}\nmore}", ["}"]) == ("x \\boxed{g", True)
    assert cut_at_stop("x \\boxed{g}\nmore}", ["}"], keep=True) == ("x \\boxed{g}", True)
    # of two starting at the same place the longer is kept whole; the earliest start wins
    assert cut_at_stop("a}}b}", ["}", "}}"], keep=True) == ("a}}", True)
    assert cut_at_stop("ab END STOP", ["STOP", "END"], keep=True) == ("ab END", True)
    assert cut_at_stop("no stop here", ["}"], keep=True) == ("no stop here", False)


def test_seeds_depend_on_exactly_their_inputs():
    base = sample_seed(0, "prompt", 0)
    assert base == sample_seed(0, "prompt", 0)
    assert (
        len({base, sample_seed(1, "prompt", 0), sample_seed(0, "prompt!", 0), sample_seed(0, "prompt", 1)})
        == 4
    )
    assert 0 <= base < 2**63
    assert derived_seed(5, 0) != derived_seed(5, 1) and 0 <= derived_seed(5, 1) < 2**31


def test_render_prompt_appends_the_prefix_to_the_generation_prompt(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    text = render_prompt(tok, msgs, "Step 1:")
    assert (
        text
        == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nStep 1:"
    )
    # Continuing the prefix and closing the turn gives exactly the full conversation's rendering.
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "Step 1: 7"}], tokenize=False)
    assert full == text + " 7" + tok.eos_token

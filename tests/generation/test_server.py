"""``ponder serve`` spoken to directly over HTTP (the answers' shapes, usage, errors)."""

import threading

import httpx
import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.hf import HFGenerator
from tests.helpers import ANSWER


def post(server, path, body, status=200):
    r = httpx.post(f"{server.url}/{path}", json=body, timeout=60)
    assert r.status_code == status, r.text
    return r.json()


def test_models_and_health(tiny_server):
    data = httpx.get(f"{tiny_server.url}/models").json()
    assert [m["id"] for m in data["data"]] == ["nano"] and data["object"] == "list"
    assert httpx.get(f"{tiny_server.url}/models/nano").json()["id"] == "nano"
    assert httpx.get(tiny_server.url.removesuffix("/v1") + "/health").json() == {"status": "ok"}
    assert httpx.get(f"{tiny_server.url}/nothing").status_code == 404


def test_chat_completion_shape_and_usage(chatty_server, chatty_model_dir):
    tok = HFGenerator(chatty_model_dir).tokenizer
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
    r = post(
        chatty_server,
        "chat/completions",
        {"model": "chatty", "messages": messages, "n": 2, "temperature": 0, "max_tokens": 16},
    )
    assert r["object"] == "chat.completion" and r["model"] == "chatty"
    assert [c["index"] for c in r["choices"]] == [0, 1]
    assert all(
        c["message"] == {"role": "assistant", "content": ANSWER} and c["finish_reason"] == "stop"
        for c in r["choices"]
    )
    k = len(tok(ANSWER, add_special_tokens=False)["input_ids"])
    n_prompt = len(
        tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=True)[
            "input_ids"
        ]
    )
    assert r["usage"] == {
        "prompt_tokens": n_prompt,
        "completion_tokens": 2 * (k + 1),
        "total_tokens": n_prompt + 2 * (k + 1),
    }
    # Content given as a list of text parts (as the OpenAI SDK may send it) means the same.
    parts = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is "}, {"type": "text", "text": "2 + 2?"}],
        }
    ]
    r2 = post(
        chatty_server, "chat/completions", {"messages": parts, "temperature": 0, "max_completion_tokens": 16}
    )
    assert r2["choices"][0]["message"]["content"] == ANSWER


def test_completions_with_several_prompts_n_stop_and_seed(tiny_server, tiny_model_dir):
    body = {"model": "nano", "prompt": ["1, 2,", "x = "], "n": 2, "max_tokens": 12, "seed": 9, "top_p": 0.95}
    r = post(tiny_server, "completions", body)
    assert r["object"] == "text_completion" and [c["index"] for c in r["choices"]] == [0, 1, 2, 3]
    local = HFGenerator(tiny_model_dir).generate(
        ["1, 2,", "x = "], SamplingParams(n=2, max_new_tokens=12, seed=9, top_p=0.95)
    )
    assert [c["text"] for c in r["choices"]] == [c.text for comps in local for c in comps]
    assert r["usage"]["completion_tokens"] == sum(c.num_tokens for comps in local for c in comps)
    assert post(tiny_server, "completions", body)["choices"] == r["choices"]  # same seed, same answer
    stop = r["choices"][0]["text"][3:5]
    r3 = post(tiny_server, "completions", {**body, "prompt": "1, 2,", "n": 1, "stop": stop})
    text = r3["choices"][0]["text"]
    assert (
        r3["choices"][0]["finish_reason"] == "stop"
        and stop not in text
        and r["choices"][0]["text"].startswith(text)
    )


def test_concurrent_requests_are_batched_and_each_answered(tiny_server):
    results = {}

    def ask(i):
        results[i] = post(tiny_server, "completions", {"prompt": f"{i} + {i} =", "max_tokens": 8, "seed": i})

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(6):
        assert results[i] == {**results[i], "choices": results[i]["choices"]}
        again = post(tiny_server, "completions", {"prompt": f"{i} + {i} =", "max_tokens": 8, "seed": i})
        assert again["choices"] == results[i]["choices"]  # batching with others changed nothing


@pytest.mark.parametrize(
    "body, param, message",
    [
        ({"prompt": "x", "stream": True}, "stream", "'stream' is not supported"),
        ({"prompt": "x", "logprobs": 2}, "logprobs", "'logprobs' is not supported"),
        ({"prompt": "x", "temperature": -1}, None, "temperature must be >= 0"),
        ({"prompt": "x", "max_tokens": "10"}, "max_tokens", "'max_tokens' must be an integer"),
        ({"prompt": "x", "stop": [1]}, "stop", "'stop' must be a string or a list of strings"),
        (
            {"prompt": "x", "response_format": {"type": "yaml"}},
            "response_format",
            "'response_format' must be",
        ),
        ({"prompt": 5}, "prompt", "'prompt' must be a string"),
    ],
)
def test_bad_requests_get_400_naming_the_field(tiny_server, body, param, message):
    err = post(tiny_server, "completions", body, status=400)["error"]
    assert message in err["message"] and err["param"] == param and err["type"] == "invalid_request_error"


def test_bad_chat_requests_and_bad_json(tiny_server):
    err = post(tiny_server, "chat/completions", {"messages": []}, status=400)["error"]
    assert err["param"] == "messages"
    err = post(
        tiny_server,
        "chat/completions",
        {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
        status=400,
    )["error"]
    assert "only text content parts" in err["message"]
    r = httpx.post(
        f"{tiny_server.url}/completions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
    # The server is still fine afterwards.
    assert (
        post(tiny_server, "completions", {"prompt": "ok", "max_tokens": 1})["usage"]["completion_tokens"] == 1
    )

"""The openai backend: against a real ``ponder serve`` subprocess, and against small stdlib HTTP servers on
127.0.0.1 that misbehave on purpose (rate limits, 5xx, slow answers) to check retries, timeouts and concurrency."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ponder.errors import PonderError
from ponder.generation.base import SamplingParams, derived_seed
from ponder.generation.hf import HFGenerator
from ponder.generation.openai import OpenAIGenerator
from tests.helpers import ANSWER

QUESTIONS = [[{"role": "user", "content": f"Compute {i} + {2 * i}."}] for i in range(3)]
RAW = ["1, 2, 3,", "Once upon"]


def test_matches_the_hf_backend_sample_for_sample(tiny_server, tiny_model_dir):
    """Sample j goes out as its own request with seed derived_seed(seed, j); the server answers it as the hf
    backend's sample 0 under that seed. So the HTTP path must give exactly the in-process samples."""
    params = SamplingParams(n=3, temperature=1.0, top_p=0.9, max_new_tokens=20, seed=4)
    with OpenAIGenerator("nano", tiny_server.url, concurrency=4) as remote:
        got = remote.generate(QUESTIONS + RAW, params)
        assert remote.list_models() == ["nano"]
    local = HFGenerator(tiny_model_dir)
    for prompt, comps in zip(QUESTIONS + RAW, got, strict=True):
        want = [
            local.generate([prompt], params.replace(n=1, seed=derived_seed(4, j)))[0][0] for j in range(3)
        ]
        assert comps == want
    assert len({c.text for c in got[0]}) == 3


def test_chat_answers_with_eos_usage_and_stop(chatty_server, chatty_model_dir):
    local = HFGenerator(chatty_model_dir)
    k = len(local.tokenizer(ANSWER, add_special_tokens=False)["input_ids"])
    with OpenAIGenerator("chatty", chatty_server.url, max_tokens_field="max_completion_tokens") as remote:
        out = remote.generate(QUESTIONS, SamplingParams(n=2, temperature=0, max_new_tokens=32))
        assert all(
            c.text == ANSWER and c.finish_reason == "stop" and c.num_tokens == k + 1
            for comps in out
            for c in comps
        )
        ((c,),) = remote.generate(QUESTIONS[:1], SamplingParams(temperature=0, max_new_tokens=3))
        assert (c.finish_reason, c.num_tokens) == ("length", 3)
        ((c,),) = remote.generate(
            QUESTIONS[:1], SamplingParams(temperature=0, max_new_tokens=32, stop=[" 4"])
        )
        assert (c.text, c.finish_reason) == ("ok", "stop")
        # JSON mode is passed through and accepted (not enforced by ponder serve).
        fmt = {"type": "json_object"}
        ((c,),) = remote.generate(
            QUESTIONS[:1], SamplingParams(temperature=0, max_new_tokens=32, response_format=fmt)
        )
        assert c.text == ANSWER


def test_include_stop_is_refused_before_any_request():
    # the OpenAI API cannot keep a stop string; nothing is sent to the (absent) server
    with OpenAIGenerator("m", "http://127.0.0.1:9/v1") as remote:
        with pytest.raises(ValueError, match="include_stop"):
            remote.generate(["hi"], SamplingParams(stop=["}"], include_stop=True))
        # without stop strings there is nothing to keep (the environments always ask for it)
        path, body = remote.request_body("hi", SamplingParams(include_stop=True), 0)
        assert path == "completions" and "stop" not in body


def test_unknown_model_fails_at_once_with_the_server_message(tiny_server):
    with OpenAIGenerator("nope", tiny_server.url, max_retries=5, backoff_s=10) as remote:
        start = time.monotonic()
        with pytest.raises(PonderError, match="HTTP 404: The model `nope` does not exist"):
            remote.generate(RAW, SamplingParams(max_new_tokens=2))
        assert time.monotonic() - start < 5  # 404 is not retried (a retry would sleep >= 5 s)


class Flaky:
    """A stdlib HTTP server on 127.0.0.1 whose answers follow a script: a list of (status, delay_s)."""

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        flaky = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with flaky.lock:
                    k = flaky.calls
                    flaky.calls += 1
                    flaky.in_flight += 1
                    flaky.max_in_flight = max(flaky.max_in_flight, flaky.in_flight)
                status, delay = flaky.script[k] if k < len(flaky.script) else (200, 0.0)
                time.sleep(delay)
                with flaky.lock:
                    flaky.in_flight -= 1
                if status == 200:
                    data = {
                        "choices": [
                            {"index": 0, "text": f"echo {body['prompt']}", "finish_reason": "length"}
                        ],
                        "usage": {
                            "prompt_tokens": 1,
                            "completion_tokens": body["max_tokens"],
                            "total_tokens": 2,
                        },
                    }
                else:
                    data = {"error": {"message": f"scripted {status}"}}
                raw = json.dumps(data).encode()
                try:
                    self.send_response(status)
                    if status == 429:
                        self.send_header("Retry-After", "0")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky(request):
    server = Flaky(request.param)
    yield server
    server.close()


@pytest.mark.parametrize("flaky", [[(429, 0), (503, 0), (500, 0)]], indirect=True)
def test_retries_rate_limits_and_server_errors(flaky):
    with OpenAIGenerator("m", flaky.url, backoff_s=0.01, max_retries=3) as remote:
        ((c,),) = remote.generate(["hi"], SamplingParams(max_new_tokens=7))
    assert (c.text, c.finish_reason, c.num_tokens) == ("echo hi", "length", 7)
    assert flaky.calls == 4


@pytest.mark.parametrize("flaky", [[(503, 0)] * 10], indirect=True)
def test_gives_up_after_max_retries(flaky):
    with OpenAIGenerator("m", flaky.url, backoff_s=0.01, max_retries=2) as remote:
        with pytest.raises(PonderError, match="gave up after 3 attempts; last: HTTP 503: scripted 503"):
            remote.generate(["hi"], SamplingParams(max_new_tokens=1))
    assert flaky.calls == 3


@pytest.mark.parametrize("flaky", [[(400, 0)]], indirect=True)
def test_client_errors_are_not_retried(flaky):
    with OpenAIGenerator("m", flaky.url, backoff_s=0.01) as remote:
        with pytest.raises(PonderError, match="HTTP 400: scripted 400"):
            remote.generate(["hi"], SamplingParams(max_new_tokens=1))
    assert flaky.calls == 1


@pytest.mark.parametrize("flaky", [[(200, 2.0), (200, 0)]], indirect=True)
def test_a_request_that_times_out_is_retried(flaky):
    with OpenAIGenerator("m", flaky.url, timeout_s=0.3, backoff_s=0.01, max_retries=1) as remote:
        ((c,),) = remote.generate(["x"], SamplingParams(max_new_tokens=2))
    assert c.text == "echo x" and flaky.calls == 2


def test_connection_errors_are_retried_then_reported():
    import socket

    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with OpenAIGenerator("m", f"http://127.0.0.1:{port}/v1", backoff_s=0.01, max_retries=2) as remote:
        with pytest.raises(PonderError, match="gave up after 3 attempts; last: ConnectError"):
            remote.generate(["x"], SamplingParams(max_new_tokens=1))


@pytest.mark.parametrize("flaky", [[(200, 0.15)] * 24], indirect=True)
def test_concurrency_limit(flaky):
    with OpenAIGenerator("m", flaky.url, concurrency=3) as remote:
        out = remote.generate([f"p{i}" for i in range(8)], SamplingParams(n=3, max_new_tokens=1))
    assert [c.text for c in out[5]] == ["echo p5"] * 3
    assert flaky.calls == 24 and flaky.max_in_flight == 3

"""``ponder serve``'s guards, spoken to over raw sockets on 127.0.0.1: body size, Content-Length, silent
clients, the connection cap, limits on n / max_tokens / prompts, API key, Host header, and one failing
request never failing the requests batched with it.

The server runs in this process (a real ``OpenAIServer`` on a free port, the real hf backend); one test
starts ``ponder serve`` to check the command's options. Socket reads wait at most ``HANG_S``: a hang
detector, not a speed requirement.
"""

import json
import shutil
import socket
import threading
import time

import httpx
import pytest

from ponder.generation.base import SamplingParams
from ponder.generation.batcher import _Job
from ponder.generation.hf import HFGenerator
from ponder.generation.server import OpenAIServer
from ponder.generation.server_requests import ServerLimits
from tests.helpers import Server

HANG_S = 30
KEY = "sekret"
LIMITS = ServerLimits(
    max_body_bytes=64 << 10,
    socket_timeout_s=1.0,
    max_connections=3,
    max_n=4,
    max_tokens=32,
    max_prompts=3,
    api_key=KEY,
)
# A chat template that refuses one role, as many real templates refuse roles out of order.
REFUSE = "{%- for m in messages %}{%- if m['role'] == 'banana' %}{{ raise_exception('no bananas') }}{%- endif %}{%- endfor %}"


@pytest.fixture(scope="module")
def strict_model_dir(tiny_model_dir, tmp_path_factory):
    dst = tmp_path_factory.mktemp("strict") / "strict"
    shutil.copytree(tiny_model_dir, dst)
    template = dst / "chat_template.jinja"
    template.write_text(REFUSE + template.read_text())
    return dst


@pytest.fixture(scope="module")
def server(strict_model_dir):
    srv = OpenAIServer(("127.0.0.1", 0), HFGenerator(strict_model_dir), "strict", log=False, limits=LIMITS)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _port(server):
    return server.server_address[1]


def raw(server, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send ``head`` (request line and headers, CRLF-separated, no blank line) and ``body``; return the
    status and the whole answer (the server closes: ``Connection: close`` is sent)."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=HANG_S) as s:
        s.sendall(head.encode() + b"\r\nConnection: close\r\n\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1]), data


def _head(server, method="POST", path="/v1/completions", **headers):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{_port(server)}", f"Authorization: Bearer {KEY}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return "\r\n".join(lines)


def post(server, body, *, key=KEY, host=None, path="completions"):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if host:
        headers["Host"] = host
    return httpx.post(
        f"http://127.0.0.1:{_port(server)}/v1/{path}", json=body, headers=headers, timeout=HANG_S
    )


@pytest.mark.parametrize("value", ["-1", "abc", "1e3", "12x", "+5"])
def test_a_negative_or_invalid_content_length_gets_400(server, value):
    status, data = raw(server, _head(server, Content_Length=value))
    assert status == 400 and b"Content-Length must be a non-negative integer" in data


def test_a_body_over_the_limit_gets_413_without_being_read(server):
    status, data = raw(server, _head(server, Content_Length=64 << 20))  # claims 64 MiB, sends nothing
    assert status == 413 and b"more than this server accepts (65536)" in data


def test_a_chunked_body_gets_411(server):
    status, _ = raw(server, _head(server, Transfer_Encoding="chunked"), b"5\r\nhello\r\n0\r\n\r\n")
    assert status == 411


def test_a_silent_client_loses_its_connection(server):
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=HANG_S) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and then nothing
        assert s.recv(1024) == b""  # closed by the server after its socket timeout


def test_connections_beyond_the_cap_get_503_at_once(server):
    idle = [socket.create_connection(("127.0.0.1", _port(server)), timeout=HANG_S) for _ in range(3)]
    try:
        status, data = raw(server, _head(server, "GET", "/v1/models"))
        assert status == 503 and b"too many connections" in data
    finally:
        for s in idle:
            s.close()
    deadline = time.monotonic() + HANG_S
    while (
        status := raw(server, _head(server, "GET", "/v1/models"))[0]
    ) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)  # the idle connections' threads end as they see the close
    assert status == 200


@pytest.mark.parametrize(
    "body, param, message",
    [
        ({"prompt": "x", "n": 5}, "n", "'n' must be at most 4 on this server, got 5"),
        (
            {"prompt": "x", "max_tokens": 33},
            "max_tokens",
            "'max_tokens' must be at most 32 on this server, got 33",
        ),
        (
            {"prompt": ["a", "b", "c", "d"]},
            "prompt",
            "'prompt' may hold at most 3 prompts on this server, got 4",
        ),
    ],
)
def test_requests_over_the_work_limits_get_400(server, body, param, message):
    r = post(server, body)
    assert r.status_code == 400
    assert r.json()["error"]["message"] == message and r.json()["error"]["param"] == param


def test_the_api_key_is_required_except_for_health(server):
    body = {"prompt": "x", "max_tokens": 2}
    r = post(server, body, key=None)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"
    assert post(server, body, key="wrong").status_code == 401
    assert post(server, body).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{_port(server)}/health", timeout=HANG_S).status_code == 200
    assert httpx.get(f"http://127.0.0.1:{_port(server)}/v1/models", timeout=HANG_S).status_code == 401


def test_the_host_header_must_name_this_server(server):
    body = {"prompt": "x", "max_tokens": 2}
    r = post(server, body, host="attacker.example")
    assert r.status_code == 403 and "Host 'attacker.example' is not allowed" in r.json()["error"]["message"]
    assert post(server, body, host=f"localhost:{_port(server)}").status_code == 200
    assert post(server, body, host=f"[::1]:{_port(server)}").status_code == 200
    status, _ = raw(server, f"GET /v1/models HTTP/1.1\r\nAuthorization: Bearer {KEY}")  # no Host at all
    assert status == 403


def test_a_failing_request_fails_alone_in_its_batch(server):
    """Three requests in one batch, the middle one refused by the chat template: the other two are answered,
    exactly as they are when run alone, and the refused one gets its error."""
    params = SamplingParams(max_new_tokens=6, seed=3)
    good = [{"role": "user", "content": "2 + 2?"}]
    jobs = [
        _Job(p, params, results=[None]) for p in ([good], [[{"role": "banana", "content": "x"}]], ["1, 2,"])
    ]
    server.batcher._run(jobs)  # one batch, as the worker thread runs it
    assert all(j.done.is_set() for j in jobs)
    assert jobs[0].error is None and jobs[2].error is None
    assert "no bananas" in str(jobs[1].error)
    alone = HFGenerator(server.generator.model, server.generator.tokenizer).generate([good, "1, 2,"], params)
    assert [jobs[0].results[0][0].text, jobs[2].results[0][0].text] == [alone[0][0].text, alone[1][0].text]
    # Over HTTP the refused request gets 400 with the template's reason, and the server keeps serving.
    r = post(
        server, {"messages": [{"role": "banana", "content": "x"}], "max_tokens": 2}, path="chat/completions"
    )
    assert r.status_code == 400 and "no bananas" in r.json()["error"]["message"]
    assert post(server, {"messages": good, "max_tokens": 2}, path="chat/completions").status_code == 200


def test_the_serve_command_passes_its_limits(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("PONDER_TEST_KEY", KEY)
    srv = Server(
        tiny_model_dir,
        "nano",
        tmp_path / "serve.log",
        extra=("--api-key-env", "PONDER_TEST_KEY", "--max-n", "2", "--max-body-mb", "0.001"),
    )
    try:
        auth = {"Authorization": f"Bearer {KEY}"}
        url = f"{srv.url}/completions"
        assert httpx.post(url, json={"prompt": "x", "max_tokens": 1}, timeout=HANG_S).status_code == 401
        r = httpx.post(url, json={"prompt": "x", "max_tokens": 1, "n": 3}, headers=auth, timeout=HANG_S)
        assert r.status_code == 400 and r.json()["error"]["param"] == "n"
        r = httpx.post(url, json={"prompt": "x" * 2000, "max_tokens": 1}, headers=auth, timeout=HANG_S)
        assert r.status_code == 413
        r = httpx.post(url, json={"prompt": "x", "max_tokens": 1, "n": 2}, headers=auth, timeout=HANG_S)
        assert r.status_code == 200 and len(r.json()["choices"]) == 2
    finally:
        srv.stop()


def test_json_bombs_in_the_body_get_400(server):
    for body in (b"[" * 30_000 + b"]" * 30_000, b'{"prompt": "x", "n": ' + b"9" * 5000 + b"}"):
        status, data = raw(server, _head(server, Content_Length=len(body)), body)
        assert status == 400, data
    assert json.loads(raw(server, _head(server, "GET", "/health"))[1].split(b"\r\n\r\n", 1)[1]) == {
        "status": "ok"
    }

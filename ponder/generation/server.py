"""``ponder serve``: an OpenAI-compatible HTTP server over a local generator (the hf backend by default).

Endpoints: ``GET /v1/models``, ``GET /v1/models/{name}``, ``GET /health``, ``POST /v1/chat/completions`` and
``POST /v1/completions``. Request fields understood: ``model``, ``messages`` / ``prompt`` (a string or a list
of strings), ``n``, ``temperature`` (default 1), ``top_p`` (default 1), ``max_tokens`` or
``max_completion_tokens`` (default: the rest of the model's context), ``stop`` (a string or a list),
``seed`` and ``response_format``. ``response_format`` is accepted (``text``, ``json_object``, ``json_schema``)
but NOT enforced: decoding is unconstrained, so clients must parse the answer defensively. Fields that would
change the answer and are not implemented (``stream``, ``logprobs``, ``echo``, penalties, ``logit_bias``,
``tools``, ...) are refused with HTTP 400 rather than silently ignored; other unknown fields are ignored.

Answers carry ``usage`` (``prompt_tokens`` counted once per prompt, ``completion_tokens`` summed over choices,
each choice's count as defined in :mod:`ponder.generation.base`). With ``seed``, choice ``j`` equals sample
``j`` of the hf backend with that seed: requests are reproducible whatever else the server is doing.

Requests arriving together are batched: HTTP threads put them on a queue and one worker thread runs all
waiting prompts through the generator at once, answering each request as soon as its prompts are done.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ponder.config import option
from ponder.errors import PonderError
from ponder.generation.backend import BackendSettings, model_name
from ponder.generation.base import Completion, Generator, Prompt, SamplingParams, check_prompt

REFUSED = {
    "stream": "streaming",
    "logprobs": "logprobs",
    "top_logprobs": "logprobs",
    "echo": "echo",
    "suffix": "suffix",
    "logit_bias": "logit_bias",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "tools": "tools",
    "functions": "functions",
}
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


class RequestError(Exception):
    def __init__(self, message: str, status: int = 400, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass
class _Job:
    prompts: list[Prompt]
    params: SamplingParams
    done: threading.Event = field(default_factory=threading.Event)
    results: list[list[Completion] | None] = field(default_factory=list)
    prompt_tokens: int = 0
    error: BaseException | None = None


class Batcher:
    """Runs the prompts of concurrent requests through one generator together (one worker thread)."""

    def __init__(self, generator: Generator, max_prompts: int = 256):
        self.generator = generator
        # Tokenizers are used from this one thread only (fast tokenizers are not safe to share across threads).
        self.count_tokens = getattr(generator, "count_prompt_tokens", None)
        self.max_prompts = max_prompts
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="ponder-batcher", daemon=True)
        self._thread.start()

    def submit(self, prompts: list[Prompt], params: SamplingParams) -> tuple[list[list[Completion]], int]:
        """Completions for each prompt, and the number of prompt tokens (0 if the generator cannot count)."""
        job = _Job(prompts, params, results=[None] * len(prompts))
        self._queue.put(job)
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.results, job.prompt_tokens  # type: ignore[return-value]

    def _loop(self) -> None:
        while True:
            jobs = [self._queue.get()]
            size = len(jobs[0].prompts)
            while size < self.max_prompts:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                jobs.append(job)
                size += len(job.prompts)
            self._run(jobs)

    def _run(self, jobs: list[_Job]) -> None:
        owners: list[tuple[_Job, int]] = []
        prompts: list[Prompt] = []
        params: list[SamplingParams] = []
        for job in jobs:
            for k, p in enumerate(job.prompts):
                owners.append((job, k))
                prompts.append(p)
                params.append(job.params)
        left = {id(job): len(job.prompts) for job in jobs}
        try:
            if self.count_tokens is not None:
                for job in jobs:
                    job.prompt_tokens = sum(self.count_tokens(p) for p in job.prompts)
            for i, comps in self.generator.generate_iter(prompts, params):
                job, k = owners[i]
                job.results[k] = comps
                left[id(job)] -= 1
                if left[id(job)] == 0:
                    job.done.set()
        except Exception as e:  # the server must answer every waiting request, whatever went wrong
            for job in jobs:
                if not job.done.is_set():
                    job.error = e
                    job.done.set()


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], generator: Generator, model_name: str, *, log: bool = True):
        super().__init__(address, _Handler)
        self.generator = generator
        self.model_name = model_name
        self.batcher = Batcher(generator)
        self.log = log
        self.created = int(time.time())
        max_positions = getattr(generator, "max_positions", None)
        self.default_max_tokens = int(max_positions) if max_positions else 1024

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


def _flatten_content(content: Any, where: str) -> str:
    # The OpenAI SDK may send content as a list of parts; text parts are joined, anything else is refused.
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                raise RequestError(f"{where}: only text content parts are supported", param="messages")
        return "".join(texts)
    raise RequestError(f"{where}: 'content' must be a string or a list of text parts", param="messages")


def _number(body: dict, name: str, default: Any, kind: type) -> Any:
    v = body.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int | float) or (kind is int and not isinstance(v, int)):
        raise RequestError(f"'{name}' must be {'an integer' if kind is int else 'a number'}", param=name)
    return v


def parse_params(body: dict, default_max_tokens: int) -> SamplingParams:
    """SamplingParams from an OpenAI request body; RequestError (HTTP 400) naming the bad field."""
    for name, what in REFUSED.items():
        v = body.get(name)
        if v not in (None, False, 0, 0.0, {}, []):
            raise RequestError(f"'{name}' is not supported by ponder serve ({what})", param=name)
    fmt = body.get("response_format")
    if fmt is not None and not (isinstance(fmt, dict) and fmt.get("type") in RESPONSE_FORMATS):
        raise RequestError(
            f"'response_format' must be an object with 'type' one of {', '.join(RESPONSE_FORMATS)}",
            param="response_format",
        )
    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    elif not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise RequestError("'stop' must be a string or a list of strings", param="stop")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    max_tokens = _number({"max_tokens": max_tokens}, "max_tokens", default_max_tokens, int)
    best_of = body.get("best_of")
    n = _number(body, "n", 1, int)
    if best_of not in (None, 1, n):
        raise RequestError("'best_of' is not supported by ponder serve", param="best_of")
    try:
        return SamplingParams(
            n=n,
            temperature=float(_number(body, "temperature", 1.0, float)),
            top_p=float(_number(body, "top_p", 1.0, float)),
            max_new_tokens=max_tokens,
            stop=tuple(s for s in stop if s),
            seed=_number(body, "seed", None, int),
            response_format=fmt,
        )
    except ValueError as e:
        raise RequestError(str(e)) from None


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            sys.stderr.write(f"ponder serve: {self.address_string()} {format % args}\n")

    def _send(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "server_error")
        self._send(status, {"error": {"message": message, "type": kind, "param": param, "code": status}})

    def _model_card(self) -> dict:
        return {
            "id": self.server.model_name,
            "object": "model",
            "created": self.server.created,
            "owned_by": "ponder",
        }

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self._send(200, {"object": "list", "data": [self._model_card()]})
        elif path == f"/v1/models/{self.server.model_name}":
            self._send(200, self._model_card())
        elif path in ("/health", "/v1/health"):
            self._send(200, {"status": "ok"})
        else:
            self._error(404, f"no route GET {path}")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._error(404, f"no route POST {path}")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise RequestError(f"the body is not valid JSON: {e}") from None
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            model = body.get("model")
            if model not in (None, self.server.model_name):
                raise RequestError(
                    f"The model `{model}` does not exist (served: {self.server.model_name})", 404, "model"
                )
            params = parse_params(body, self.server.default_max_tokens)
            if path == "/v1/chat/completions":
                self._send(200, self._chat(body, params))
            else:
                self._send(200, self._completions(body, params))
        except RequestError as e:
            self._error(e.status, str(e), e.param)
        except Exception as e:  # report, keep serving
            self._error(500, f"{type(e).__name__}: {e}")

    @staticmethod
    def _usage(prompt_tokens: int, results: list[list[Completion]]) -> dict:
        completion_tokens = sum(c.num_tokens for comps in results for c in comps)
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def _chat(self, body: dict, params: SamplingParams) -> dict:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise RequestError("'messages' must be a non-empty list", param="messages")
        clean = []
        for k, m in enumerate(messages):
            if not isinstance(m, dict) or not isinstance(m.get("role"), str):
                raise RequestError(
                    f"messages[{k}]: expected an object with a string 'role'", param="messages"
                )
            clean.append({"role": m["role"], "content": _flatten_content(m.get("content"), f"messages[{k}]")})
        prompt = check_prompt(clean)
        results, prompt_tokens = self.server.batcher.submit([prompt], params)
        choices = [
            {
                "index": j,
                "message": {"role": "assistant", "content": c.text},
                "finish_reason": c.finish_reason,
                "logprobs": None,
            }
            for j, c in enumerate(results[0])
        ]
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.server.model_name,
            "choices": choices,
            "usage": self._usage(prompt_tokens, results),
        }

    def _completions(self, body: dict, params: SamplingParams) -> dict:
        prompt = body.get("prompt")
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("'prompt' must be a string or a non-empty list of strings", param="prompt")
        results, prompt_tokens = self.server.batcher.submit(prompts, params)
        choices = [
            {"index": i * params.n + j, "text": c.text, "finish_reason": c.finish_reason, "logprobs": None}
            for i, comps in enumerate(results)
            for j, c in enumerate(comps)
        ]
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.server.model_name,
            "choices": choices,
            "usage": self._usage(prompt_tokens, results),
        }


@dataclass(frozen=True)
class ServeSettings:
    """Where ``ponder serve`` listens and what it calls the model."""

    port: int = option(8000, help="Port to listen on (0: pick a free one; the URL is printed).")
    host: str = option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only).")
    name: str | None = option(
        None, help="Model name clients use (default: the folder name; runs/X/model gives X)."
    )
    quiet: bool = option(False, help="Do not log each request.")


def serve_model(model: str, settings: ServeSettings, backend: BackendSettings) -> None:
    """``ponder serve``: load ``model`` with ``backend`` and serve it until interrupted."""
    generator = backend.open(model)
    try:
        serve(
            generator,
            settings.name or model_name(model),
            settings.host,
            settings.port,
            log=not settings.quiet,
        )
    except OSError as e:
        raise PonderError(f"cannot serve on {settings.host}:{settings.port}: {e.strerror or e}") from None


def serve(
    generator: Generator, model_name: str, host: str = "127.0.0.1", port: int = 8000, *, log: bool = True
) -> None:
    """Serve until interrupted. Prints ``ponder serve: NAME at http://HOST:PORT/v1`` once it accepts requests
    (with ``port=0`` the system picks a free port, and this line tells which)."""
    server = OpenAIServer((host, port), generator, model_name, log=log)
    print(f"ponder serve: {model_name} at {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()

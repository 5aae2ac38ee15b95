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

Requests arriving together are batched (:mod:`ponder.generation.batcher`); a request that cannot be served
(a chat template refusing its roles, say) fails by itself (400 or 500 with the reason), never its batch.

Guards (:class:`ServerLimits`, options of ``ponder serve``), all enforced before any generation starts:

- body: ``Content-Length`` must be a non-negative integer (else 400; ``Transfer-Encoding`` bodies get 411);
  a body over ``max_body_bytes`` gets 413 without being read;
- sockets: reads and writes time out after ``socket_timeout_s`` (a client that stops sending loses its
  connection); at most ``max_connections`` connections are served at once, the next ones get 503 at once;
- work: ``n`` at most ``max_n``, ``max_tokens`` at most ``max_tokens`` (and the model's context), at most
  ``max_prompts`` prompts per request (400 naming the field and the limit);
- clients: with ``api_key`` every request but ``GET /health`` needs ``Authorization: Bearer KEY`` (401);
  the ``Host`` header must name an allowed host (403): the bound address, ``localhost``, ``127.0.0.1``,
  ``::1`` and ``allowed_hosts`` (``*`` allows any), which stops DNS-rebinding pages from reaching a local
  server through a browser.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ponder.errors import PonderError
from ponder.generation.backend import BackendSettings, model_name
from ponder.generation.base import Completion, Generator, SamplingParams, check_prompt
from ponder.generation.batcher import Batcher
from ponder.generation.server_requests import (
    LOCAL_HOSTS,
    RequestError,
    ServerLimits,
    ServeSettings,
    error_body,
    flatten_content,
    host_name,
    parse_params,
    status_of,
)


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        generator: Generator,
        model_name: str,
        *,
        log: bool = True,
        limits: ServerLimits = ServerLimits(),
    ):
        limits.check()
        super().__init__(address, _Handler)
        self.generator = generator
        self.model_name = model_name
        self.limits = limits
        self.batcher = Batcher(generator, max_prompts=limits.max_prompts)
        self.log = log
        self.created = int(time.time())
        max_positions = getattr(generator, "max_positions", None)
        self.default_max_tokens = min(int(max_positions) if max_positions else 1024, limits.max_tokens)
        self.allowed_hosts = {h.lower() for h in (*LOCAL_HOSTS, address[0], *limits.allowed_hosts)}
        self._slots = threading.BoundedSemaphore(limits.max_connections)

    def process_request(self, request, client_address) -> None:
        # A connection beyond the cap gets 503 at once, from the accepting thread, instead of a new thread.
        if not self._slots.acquire(blocking=False):
            body = json.dumps(
                error_body(503, "the server is busy: too many connections; retry later")
            ).encode()
            try:
                request.settimeout(1.0)
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    b"Retry-After: 1\r\nConnection: close\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def host_allowed(self, host_header: str | None) -> bool:
        return "*" in self.allowed_hosts or host_name(host_header) in self.allowed_hosts

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        self.timeout = self.server.limits.socket_timeout_s  # applied to the socket by StreamRequestHandler
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            sys.stderr.write(f"ponder serve: {self.address_string()} {format % args}\n")

    def _send(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, param: str | None = None) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        self._send(status, error_body(status, message, param), headers)

    def _refused(self) -> bool:
        """Answer (and return True) when the Host or the API key is wrong."""
        if not self.server.host_allowed(self.headers.get("Host")):
            self.close_connection = True
            allowed = ", ".join(sorted(self.server.allowed_hosts))
            self._error(
                403,
                f"Host {self.headers.get('Host')!r} is not allowed (allowed: {allowed}; see --allowed-host)",
            )
            return True
        key = self.server.limits.api_key
        if key is not None and self.path.split("?", 1)[0].rstrip("/") not in ("/health", "/v1/health"):
            given = self.headers.get("Authorization") or ""
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key.encode()):
                self._error(401, "missing or wrong API key: send 'Authorization: Bearer KEY'")
                return True
        return False

    def _read_body(self) -> bytes:
        """The request body, after checking its declared length (RequestError with 400, 411 or 413)."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise RequestError(
                "send the body with a Content-Length (Transfer-Encoding is not supported)", 411
            )
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        raw = raw.strip()
        if not raw.isdigit() or not raw.isascii():
            self.close_connection = True  # the body's end is unknown: the connection cannot be reused
            raise RequestError(f"Content-Length must be a non-negative integer, got {raw!r}")
        length = int(raw)
        if length > self.server.limits.max_body_bytes:
            self.close_connection = True  # the body is not read
            raise RequestError(
                f"the body has {length} bytes, more than this server accepts ({self.server.limits.max_body_bytes})",
                413,
            )
        return self.rfile.read(length)

    def _model_card(self) -> dict:
        return {
            "id": self.server.model_name,
            "object": "model",
            "created": self.server.created,
            "owned_by": "ponder",
        }

    def do_GET(self) -> None:
        if self._refused():
            return
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
        if self._refused():
            self.close_connection = True  # its body was not read
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            data = self._read_body()
            if path not in ("/v1/chat/completions", "/v1/completions"):
                raise RequestError(f"no route POST {path}", 404)
            try:
                body = json.loads(data or b"null")
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
                raise RequestError(f"the body is not valid JSON: {e}") from None
            except ValueError as e:  # an integer literal too long to convert
                raise RequestError(f"the body is not usable JSON: {e}") from None
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            model = body.get("model")
            if model not in (None, self.server.model_name):
                raise RequestError(
                    f"The model `{model}` does not exist (served: {self.server.model_name})", 404, "model"
                )
            params = parse_params(body, self.server.default_max_tokens, self.server.limits)
            if path == "/v1/chat/completions":
                self._send(200, self._chat(body, params))
            else:
                self._send(200, self._completions(body, params))
        except RequestError as e:
            self._error(e.status, str(e), e.param)
        except (TimeoutError, ConnectionError):
            self.close_connection = True  # the client stopped sending or went away
        except Exception as e:  # report, keep serving
            self._error(status_of(e), f"{type(e).__name__}: {e}")

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
            clean.append({"role": m["role"], "content": flatten_content(m.get("content"), f"messages[{k}]")})
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
        if len(prompts) > self.server.limits.max_prompts:
            raise RequestError(
                f"'prompt' may hold at most {self.server.limits.max_prompts} prompts on this server, "
                f"got {len(prompts)}",
                param="prompt",
            )
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


def serve_model(model: str, settings: ServeSettings, backend: BackendSettings) -> None:
    """``ponder serve``: load ``model`` with ``backend`` and serve it until interrupted."""
    limits = settings.limits()
    generator = backend.open(model)
    try:
        serve(
            generator,
            settings.name or model_name(model),
            settings.host,
            settings.port,
            log=not settings.quiet,
            limits=limits,
        )
    except OSError as e:
        raise PonderError(f"cannot serve on {settings.host}:{settings.port}: {e.strerror or e}") from None


def serve(
    generator: Generator,
    model_name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    log: bool = True,
    limits: ServerLimits = ServerLimits(),
) -> None:
    """Serve until interrupted. Prints ``ponder serve: NAME at http://HOST:PORT/v1`` once it accepts requests
    (with ``port=0`` the system picks a free port, and this line tells which)."""
    server = OpenAIServer((host, port), generator, model_name, log=log, limits=limits)
    print(f"ponder serve: {model_name} at {server.url}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()

"""What a client may ask of ``ponder serve``: request fields parsed and checked (:func:`parse_params`),
the limits of one server (:class:`ServerLimits`; the command's settings, :class:`ServeSettings`, beside them),
and how refusals look (OpenAI's error object).

See :mod:`ponder.generation.server` for where each guard applies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ponder.config import option
from ponder.errors import PonderError
from ponder.generation.base import SamplingParams

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


LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class ServerLimits:
    """What one client may ask of ``ponder serve`` (see the module docstring for what each guard does)."""

    max_body_bytes: int = 8 << 20  # request bodies (chat histories and prompt lists fit easily)
    socket_timeout_s: float = 60.0  # per read or write on a connection
    max_connections: int = 64  # connections served at once (each holds a thread)
    max_n: int = 64  # completions per prompt
    max_tokens: int = 4096  # new tokens per completion (also capped by the model's context)
    max_prompts: int = 256  # prompts per /v1/completions request
    api_key: str | None = None  # required as "Authorization: Bearer KEY" when set
    allowed_hosts: tuple[str, ...] = ()  # Host header names allowed besides the bound address and localhost

    def check(self) -> None:
        """Raise ValueError naming the option when a limit is not positive."""
        for name in (
            "max_body_bytes",
            "socket_timeout_s",
            "max_connections",
            "max_n",
            "max_tokens",
            "max_prompts",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(self, name)}")


_LIMITS = ServerLimits()  # the guards' defaults, declared once in ServerLimits


@dataclass(frozen=True)
class ServeSettings:
    """Where ``ponder serve`` listens, what it calls the model, and its guards (:class:`ServerLimits`)."""

    port: int = option(8000, help="Port to listen on (0: pick a free one; the URL is printed).")
    host: str = option("127.0.0.1", help="Address to bind (127.0.0.1: this machine only).")
    name: str | None = option(
        None, help="Model name clients use (default: the folder name; runs/X/model gives X)."
    )
    quiet: bool = option(False, help="Do not log each request.")
    api_key: str | None = option(
        None, help="Key clients must send as 'Authorization: Bearer KEY' (shown by ps: see --api-key-env)."
    )
    api_key_env: str | None = option(
        None, help="Environment variable holding the key clients must send (instead of --api-key)."
    )
    allowed_host: list[str] = option(
        [],
        repeat=True,
        help="Host header name allowed besides the bound address and localhost (repeatable; * any).",
    )
    max_body_mb: float = option(_LIMITS.max_body_bytes / 2**20, help="Largest request body (MiB).")
    max_connections: int = option(_LIMITS.max_connections, help="Connections served at once.")
    max_n: int = option(_LIMITS.max_n, help="Largest n (completions per prompt).")
    max_tokens: int = option(_LIMITS.max_tokens, help="Largest max_tokens per completion.")
    max_prompts: int = option(_LIMITS.max_prompts, help="Most prompts per request.")
    socket_timeout: float = option(_LIMITS.socket_timeout_s, help="Seconds a connection may stay silent.")

    def __post_init__(self) -> None:
        if self.api_key is not None and self.api_key_env:
            raise ValueError("give api_key or api_key_env, not both")
        self._limits(self.api_key).check()  # every limit positive

    def limits(self) -> ServerLimits:
        """The server's guards; the key is read from ``api_key_env`` when that names it."""
        api_key = self.api_key
        if self.api_key_env:
            api_key = os.environ.get(self.api_key_env)
            if not api_key:
                raise PonderError(f"--api-key-env: the environment variable {self.api_key_env} is not set")
        return self._limits(api_key)

    def _limits(self, api_key: str | None) -> ServerLimits:
        return ServerLimits(
            max_body_bytes=int(self.max_body_mb * 2**20),
            socket_timeout_s=self.socket_timeout,
            max_connections=self.max_connections,
            max_n=self.max_n,
            max_tokens=self.max_tokens,
            max_prompts=self.max_prompts,
            api_key=api_key,
            allowed_hosts=tuple(self.allowed_host),
        )


def error_body(status: int, message: str, param: str | None = None) -> dict:
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        411: "invalid_request_error",
        413: "invalid_request_error",
        503: "server_busy",
    }.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": status}}


def host_name(header: str | None) -> str | None:
    """The host name of a ``Host`` header, without its port: ``[::1]:8000`` -> ``::1``."""
    if not header:
        return None
    host = header.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def status_of(e: Exception) -> int:
    """400 for failures caused by the request's content (a chat template refusing its roles, a bad value),
    500 for the rest."""
    kinds = {c.__module__.split(".")[0] + "." + c.__name__ for c in type(e).__mro__}
    return 400 if isinstance(e, ValueError) or "jinja2.TemplateError" in kinds else 500


def flatten_content(content: Any, where: str) -> str:
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


def parse_params(
    body: dict, default_max_tokens: int, limits: ServerLimits = ServerLimits()
) -> SamplingParams:
    """SamplingParams from an OpenAI request body; RequestError (HTTP 400) naming the bad field, also when
    ``n`` or ``max_tokens`` exceed ``limits``."""
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
    for name, value, cap in (("n", n, limits.max_n), ("max_tokens", max_tokens, limits.max_tokens)):
        if isinstance(value, int) and value > cap:
            raise RequestError(f"'{name}' must be at most {cap} on this server, got {value}", param=name)
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

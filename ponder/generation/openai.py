"""Backend for any OpenAI-compatible HTTP endpoint (OpenAI, vLLM's server, ``ponder serve``, ...).

Chat prompts (lists of messages) go to ``POST {base_url}/chat/completions``; raw ``str`` prompts to
``POST {base_url}/completions``. Each sample is its own request with ``n=1``: OpenAI's ``usage`` only counts
tokens per request, so this is how every :class:`Completion` gets its exact ``num_tokens``, and it works on
endpoints that refuse ``n > 1``. With a run seed, request ``i`` of a prompt carries ``derived_seed(seed, i)``.

Requests run ``concurrency`` at a time. Failures with HTTP 408/409/425/429/5xx, timeouts and connection
errors are retried with exponential backoff and jitter (``backoff_s * 2**attempt``, capped at
``max_backoff_s``, or the server's ``Retry-After``); other HTTP errors stop at once with the server's message.
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from ponder.errors import PonderError
from ponder.generation.base import (
    Completion,
    Generator,
    Prompt,
    SamplingParams,
    checked,
    derived_seed,
    first_stop,
)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class OpenAIGenerator(Generator):
    """Generate through an OpenAI-compatible endpoint.

    ``model``: the served model name. ``base_url``: e.g. ``http://127.0.0.1:8000/v1``. ``api_key``: sent as
    a bearer token (default: the ``OPENAI_API_KEY`` environment variable, if set). ``timeout_s``: per request.
    ``max_tokens_field``: ``"max_tokens"`` (widely supported) or ``"max_completion_tokens"`` (newer OpenAI
    models). ``extra_body``: more JSON fields added to every request (server-specific options).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str = "http://127.0.0.1:8000/v1",
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        max_tokens_field: str = "max_tokens",
        extra_body: dict | None = None,
    ):
        super().__init__()
        import httpx

        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if max_tokens_field not in ("max_tokens", "max_completion_tokens"):
            raise ValueError(
                f"max_tokens_field must be max_tokens or max_completion_tokens, got {max_tokens_field!r}"
            )
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.max_tokens_field = max_tokens_field
        self.extra_body = dict(extra_body or {})
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            headers=headers,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self._warned_usage = False
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    # ------------------------------------------------------------------ HTTP

    def post(self, path: str, body: dict) -> dict:
        """POST JSON with retries; return the decoded answer or raise PonderError (one line)."""
        import httpx

        url = f"{self.base_url}/{path.lstrip('/')}"
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                r = self._client.post(url, json=body)
            except httpx.TransportError as e:  # connection refused/reset, timeouts, protocol errors
                problem = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            else:
                if r.status_code == 200:
                    try:
                        return r.json()
                    except ValueError:
                        raise PonderError(f"POST {url}: the answer is not JSON: {r.text[:200]!r}") from None
                problem = f"HTTP {r.status_code}: {_error_message(r)}"
                if r.status_code not in RETRY_STATUS:
                    raise PonderError(f"POST {url}: {problem}")
                retry_after = _retry_after(r.headers.get("retry-after"))
            if attempt == self.max_retries:
                raise PonderError(f"POST {url}: gave up after {attempt + 1} attempts; last: {problem}")
            delay = min(self.max_backoff_s, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
            time.sleep(min(self.max_backoff_s, retry_after) if retry_after is not None else delay)
        raise AssertionError("unreachable")

    def list_models(self) -> list[str]:
        """Names of the models the endpoint serves (``GET /models``)."""
        r = self._client.get(f"{self.base_url}/models")
        if r.status_code != 200:
            raise PonderError(f"GET {self.base_url}/models: HTTP {r.status_code}: {_error_message(r)}")
        return [m["id"] for m in r.json().get("data", [])]

    # ------------------------------------------------------------------ generation

    def request_body(self, prompt: Prompt, p: SamplingParams, sample_index: int) -> tuple[str, dict]:
        """The endpoint path and JSON body for sample ``sample_index`` of ``prompt``."""
        if p.include_stop and p.stop:  # without stop strings it changes nothing
            raise ValueError("include_stop is not part of the OpenAI API: use the hf or vllm backend")
        body: dict[str, Any] = {
            "model": self.model,
            "n": 1,
            "temperature": p.temperature,
            "top_p": p.top_p,
            self.max_tokens_field: p.max_new_tokens,
        }
        if p.stop:
            body["stop"] = list(p.stop)
        if p.seed is not None:
            body["seed"] = derived_seed(p.seed, sample_index)
        if p.response_format is not None:
            body["response_format"] = p.response_format
        body.update(self.extra_body)
        if isinstance(prompt, str):
            return "completions", {**body, "prompt": prompt}
        return "chat/completions", {**body, "messages": prompt}

    def _one(self, prompt: Prompt, p: SamplingParams, sample_index: int) -> Completion:
        path, body = self.request_body(prompt, p, sample_index)
        answer = self.post(path, body)
        try:
            choice = answer["choices"][0]
            text = choice["text"] if path == "completions" else (choice["message"].get("content") or "")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise PonderError(
                f"POST {self.base_url}/{path}: unexpected answer {str(answer)[:200]!r}"
            ) from None
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        if p.stop:  # some endpoints ignore `stop`; the contract says the text ends before it
            cut = first_stop(text, p.stop)
            if cut >= 0:
                text, finish = text[:cut], "stop"
        usage = answer.get("usage") or {}
        num_tokens = usage.get("completion_tokens")
        if not isinstance(num_tokens, int):
            num_tokens = 0
            with self._lock:
                if not self._warned_usage:
                    self._warned_usage = True
                    print(
                        "ponder: warning: the endpoint reports no usage; num_tokens set to 0", file=sys.stderr
                    )
        return Completion(text=text, finish_reason=finish, num_tokens=num_tokens)

    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        prompts, per_prompt = checked(prompts, params)
        results: list[list[Completion | None]] = [[None] * p.n for p in per_prompt]
        remaining = [p.n for p in per_prompt]
        jobs = iter([(i, j) for i, p in enumerate(per_prompt) for j in range(p.n)])
        self.stats = {
            "prompts": len(prompts),
            "completions": sum(remaining),
            "prompt_tokens": 0,
            "generated_tokens": 0,
            "seconds": 0.0,
            "tokens_per_s": 0.0,
        }
        start = time.perf_counter()
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="ponder-openai")
        pending: dict[Future, tuple[int, int]] = {}

        def refill() -> None:
            # Keep at most `concurrency` requests in flight, so memory stays flat for any number of prompts.
            while len(pending) < self.concurrency:
                job = next(jobs, None)
                if job is None:
                    return
                i, j = job
                pending[pool.submit(self._one, prompts[i], per_prompt[i], j)] = job

        try:
            refill()
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i, j = pending.pop(fut)
                    comp = fut.result()  # re-raises a PonderError from the worker
                    results[i][j] = comp
                    self.stats["generated_tokens"] += comp.num_tokens
                    remaining[i] -= 1
                    if remaining[i] == 0:
                        self.stats["seconds"] = time.perf_counter() - start
                        self.stats["tokens_per_s"] = self.stats["generated_tokens"] / max(
                            self.stats["seconds"], 1e-9
                        )
                        yield i, results[i]  # type: ignore[misc]
                refill()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _error_message(r: Any) -> str:
    try:
        err = r.json().get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (ValueError, AttributeError):
        pass
    return (r.text or r.reason_phrase or "").strip().replace("\n", " ")[:300]


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; fall back to exponential backoff

"""The generation contract every backend implements.

``generator.generate(prompts, params) -> list[list[Completion]]``: for each prompt, ``params.n`` completions.

A prompt is either

- a list of chat messages ``[{"role", "content"}, ...]``: the backend applies the model's chat template with the
  generation prompt (``add_generation_prompt=True``), or
- a plain ``str``: RAW text sent to the model exactly as it is (completions style; no template, no special
  tokens added). This is how a caller continues an assistant turn: ``render_prompt(tok, messages, prefix)``
  gives the templated conversation followed by the start of the answer, and the model writes the rest.

Every backend returns the same :class:`Completion`:

- ``text`` excludes the end-of-turn / end-of-sequence token and a matched stop string (as OpenAI and vLLM do),
  unless ``include_stop`` keeps the stop string (vLLM's ``include_stop_str_in_output``);
- ``finish_reason`` is ``"stop"`` when an eos token or a stop string ended it, ``"length"`` when the token
  budget did;
- ``num_tokens`` counts every token the model generated for it, INCLUDING the eos token that ended it and
  the tokens of a matched stop string (vLLM's ``len(token_ids)``, OpenAI's ``completion_tokens``). So
  ``num_tokens <= max_new_tokens`` always, and ``num_tokens == max_new_tokens`` when ``finish_reason == "length"``.

``params`` is one :class:`SamplingParams` for all prompts, or a list with one per prompt (different token
budgets, stop strings or ``n`` in one batch; the Thinker environment runs its stages that way).

Seeds: with ``seed`` set, sample ``i`` of a prompt depends only on ``(seed, prompt, i)`` -- not on the other
prompts, the batch size or the order -- so a resumed run reproduces an uninterrupted one (exactly on the hf
backend, see docs/generation.md for the others).
"""

from __future__ import annotations

import dataclasses
import hashlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

Message = dict[str, Any]
Prompt = str | list[Message]

FINISH_REASONS = ("stop", "length")


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``temperature == 0`` means greedy decoding (``top_p`` and ``seed`` then do not matter).

    ``response_format`` (e.g. ``{"type": "json_object"}``) is passed to OpenAI-compatible endpoints that support
    it; the hf and vllm backends do not constrain decoding with it, so callers parse the text defensively.
    ``include_stop``: the matched stop string stays at the end of the text (when it is part of the answer, e.g.
    the closing brace of a boxed one); hf and vllm backends only.
    """

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: tuple[str, ...] = ()
    include_stop: bool = False
    seed: int | None = None
    response_format: dict | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.stop, str):
            object.__setattr__(self, "stop", (self.stop,))
        else:
            object.__setattr__(self, "stop", tuple(self.stop))
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        if not self.temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be an integer >= 1, got {self.max_new_tokens!r}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            raise ValueError(f"stop strings must be non-empty strings, got {self.stop!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool)):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")

    @classmethod
    def of(cls, settings: Any, n: int, **fields: Any) -> SamplingParams:
        """The sampling of a stage's settings: ``n`` samples with its ``temperature``, ``top_p``,
        ``max_new_tokens`` and ``seed`` (``fields`` add or replace any)."""
        names = ("temperature", "top_p", "max_new_tokens", "seed")
        return cls(n=n, **{k: getattr(settings, k) for k in names if hasattr(settings, k)} | fields)

    def replace(self, **changes: Any) -> SamplingParams:
        """A copy with some fields changed, e.g. ``params.replace(max_new_tokens=64)``."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Completion:
    """One generated continuation (see the module docstring for the exact meaning of each field)."""

    text: str
    finish_reason: str
    num_tokens: int

    def __post_init__(self) -> None:
        if self.finish_reason not in FINISH_REASONS:
            raise ValueError(f"finish_reason must be 'stop' or 'length', got {self.finish_reason!r}")


def params_per_prompt(
    params: SamplingParams | Sequence[SamplingParams], n_prompts: int
) -> list[SamplingParams]:
    """One SamplingParams per prompt: the same object repeated, or the given list checked for length."""
    if isinstance(params, SamplingParams):
        return [params] * n_prompts
    params = list(params)
    if len(params) != n_prompts:
        raise ValueError(
            f"got {len(params)} SamplingParams for {n_prompts} prompts; give one, or one per prompt"
        )
    for p in params:
        if not isinstance(p, SamplingParams):
            raise TypeError(f"expected SamplingParams, got {type(p).__name__}")
    return params


def check_prompt(prompt: Any, index: int = 0) -> Prompt:
    """Raise ValueError unless ``prompt`` is a str or a non-empty list of ``{"role": str, "content": str}``."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list) and prompt:
        for m in prompt:
            if not (
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            ):
                raise ValueError(f"prompt {index}: each message needs string 'role' and 'content', got {m!r}")
        return prompt
    raise ValueError(
        f"prompt {index}: expected raw text (str) or a non-empty list of chat messages, got {prompt!r}"
    )


def checked(
    prompts: Sequence[Any], params: SamplingParams | Sequence[SamplingParams]
) -> tuple[list[Prompt], list[SamplingParams]]:
    """A batch as every backend starts it: each prompt checked, and one SamplingParams per prompt."""
    prompts = [check_prompt(p, i) for i, p in enumerate(prompts)]
    return prompts, params_per_prompt(params, len(prompts))


def sample_seed(seed: int, text: str, index: int) -> int:
    """The 63-bit seed of sample ``index`` of the prompt whose model input is ``text``, under run seed ``seed``.

    A hash, so it depends on these three values only (not on batch composition or order).
    """
    h = hashlib.blake2b(digest_size=8)
    h.update(f"{seed}\x00{index}\x00".encode())
    h.update(text.encode("utf-8", "surrogatepass"))
    return int.from_bytes(h.digest(), "little") >> 1


def derived_seed(seed: int, index: int) -> int:
    """A 31-bit seed for request ``index`` of a run with seed ``seed`` (for backends seeded per request)."""
    h = hashlib.blake2b(f"{seed}\x00{index}".encode(), digest_size=4)
    return int.from_bytes(h.digest(), "little") >> 1


def render_prompt(tokenizer: Any, messages: list[Message], prefix: str = "") -> str:
    """The raw text a model sees for ``messages`` plus the start of its answer.

    ``tokenizer.apply_chat_template(messages, add_generation_prompt=True)`` followed by ``prefix`` with no
    separator: sending this as a raw ``str`` prompt makes the model continue the assistant turn after
    ``prefix`` (process-level pairs complete solution prefixes this way).
    """
    check_prompt(messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return text + prefix


def first_stop(text: str, stop: Sequence[str], start: int = 0) -> int:
    """Index of the earliest occurrence (at or after ``start``) of any stop string in ``text``, or -1."""
    best = -1
    for s in stop:
        i = text.find(s, start)
        if i >= 0 and (best < 0 or i < best):
            best = i
    return best


def cut_at_stop(text: str, stop: Sequence[str], keep: bool = False) -> tuple[str, bool]:
    """``text`` up to its earliest stop string (that string kept with ``keep``; of several starting there,
    the longest), and whether one was found."""
    at = first_stop(text, stop)
    if at < 0:
        return text, False
    if not keep:
        return text[:at], True
    return text[: at + max(len(s) for s in stop if text.startswith(s, at))], True


class Generator(ABC):
    """A text generator. Subclasses implement :meth:`generate_iter`; :meth:`generate` collects it.

    ``stats`` holds counters of the last call: ``prompts``, ``completions``, ``prompt_tokens``,
    ``generated_tokens``, ``seconds`` and ``tokens_per_s`` (generated tokens per wall-clock second).
    """

    name = "base"

    def __init__(self) -> None:
        self.stats: dict[str, float] = {}

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]:
        """For each prompt, its ``n`` completions (in input order)."""
        out: list[list[Completion] | None] = [None] * len(prompts)
        for i, comps in self.generate_iter(prompts, params):
            out[i] = comps
        missing = [i for i, c in enumerate(out) if c is None]
        if missing:
            raise RuntimeError(f"{self.name} backend returned nothing for prompts {missing[:5]}")
        return out  # type: ignore[return-value]

    @abstractmethod
    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        """Yield ``(prompt_index, completions)`` as each prompt's ``n`` completions are finished (any order)."""

    def close(self) -> None:  # noqa: B027 -- optional hook: most backends hold nothing to release
        """Release resources (engines, HTTP connections)."""

    def __enter__(self) -> Generator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LocalGenerator(Generator):
    """A generator that holds its model's tokenizer (hf, vllm): it renders and encodes prompts itself."""

    tokenizer: Any

    def prompt_text(self, prompt: Prompt) -> str:
        """The raw text the model sees: the chat template applied to messages, a str as is."""
        if isinstance(prompt, str):
            return prompt
        return self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)

    def encode(self, texts: list[str]) -> list[list[int]]:
        # Raw means raw: no BOS/EOS added (a chat template already writes any it needs).
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []

    def count_prompt_tokens(self, prompt: Prompt) -> int:
        return len(self.encode([self.prompt_text(prompt)])[0])

    def tokenized(
        self, prompts: Sequence[Any], params: SamplingParams | Sequence[SamplingParams]
    ) -> tuple[list[SamplingParams], list[str], list[list[int]]]:
        """``(params per prompt, prompt texts, prompt token ids)`` of a checked batch."""
        prompts, per_prompt = checked(prompts, params)
        texts = [self.prompt_text(p) for p in prompts]
        return per_prompt, texts, self.encode(texts)

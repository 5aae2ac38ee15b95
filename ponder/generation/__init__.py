"""Text generation behind one contract: ``generate(prompts, SamplingParams) -> list[list[Completion]]``.

Backends: ``hf`` (transformers; the default), ``openai`` (any OpenAI-compatible endpoint) and ``vllm``
(vLLM's offline engine). See :mod:`ponder.generation.base` for the contract and docs/generation.md.
"""

from __future__ import annotations

from typing import Any

from ponder.generation.base import (
    Completion,
    Generator,
    Message,
    Prompt,
    SamplingParams,
    render_prompt,
    sample_seed,
)

BACKENDS = ("hf", "openai", "vllm")

__all__ = [
    "BACKENDS",
    "Completion",
    "Generator",
    "Message",
    "Prompt",
    "SamplingParams",
    "make_generator",
    "render_prompt",
    "sample_seed",
]


def make_generator(backend: str, model: Any, **options: Any) -> Generator:
    """A generator of ``backend`` for ``model`` (a folder or hub name; the served name for ``openai``).

    ``options`` go to the backend's constructor: hf ``dtype``, ``batch_size``; openai ``base_url``,
    ``api_key``, ``concurrency``, ``timeout_s``, ``max_retries``; vllm ``dtype``, ``max_model_len``, ...
    """
    if backend == "hf":
        from ponder.generation.hf import HFGenerator

        return HFGenerator(model, **options)
    if backend == "openai":
        from ponder.generation.openai import OpenAIGenerator

        return OpenAIGenerator(model, **options)
    if backend == "vllm":
        from ponder.generation.vllm import VLLMGenerator

        return VLLMGenerator(model, **options)
    raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")

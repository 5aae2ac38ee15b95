"""One vLLM engine for every stage of a run: started once, given each new model by reloading its weights.

A run of several generating stages (PFPO: sampling, prefix completions, evaluation, every iteration) opens
its stages' generators inside ``with warm_engines():``. There :meth:`BackendSettings.open
<ponder.generation.backend.BackendSettings.open>` hands a vllm stage the run's engine instead of
starting one: the first stage starts it; a later stage asking for another model folder
(the next iteration's policy) gets it with that folder's weights reloaded in place
(:meth:`~ponder.generation.vllm.VLLMGenerator.load_weights`), in well under a second where a start takes tens
of seconds on CPU. A folder of another shape (architecture and sizes in ``config.json``; or another
tokenizer, which the engine keeps from its start) is not reloaded into it: the engine is restarted on it,
with a one-line message saying so. A stage asking for other engine options gets a new engine in its place
(one engine at a time). A stage's ``close`` leaves the engine running; the ``with`` block closes it, also on
error. Nested blocks share the outer one's engine.

``warm_engines(False)`` (a run's ``warm_engine: false``) lets every stage start and close its own engine.
Other backends, and stages fanned out over Ray workers, are not affected.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ponder.config import option
from ponder.errors import PonderError
from ponder.generation.base import Completion, Generator, Prompt, SamplingParams

# What a model folder must share with the engine's for its weights to be reloaded into it.
SHAPE_KEYS = (
    "architectures",
    "model_type",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "vocab_size",
    "tie_word_embeddings",
    "max_position_embeddings",
)


def warm_engine_option(per: str) -> Any:
    """The ``warm_engine`` field of a recipe config that samples with vLLM ``per`` step or iteration."""
    return option(
        True,
        help=f"backend=vllm: keep one engine and reload the new policy into it {per} (false: a new engine "
        f"{per}).",
    )


def shape(model: str | Path) -> dict[str, Any] | None:
    """The shape entries of ``model``'s ``config.json`` and its tokenizer (vocabulary, special tokens, chat
    template: the engine keeps the tokenizer it started with); None when it is not a local folder."""
    from transformers import AutoTokenizer

    path = Path(model) / "config.json"
    if not path.is_file():
        return None
    config = json.loads(path.read_text())
    tok = AutoTokenizer.from_pretrained(model)
    vocab = hashlib.sha256(json.dumps(sorted(tok.get_vocab().items())).encode()).hexdigest()
    special = {k: str(v) for k, v in tok.special_tokens_map.items()}
    return {**{k: config.get(k) for k in SHAPE_KEYS}, "tokenizer": (vocab, special, tok.chat_template)}


def start_vllm(model: str | Path, options: dict[str, Any]) -> Generator:
    """A new vLLM engine on ``model`` with the engine ``options`` (``vllm.LLM``'s keyword arguments)."""
    from ponder.generation import make_generator

    try:
        import vllm  # noqa: F401
    except ImportError:
        raise PonderError(
            "--backend vllm needs vLLM, which is not installed here; run `make setup-vllm` and use "
            ".venv-vllm/bin/ponder"
        ) from None
    return make_generator("vllm", model, **options)


class Borrowed(Generator):
    """A stage's view of a shared engine: generates with it, and leaves it running when the stage closes it.
    ``model`` is the folder whose weights the engine holds (what the stage's resume fingerprints record)."""

    def __init__(self, engine: Generator, model: str):
        self._engine = engine
        self.model = model
        self.name = engine.name

    @property
    def stats(self) -> dict[str, float]:  # type: ignore[override]
        return self._engine.stats

    def generate(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> list[list[Completion]]:
        return self._engine.generate(prompts, params)

    def generate_iter(
        self, prompts: Sequence[Prompt], params: SamplingParams | Sequence[SamplingParams]
    ) -> Iterator[tuple[int, list[Completion]]]:
        return self._engine.generate_iter(prompts, params)

    def __getattr__(self, name: str) -> Any:  # tokenizer, prompt_text, encode, max_positions, llm, ...
        if name == "_engine":
            raise AttributeError(name)
        return getattr(self._engine, name)

    def close(self) -> None:
        """The engine stays up for the next stage; :class:`WarmEngines` closes it."""


class WarmEngines:
    """The engine of one run. ``start(model, options) -> Generator`` starts one (default: a vLLM engine); the
    engine it returns must have ``load_weights(folder)``. One engine at a time: a stage asking for other
    engine options closes it and starts another (two engines would each claim their share of a GPU).
    ``starts`` counts the engines started, ``reloads`` the models loaded into a running one."""

    def __init__(self, start: Callable[[str | Path, dict[str, Any]], Generator] = start_vllm):
        self.start = start
        self.engine: Generator | None = None
        self.options = ""  # the running engine's options (JSON)
        self.model = ""  # the folder whose weights it holds
        self.starts = 0
        self.reloads = 0

    def open(self, model: str | Path, options: dict[str, Any]) -> Generator:
        """The run's engine, started with ``options`` and holding the weights of ``model``."""
        key, model = json.dumps(options, sort_keys=True, default=str), str(model)
        if self.engine is not None and key == self.options and model != self.model:
            old = shape(self.model)
            if old is not None and old == shape(model):
                self.engine.load_weights(model)  # type: ignore[attr-defined]
                self.reloads += 1
                self.model = model
            else:
                print(
                    f"ponder: {model} cannot be reloaded into the vLLM engine running {self.model} (config.json "
                    "or tokenizer differs, or not a local folder); restarting the engine on it",
                    file=sys.stderr,
                    flush=True,
                )
        if self.engine is None or key != self.options or model != self.model:
            self.close()
            self.engine = self.start(model, dict(options))
            self.starts += 1
            self.options, self.model = key, model
        return Borrowed(self.engine, model)

    def close(self) -> None:
        engine, self.engine = self.engine, None
        if engine is not None:
            engine.close()


_ACTIVE: ContextVar[WarmEngines | None] = ContextVar("warm_engines", default=None)


def active() -> WarmEngines | None:
    """The engines of the enclosing ``warm_engines()`` block, if any."""
    return _ACTIVE.get()


@contextlib.contextmanager
def warm_engines(
    enabled: bool = True, start: Callable[[str | Path, dict[str, Any]], Generator] | None = None
) -> Iterator[WarmEngines | None]:
    """Share engines across the stages run inside (see the module docstring): the enclosing block's, else new
    ones (started by ``start``, default :func:`start_vllm`), closed on leaving. ``enabled=False``: every stage
    its own engine, also inside an enclosing block."""
    outer = _ACTIVE.get()
    mine = outer or WarmEngines(start or start_vllm)
    token = _ACTIVE.set(mine if enabled else None)
    try:
        yield mine if enabled else None
    finally:
        _ACTIVE.reset(token)
        if mine is not outer:
            mine.close()

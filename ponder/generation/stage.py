"""The ``generate`` stage: problems in, samples out, resumable.

``load_prompts`` reads and checks the whole problem file first (so bad input stops before any output file
exists) and turns each problem into the prompt the model gets: a string prompt becomes one user message
(after an optional system message) and the backend applies the chat template; with ``raw=True`` string
prompts are sent as raw text. ``run_generate`` writes one :class:`~ponder.records.Sample` per problem through
:class:`~ponder.io.StageWriter`: records are appended as each prompt's samples finish, so a run killed at any
point (even ``kill -9``) and started again skips the ids already written and never duplicates or tears a line.
Each record's fingerprint covers its prompt and problem fields, the sampling parameters and the model (its
name and, for a local folder, the size and time of its weight files): a run resumed with another
temperature, another model or a retrained one recomputes the records made with the old ones.
Records appear in the order they finish; join them to problems by ``id``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.errors import InputError, PonderError
from ponder.generation.base import Generator, Prompt, SamplingParams
from ponder.io import StageWriter
from ponder.progress import progress
from ponder.records import Problem, Sample, iter_json_objects

OPTION_OF = {
    "n": "--n",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "max_new_tokens": "--max-new-tokens",
    "stop": "--stop",
    "seed": "--seed",
}


@dataclass
class Item:
    problem: Problem
    prompt: Prompt


def sampling_params(**fields: Any) -> SamplingParams:
    """SamplingParams from command-line values; a bad value becomes a one-line error naming the option."""
    try:
        return SamplingParams(**fields)
    except ValueError as e:
        name = str(e).split(" ", 1)[0]
        raise PonderError(f"{OPTION_OF.get(name, name)}: {e}") from None


def to_prompt(problem: Problem, *, system: str | None = None, raw: bool = False) -> Prompt:
    """The prompt sent for ``problem``; raises ValueError (message only) when it cannot be built."""
    if raw:
        if not isinstance(problem.prompt, str):
            raise ValueError("raw prompts (--raw) must be strings, got a list of messages")
        if system is not None:
            raise ValueError("--system cannot be combined with --raw (raw text gets no chat template)")
        return problem.prompt
    if isinstance(problem.prompt, str):
        messages = [{"role": "user", "content": problem.prompt}]
    else:
        messages = [dict(m) for m in problem.prompt]
    if system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": system})
    return messages


def load_prompts(path: str | Path, *, system: str | None = None, raw: bool = False) -> list[Item]:
    """Read and check every problem of ``path`` (ids unique); InputError names the file, line and field."""
    items: list[Item] = []
    first_line: dict[str, int] = {}
    for lineno, obj in iter_json_objects(path):
        problem = Problem.from_dict(obj, path=path, line=lineno)
        if problem.id in first_line:
            raise InputError(
                path,
                f"duplicate id {problem.id!r} (first on line {first_line[problem.id]})",
                line=lineno,
                field="id",
            )
        first_line[problem.id] = lineno
        try:
            items.append(Item(problem, to_prompt(problem, system=system, raw=raw)))
        except ValueError as e:
            raise InputError(path, str(e), line=lineno, field="prompt") from None
    return items


def check_chat_template(generator: Generator, items: Sequence[Item]) -> None:
    """Chat prompts need a chat template; say so before generating rather than failing half-way."""
    tok = getattr(generator, "tokenizer", None)
    if (
        tok is not None
        and getattr(tok, "chat_template", None) is None
        and any(isinstance(it.prompt, list) for it in items)
    ):
        raise PonderError("the model's tokenizer has no chat template; send prompts as raw text with --raw")


def model_identity(generator: Generator) -> dict[str, Any]:
    """What names the model behind ``generator``: backend, model name or folder, and for a local folder
    the names, sizes and modification times of its files (a retrained model in the same folder differs)."""
    model = getattr(generator, "model", None)
    name = getattr(model, "name_or_path", None) if not isinstance(model, str) else model
    llm = getattr(generator, "llm", None)
    if name is None and llm is not None:
        name = llm.llm_engine.model_config.model
    out: dict[str, Any] = {"backend": generator.name, "model": None if name is None else str(name)}
    if getattr(generator, "base_url", None):
        out["base_url"] = generator.base_url
    folder = Path(str(name)) if name else None
    if folder is not None and folder.is_dir():
        out["files"] = sorted(
            (f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in folder.iterdir() if f.is_file()
        )
    return out


def run_generate(
    generator: Generator,
    items: Sequence[Item],
    output: str | Path,
    params: SamplingParams,
    *,
    chunk_prompts: int = 1024,
    desc: str = "generate",
) -> dict[str, Any]:
    """Generate ``params.n`` samples per item into ``output`` (resumable); return a summary of the run.

    ``chunk_prompts`` prompts are handed to the generator at a time (the hf backend sorts each chunk by length).
    """
    start = time.perf_counter()
    tokens = 0
    finished_by_stop = 0
    settings = {"sampling": params, "model": model_identity(generator)}
    with StageWriter(output, settings=settings) as writer:
        todo = [
            it
            for it in items
            if not writer.has(it.problem.id, (it.prompt, it.problem.answer, it.problem.meta))
        ]
        resumed = len(items) - len(todo)
        bar = progress(total=len(items), initial=resumed, desc=desc, unit="prompt")
        try:
            for c in range(0, len(todo), chunk_prompts):
                chunk = todo[c : c + chunk_prompts]
                for i, comps in generator.generate_iter([it.prompt for it in chunk], params):
                    it = chunk[i]
                    writer.write(
                        Sample(
                            id=it.problem.id,
                            prompt=it.prompt,
                            responses=[x.text for x in comps],
                            finish_reasons=[x.finish_reason for x in comps],
                            num_tokens=[x.num_tokens for x in comps],
                            answer=it.problem.answer,
                            meta=it.problem.meta,
                        )
                    )
                    tokens += sum(x.num_tokens for x in comps)
                    finished_by_stop += sum(x.finish_reason == "stop" for x in comps)
                    bar.update(1)
                    bar.set_postfix(
                        tok_s=f"{tokens / max(time.perf_counter() - start, 1e-9):.0f}", refresh=False
                    )
        finally:
            bar.close()
    seconds = time.perf_counter() - start
    n_new = len(todo)
    return {
        "output": str(output),
        "records": len(items),
        "new": n_new,
        "resumed": resumed,
        "recomputed": sum(writer.changed.values()),
        "samples": n_new * params.n,
        "generated_tokens": tokens,
        "stop_share": finished_by_stop / max(n_new * params.n, 1),
        "seconds": seconds,
        "tokens_per_s": tokens / max(seconds, 1e-9),
    }


def check_backend(
    backend: str,
    model: str,
    *,
    dtype: str = "float32",
    batch_size: int = 32,
    base_url: str | None = None,
    workers: int = 1,
) -> None:
    """Check command-line backend options without loading anything; a PonderError names the bad option."""
    from ponder.generation import BACKENDS

    if backend not in BACKENDS:
        raise PonderError(f"--backend: unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if workers < 1:
        raise PonderError(f"--workers must be >= 1, got {workers}")
    if backend == "openai":
        if not base_url:
            raise PonderError("--base-url is required with --backend openai (e.g. http://127.0.0.1:8000/v1)")
        if workers > 1:
            raise PonderError(
                "--workers applies to hf and vllm; for --backend openai raise --concurrency instead"
            )
        return
    if base_url:
        raise PonderError(f"--base-url only applies to --backend openai, not {backend}")
    if batch_size < 1:
        raise PonderError(f"--batch-size must be >= 1, got {batch_size}")
    if dtype not in ("float32", "bfloat16"):
        raise PonderError(f"--dtype: expected float32 or bfloat16, got {dtype!r}")
    if not Path(model).exists() and (
        model.startswith(("/", ".", "~")) or model.count("/") > 1 or model.endswith("/")
    ):
        raise PonderError(f"--model {model}: no such folder")


def open_backend(
    backend: str,
    model: str,
    *,
    dtype: str = "float32",
    batch_size: int = 32,
    base_url: str | None = None,
    api_key: str | None = None,
    concurrency: int = 8,
    timeout_s: float = 120.0,
    max_retries: int = 6,
    workers: int = 1,
) -> Generator:
    """Open a backend from command-line values; problems (bad option, model that does not load) become
    one-line PonderErrors naming the option. ``workers > 1`` runs that many copies on Ray."""
    from ponder.generation import make_generator

    check_backend(backend, model, dtype=dtype, batch_size=batch_size, base_url=base_url, workers=workers)
    if workers > 1:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise PonderError("--workers needs Ray: pip install -e '.[ray]'") from None
        from ponder.generation.ray_pool import RayGenerator

        options = {"dtype": dtype} | ({"batch_size": batch_size} if backend == "hf" else {})
        return RayGenerator(backend, model, workers=workers, **options)
    if backend == "openai":
        try:
            return make_generator(
                "openai",
                model,
                base_url=base_url,
                api_key=api_key,
                concurrency=concurrency,
                timeout_s=timeout_s,
                max_retries=max_retries,
            )
        except ValueError as e:
            raise PonderError(f"--concurrency: {e}") from None
    if backend == "vllm":
        try:
            import vllm  # noqa: F401
        except ImportError:
            raise PonderError(
                "--backend vllm needs vLLM, which is not installed here; run `make setup-vllm` "
                "and use .venv-vllm/bin/ponder"
            ) from None
        return make_generator("vllm", model, dtype=dtype)
    try:
        return make_generator("hf", model, dtype=dtype, batch_size=batch_size)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PonderError(f"--model {model}: cannot load the model: {first}") from None

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
Records appear in the order they finish; join them to problems by ``id``. Under torchrun each process samples
its share of the problems and process 0 merges the shares in input order (:mod:`ponder.ranks`). :class:`GenerateSettings` holds
the stage's settings and :func:`generate_file` runs the whole stage from them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.cluster import RaySettings
from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.generation.backend import BackendSettings, model_identity
from ponder.generation.base import Generator, Prompt, SamplingParams
from ponder.progress import in_chunks
from ponder.ranks import gather, shared_output
from ponder.records import Problem, Sample, iter_unique


@dataclass(frozen=True)
class GenerateSettings(RaySettings):
    """What ``ponder generate`` samples (recipes nest it for their sampling steps), and over how many model
    copies: ``workers`` > 1 or ``ray_address`` fans the prompts out over Ray workers."""

    samples_per_prompt: int = option(8, flag="--n", short="-n", help="Samples per prompt.")
    temperature: float = option(1.0, help="Sampling temperature; 0 means greedy.")
    top_p: float = option(1.0, help="Nucleus sampling: keep the most likely tokens up to this mass.")
    max_new_tokens: int = option(2048, help="Token budget per sample (the eos token counts).")
    seed: int = option(0, help="Run seed: sample i of a prompt depends only on (seed, prompt, i).")
    stop: list[str] = option([], repeat=True, help="Stop string (repeatable); excluded from the text.")
    system: str | None = option(None, help="System message put before each prompt's messages.")
    raw: bool = option(False, help="Send string prompts as raw text (no chat template).")
    workers: int = option(
        1,
        help="Data-parallel workers on Ray, each with its own model copy (hf, vllm; needs the ray extra; "
        "more than 1 without --ray-address starts Ray here).",
    )
    gpus_per_worker: float = option(0.0, help="GPUs each Ray worker reserves (vllm, or hf on a GPU node).")

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sampling()  # a bad value fails here, naming its field
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.gpus_per_worker < 0:
            raise ValueError(f"gpus_per_worker must be >= 0, got {self.gpus_per_worker}")

    @property
    def fan_out(self) -> bool:
        """Whether the prompts go to Ray workers rather than one backend in this process."""
        return self.workers > 1 or self.on_ray

    def sampling(self, seed: int | None = None) -> SamplingParams:
        """The sampling parameters (``seed`` replaces the run seed, e.g. one derived per iteration)."""
        try:
            return SamplingParams.of(
                self, self.samples_per_prompt, stop=tuple(self.stop), seed=self.seed if seed is None else seed
            )
        except ValueError as e:
            raise ValueError(str(e).replace("n must", "samples_per_prompt must", 1)) from None


@dataclass
class Item:
    problem: Problem
    prompt: Prompt


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
    for lineno, problem in iter_unique(path, Problem):
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
    with shared_output(output, [it.problem.id for it in items], settings=settings) as (writer, mine):
        share = [items[i] for i in mine]
        todo = [
            it
            for it in share
            if not writer.has(it.problem.id, (it.prompt, it.problem.answer, it.problem.meta))
        ]
        resumed = len(share) - len(todo)
        for chunk, bar in in_chunks(todo, chunk_prompts, total=len(share), desc=desc, unit="prompt"):
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
                bar.set_postfix(tok_s=f"{tokens / max(time.perf_counter() - start, 1e-9):.0f}", refresh=False)
    seconds = time.perf_counter() - start
    # Under several processes the counts are the sums of their shares.
    n_new, resumed, recomputed, tokens, finished_by_stop = map(
        sum,
        zip(
            *gather((len(todo), resumed, sum(writer.changed.values()), tokens, finished_by_stop)), strict=True
        ),
    )
    return {
        "output": str(output),
        "records": len(items),
        "new": n_new,
        "resumed": resumed,
        "recomputed": recomputed,
        "samples": n_new * params.n,
        "generated_tokens": tokens,
        "stop_share": finished_by_stop / max(n_new * params.n, 1),
        "seconds": seconds,
        "tokens_per_s": tokens / max(seconds, 1e-9),
    }


def generate_file(
    input_path: str | Path,
    output: str | Path,
    model: str,
    settings: GenerateSettings = GenerateSettings(),
    backend: BackendSettings = BackendSettings(),
    *,
    desc: str = "generate",
) -> dict[str, Any]:
    """The ``generate`` stage: ``settings.samples_per_prompt`` samples of every problem of ``input_path``
    into ``output`` (resumable); returns the summary of :func:`run_generate`."""
    if Path(output).resolve() == Path(input_path).resolve():
        raise PonderError("--output must differ from --input")
    backend.check(model, fan_out=settings.fan_out)
    items = load_prompts(input_path, system=settings.system, raw=settings.raw)
    with backend.open(model, fan_out=settings if settings.fan_out else None) as generator:
        check_chat_template(generator, items)
        return run_generate(generator, items, output, settings.sampling(), desc=desc)

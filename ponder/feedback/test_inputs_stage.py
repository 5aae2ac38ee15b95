"""The ``tests generate`` stage: problems in, problems with test inputs out (``meta.test_inputs``), resumable.

Two sources:

- ``llm``: a model writes the inputs (:func:`ponder.feedback.test_inputs.build_prompt`, JSON mode where the
  backend supports it, temperature 0 by default as the authors did). Each answer is parsed and repaired
  (:func:`~ponder.feedback.test_inputs.parse_test_inputs`); a problem with fewer than ``min_inputs`` usable
  inputs is asked again (``attempts`` in all; later attempts sample at ``retry_temperature`` with a new seed
  and their new inputs are added); if that still leaves fewer than ``min_inputs``, ``fallback="sampler"``
  takes the task's own input sampler where it has one, and otherwise the record keeps what was found, possibly
  nothing (later stages skip a problem without inputs) -- every problem gets a record, so a resumed run knows
  it is done.
- ``sampler``: the synthetic code family's input sampler (:func:`ponder.tasks.synthetic.sample_inputs`).

Each output record is the input problem plus, in ``meta``: ``test_inputs`` (stdin strings, or argument lists
for function problems), ``test_inputs_source`` (``llm``, ``sampler``, ``sampler_fallback`` or ``none``) and
``test_inputs_log`` (attempts, the repairs applied, the errors, and each raw answer cut to 4,000 characters).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.feedback.labels import summary_path
from ponder.feedback.test_inputs import (
    build_prompt,
    check_code_problem,
    function_arity,
    input_mode,
    parse_test_inputs,
)
from ponder.generation.backend import BackendSettings, model_identity
from ponder.generation.base import Generator, SamplingParams
from ponder.io import StageWriter, write_json
from ponder.progress import in_chunks
from ponder.ranks import main_only
from ponder.records import Problem, iter_unique

SOURCES = ("llm", "sampler", "given")
RAW_KEEP_CHARS = 4000


@dataclass(frozen=True)
class InputSettings:
    """Where test inputs come from, how many, and what to do when a model's answer is unusable."""

    source: Literal["llm", "sampler", "given"] = option(
        "llm",
        flag="--from",
        help="llm (a model writes the inputs), sampler (the synthetic code family's input sampler) or given "
        "(the problems already carry meta.test_inputs).",
    )
    n_inputs: int = option(10, help="Test inputs per problem (the authors: 10).")
    temperature: float = option(0.0, help="Sampling temperature of the first request (the authors: 0).")
    max_new_tokens: int = option(2048, help="Token budget of an answer.")
    seed: int = option(0, help="Sampling seed.")
    attempts: int = option(
        2, help="Requests per problem at most; later ones only when too few inputs were usable."
    )
    min_inputs: int = option(1, help="Fewer usable inputs than this: ask again, then fall back.")
    retry_temperature: float = option(0.7, help="Temperature of the later requests.")
    fallback: Literal["none", "sampler"] = option(
        "none", help="When the model gives too few inputs: none (keep what there is) or sampler."
    )
    sampler_seed: int = option(
        1, help="Seed of the input sampler (the problem set's own seed reproduces its tests' inputs)."
    )
    json_mode: bool = option(
        True,
        help="Ask for a JSON object (openai: response_format; vllm: constrained decoding; hf: not constrained).",
    )
    prompt_template: str | None = option(
        None,
        help="Prompt file with {problem}, {n}, {format} (default: ponder/feedback/prompts/test_inputs.txt).",
    )

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.attempts < 1 or self.min_inputs < 1:
            raise ValueError("n_inputs, attempts and min_inputs must be >= 1")
        if self.min_inputs > self.n_inputs:
            raise ValueError(f"min_inputs ({self.min_inputs}) cannot exceed n_inputs ({self.n_inputs})")

    def params(self) -> SamplingParams:
        """The first request's sampling (one answer per problem)."""
        return SamplingParams.of(self, 1)

    def template(self) -> str | None:
        """The prompt template's text (None: the packaged one)."""
        if self.prompt_template is None:
            return None
        try:
            return Path(self.prompt_template).read_text(encoding="utf-8")
        except OSError as e:
            raise PonderError(f"--prompt-template {self.prompt_template}: {e.strerror or e}") from None


def has_sampler(problem: Problem) -> bool:
    from ponder.tasks.synthetic import has_sampler

    return has_sampler(problem)


def sampled_inputs(problem: Problem, n: int, seed: int) -> list[str]:
    from ponder.tasks.synthetic import sample_inputs

    return sample_inputs(problem, n, seed)


def load_input_problems(path: str | Path, source: str) -> list[Problem]:
    """Read and check every problem (unique ids; an entry point for function problems; a sampler for
    ``source="sampler"``) before anything is written. InputError names the file, line and field."""
    if source not in SOURCES:
        raise PonderError(f"--from: unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    problems: list[Problem] = []
    for lineno, p in iter_unique(path, Problem):
        given = "--from given needs the problems' own test inputs" if source == "given" else None
        check_code_problem(p, path, lineno, inputs=given)
        if source == "sampler" and not has_sampler(p):
            raise InputError(
                path,
                "--from sampler needs a synthetic code problem (meta.template and meta.params "
                "of ponder.tasks.synthetic)",
                line=lineno,
                field="meta.template",
            )
        problems.append(p)
    return problems


def with_inputs(problem: Problem, inputs: list, source: str, log: dict[str, Any]) -> Problem:
    d = problem.to_dict()
    d["meta"] = {**problem.meta, "test_inputs": inputs, "test_inputs_source": source, "test_inputs_log": log}
    return Problem.from_dict(d)


def request_params(params: SamplingParams, *, json_mode: bool) -> SamplingParams:
    """``params`` for one answer per problem, asking for a JSON object when ``json_mode`` (the openai and
    vllm backends pass it on; the hf backend does not constrain decoding, so the parser repairs)."""
    return params.replace(n=1, response_format={"type": "json_object"} if json_mode else None)


@main_only
def run_test_inputs(
    problems: Sequence[Problem],
    output: str | Path,
    settings: InputSettings = InputSettings(),
    *,
    generator: Generator | None = None,
    chunk_problems: int = 64,
) -> dict[str, Any]:
    """Write one problem record with ``meta.test_inputs`` per problem to ``output`` (resumable through
    :class:`~ponder.io.StageWriter`); return the summary (counts per source, inputs per problem, repairs)."""
    source = settings.source
    if source == "llm" and generator is None:
        raise ValueError("source 'llm' needs a generator")
    template = settings.template()
    start = time.perf_counter()
    counts: Counter = Counter()
    repairs: Counter = Counter()
    n_inputs: list[int] = []
    fingerprinted: dict[str, Any] = {"settings": settings}  # the source, the sampling and the repairs
    if source == "llm":
        fingerprinted["model"] = model_identity(generator)
    with StageWriter(output, settings=fingerprinted) as writer:
        todo = [p for p in problems if not writer.has(p.id, p)]
        chunks = in_chunks(todo, chunk_problems, total=len(problems), desc="test inputs", unit="problem")
        for chunk, bar in chunks:
            if source == "sampler":
                done = [
                    with_inputs(
                        p,
                        sampled_inputs(p, settings.n_inputs, settings.sampler_seed),
                        "sampler",
                        {"seed": settings.sampler_seed},
                    )
                    for p in chunk
                ]
            elif source == "given":
                done = [with_inputs(p, p.meta["test_inputs"], "given", {}) for p in chunk]
            else:
                params = request_params(settings.params(), json_mode=settings.json_mode)
                done = _ask_model(chunk, generator, params, settings, template)
            for rec in done:
                writer.write(rec)
                meta = rec.meta
                counts[meta["test_inputs_source"]] += 1
                n_inputs.append(len(meta["test_inputs"]))
                for r in meta["test_inputs_log"].get("repairs", []):
                    repairs[_repair_kind(r)] += 1
                bar.update(1)
    return {
        "output": str(output),
        "problems": len(problems),
        "new": len(todo),
        "resumed": len(problems) - len(todo),
        "sources": dict(counts),
        "mean_inputs": sum(n_inputs) / len(n_inputs) if n_inputs else 0.0,
        "without_inputs": sum(1 for k in n_inputs if k == 0),
        "repairs": dict(repairs),
        "seconds": time.perf_counter() - start,
    }


def generate_test_inputs(
    input_path: str | Path,
    output: str | Path,
    settings: InputSettings = InputSettings(),
    *,
    model: str | None = None,
    backend: BackendSettings = BackendSettings(),
    summary_file: str | Path | None = None,
) -> dict[str, Any]:
    """The ``tests generate`` stage: read and check the problems, open the model that writes inputs (source
    ``llm``), write the records and save the summary (default ``OUTPUT.summary.json``)."""
    if Path(output).resolve() == Path(input_path).resolve():
        raise PonderError("--output must differ from --input")
    problems = load_input_problems(input_path, settings.source)
    if settings.source != "llm":
        summary = run_test_inputs(problems, output, settings)
    else:
        if not model:
            raise PonderError("--model is required with --from llm (the model that writes the inputs)")
        with backend.open(model) as generator:
            summary = run_test_inputs(problems, output, settings, generator=generator)
    path = Path(summary_file or summary_path(output))
    write_json(path, summary)
    return {**summary, "summary_file": str(path)}


def _repair_kind(text: str) -> str:
    """``dropped item 3: duplicate`` -> ``dropped: duplicate``; counts of repairs by kind for the summary."""
    if text.startswith("dropped item"):
        return "dropped: " + text.split(": ", 1)[-1]
    if text.startswith("kept the first"):
        return "kept the first n"
    if text.startswith("kept ") and "cut-off" in text:
        return "kept the complete items of a cut-off list"
    return text


def _ask_model(
    chunk: Sequence[Problem],
    generator: Generator,
    params: SamplingParams,
    s: InputSettings,
    template: str | None,
) -> list[Problem]:
    """Ask for inputs, retry problems with too few, fall back; one finished record per problem."""
    prompts = [build_prompt(p, s.n_inputs, template) for p in chunk]
    found: list[list] = [[] for _ in chunk]
    logs: list[dict[str, Any]] = [{"attempts": 0, "repairs": [], "errors": [], "raw": []} for _ in chunk]
    pending = list(range(len(chunk)))
    for attempt in range(s.attempts):
        if not pending:
            break
        p_params = params
        if attempt:
            seed = None if params.seed is None else params.seed + attempt
            p_params = params.replace(temperature=max(s.retry_temperature, params.temperature), seed=seed)
        outs = generator.generate([prompts[i] for i in pending], p_params)
        for i, comps in zip(pending, outs, strict=True):
            text = comps[0].text
            p = chunk[i]
            parsed = parse_test_inputs(text, input_mode(p), n_max=s.n_inputs, arity=function_arity(p))
            log = logs[i]
            log["attempts"] += 1
            log["raw"].append(text[:RAW_KEEP_CHARS])
            log["repairs"].extend(parsed.repairs)
            if parsed.error:
                log["errors"].append(parsed.error)
            keys = {_key(x) for x in found[i]}
            for x in parsed.inputs:
                if len(found[i]) < s.n_inputs and _key(x) not in keys:
                    found[i].append(x)
                    keys.add(_key(x))
        pending = [i for i in pending if len(found[i]) < s.min_inputs]
    out = []
    for i, p in enumerate(chunk):
        if len(found[i]) >= s.min_inputs:
            out.append(with_inputs(p, found[i], "llm", logs[i]))
        elif s.fallback == "sampler" and has_sampler(p):
            logs[i]["fallback_seed"] = s.sampler_seed
            out.append(
                with_inputs(p, sampled_inputs(p, s.n_inputs, s.sampler_seed), "sampler_fallback", logs[i])
            )
        else:  # keep what there is: fewer inputs than asked still give pseudo tests
            out.append(with_inputs(p, found[i], "llm" if found[i] else "none", logs[i]))
    return out


def _key(x: Any) -> str:
    import json

    return json.dumps(x, sort_keys=True, ensure_ascii=False)

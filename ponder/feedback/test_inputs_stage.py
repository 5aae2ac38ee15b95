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
from typing import Any

from ponder.errors import InputError, PonderError
from ponder.feedback.test_inputs import build_prompt, function_arity, input_mode, parse_test_inputs
from ponder.generation.base import Generator, SamplingParams
from ponder.generation.stage import model_identity
from ponder.io import StageWriter
from ponder.progress import progress
from ponder.records import Problem, iter_json_objects

SOURCES = ("llm", "sampler")
FALLBACKS = ("none", "sampler")
RAW_KEEP_CHARS = 4000


@dataclass(frozen=True)
class InputSettings:
    """How many inputs to ask for and what to do when an answer is unusable."""

    n_inputs: int = 10
    attempts: int = 2
    min_inputs: int = 1
    retry_temperature: float = 0.7
    fallback: str = "none"
    sampler_seed: int = 1
    template: str | None = None

    def __post_init__(self) -> None:
        if self.n_inputs < 1 or self.attempts < 1 or self.min_inputs < 1:
            raise ValueError("n_inputs, attempts and min_inputs must be >= 1")
        if self.min_inputs > self.n_inputs:
            raise ValueError(f"min_inputs ({self.min_inputs}) cannot exceed n_inputs ({self.n_inputs})")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")


def has_sampler(problem: Problem) -> bool:
    from ponder.tasks.synthetic import TEMPLATES

    return problem.meta.get("template") in TEMPLATES and isinstance(problem.meta.get("params"), dict)


def sampled_inputs(problem: Problem, n: int, seed: int) -> list[str]:
    from ponder.tasks.synthetic import sample_inputs

    return sample_inputs(problem, n, seed)


def load_input_problems(path: str | Path, source: str) -> list[Problem]:
    """Read and check every problem (unique ids; an entry point for function problems; a sampler for
    ``source="sampler"``) before anything is written. InputError names the file, line and field."""
    if source not in SOURCES:
        raise PonderError(f"--from: unknown source {source!r}; choose one of {', '.join(SOURCES)}")
    problems: list[Problem] = []
    first: dict[str, int] = {}
    for lineno, obj in iter_json_objects(path):
        p = Problem.from_dict(obj, path=path, line=lineno)
        if p.id in first:
            raise InputError(
                path, f"duplicate id {p.id!r} (first on line {first[p.id]})", line=lineno, field="id"
            )
        first[p.id] = lineno
        if input_mode(p) == "call" and not isinstance(p.meta.get("entry_point"), str):
            raise InputError(
                path,
                "a function problem needs the name of its function",
                line=lineno,
                field="meta.entry_point",
            )
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


def run_test_inputs(
    problems: Sequence[Problem],
    output: str | Path,
    *,
    source: str = "llm",
    generator: Generator | None = None,
    params: SamplingParams | None = None,
    settings: InputSettings = InputSettings(),
    json_mode: bool = True,
    chunk_problems: int = 64,
) -> dict[str, Any]:
    """Write one problem record with ``meta.test_inputs`` per problem to ``output`` (resumable through
    :class:`~ponder.io.StageWriter`); return the summary (counts per source, inputs per problem, repairs)."""
    if source == "llm" and (generator is None or params is None):
        raise ValueError("source 'llm' needs a generator and sampling params")
    start = time.perf_counter()
    counts: Counter = Counter()
    repairs: Counter = Counter()
    n_inputs: list[int] = []
    fingerprinted = {"source": source, "settings": settings, "json_mode": json_mode}
    if source == "llm":
        fingerprinted |= {"sampling": params, "model": model_identity(generator)}
    with StageWriter(output, settings=fingerprinted) as writer:
        todo = [p for p in problems if not writer.has(p.id, p)]
        bar = progress(
            total=len(problems), initial=len(problems) - len(todo), desc="test inputs", unit="problem"
        )
        try:
            for c in range(0, len(todo), chunk_problems):
                chunk = todo[c : c + chunk_problems]
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
                else:
                    done = _ask_model(chunk, generator, request_params(params, json_mode=json_mode), settings)
                for rec in done:
                    writer.write(rec)
                    meta = rec.meta
                    counts[meta["test_inputs_source"]] += 1
                    n_inputs.append(len(meta["test_inputs"]))
                    for r in meta["test_inputs_log"].get("repairs", []):
                        repairs[_repair_kind(r)] += 1
                    bar.update(1)
        finally:
            bar.close()
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
    chunk: Sequence[Problem], generator: Generator, params: SamplingParams, s: InputSettings
) -> list[Problem]:
    """Ask for inputs, retry problems with too few, fall back; one finished record per problem."""
    prompts = [build_prompt(p, s.n_inputs, s.template) for p in chunk]
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

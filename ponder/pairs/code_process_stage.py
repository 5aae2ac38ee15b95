"""The ``pairs code-process`` stage: code pDPO pairs from sampled programs, their prefixes and completions.

Reads the problems, the samples (the policy's responses, with the prompt they were sampled with) and the tests
to value completions with: the pseudo tests of a ``pairs code`` scores file (``labels="pseudo"``), or the
problems' own tests (``labels="gold"``). For each problem (:mod:`ponder.pairs.code_process` has the rules):
prefixes are cut from its responses, ``completions_per_prefix`` completions of each are sampled through the
Generator contract with a raw prompt (the rendered chat prompt followed by the prefix), every completed program
runs on the tests in the sandbox, and the values are written as one record per problem to the values file
through :class:`~ponder.io.StageWriter` (resumable). The pair file is then written in one atomic step.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.feedback.labels import summary_path
from ponder.generation.backend import BackendSettings, model_identity
from ponder.generation.base import Generator, render_prompt
from ponder.io import write_json, write_records
from ponder.pairs.code_process import prefix_pairs, sample_prefixes
from ponder.pairs.code_stage import CodeRunSettings, load_samples_by_id, score_problems, side_path, test_mode
from ponder.pairs.pairing import problem_rng
from ponder.pairs.prefixes import completion_sampling, prefix_value
from ponder.ranks import main_only
from ponder.records import Pair, Problem, Sample, iter_json_objects, load_records
from ponder.verify.code import Job, SandboxPool
from ponder.verify.code_program import problem_program


@dataclass(frozen=True)
class CodeProcessSettings(CodeRunSettings):
    """How ``ponder pairs code-process`` cuts, completes, values and pairs program prefixes (the authors')."""

    upper_step_ratio: float = option(
        0.8, help="Cut only among the first share of lines before the end of the code."
    )
    sample_ratio: float = option(0.3, help="Share of the candidate cuts drawn per response.")
    max_prefixes_per_problem: int = option(10, help="Prefixes kept per problem (the authors: 10-20).")
    completions_per_prefix: int = option(5, help="Completions sampled per prefix (the authors: 5 or 3).")
    value: Literal["max", "mean"] = option(
        "max", help="Value of a prefix: max or mean pass count of its completions."
    )
    lower_bound: float = option(0.5, help="Positive prefixes: value / tests at least this.")
    margin: float = option(4, help="Negatives of a positive: value below the positive's minus this.")
    temperature: float = option(1.0, help="Temperature of the completions.")
    top_p: float = option(1.0, help="Nucleus mass of the completions.")
    max_new_tokens: int = option(2048, help="Token budget per completion.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.upper_step_ratio <= 1 or not 0 < self.sample_ratio <= 1:
            raise ValueError("upper_step_ratio and sample_ratio must be in (0, 1]")
        if self.max_prefixes_per_problem < 1 or self.completions_per_prefix < 1:
            raise ValueError("max_prefixes_per_problem and completions_per_prefix must be >= 1")
        if not 0 <= self.lower_bound <= 1 or self.margin < 0:
            raise ValueError("lower_bound must be in [0, 1] and margin >= 0")
        completion_sampling(self)


def load_tests(
    problems_path: str | Path, scores_path: str | Path | None, labels: str
) -> dict[str, list[dict]]:
    """Tests per problem id: the pseudo tests of a scores file, or the problems' own tests."""
    if labels == "pseudo":
        if scores_path is None:
            raise PonderError("pseudo labels need --scores (the scores file written by `ponder pairs code`)")
        out = {}
        for lineno, obj in iter_json_objects(scores_path):
            if not isinstance(obj, dict) or not isinstance(obj.get("pseudo_tests"), list):
                raise InputError(
                    scores_path, "expected a pseudo-label scores record", line=lineno, field="pseudo_tests"
                )
            out[str(obj["id"])] = obj["pseudo_tests"]
        return out
    return {p.id: p.tests or [] for p in load_records(problems_path, Problem)}


def prompt_text(tokenizer: Any, sample: Sample, prefix: str) -> str:
    """The raw prompt that continues ``prefix`` inside the assistant turn of ``sample``'s prompt."""
    if isinstance(sample.prompt, str):
        return sample.prompt + prefix  # sampled as raw text: no template to apply
    return render_prompt(tokenizer, sample.prompt, prefix)


def _value_chunk(
    generator: Generator,
    tokenizer: Any,
    pool: SandboxPool,
    chunk: Sequence[tuple[Problem, Sample, list[dict]]],
    s: CodeProcessSettings,
) -> list[dict[str, Any]]:
    cuts = [
        sample_prefixes(
            smp.responses,
            problem_rng("code-process", "cuts", s.seed, p.id),
            upper_step_ratio=s.upper_step_ratio,
            sample_ratio=s.sample_ratio,
            max_prefixes=s.max_prefixes_per_problem,
        )
        if tests
        else []
        for p, smp, tests in chunk
    ]
    prompts, owners = [], []
    for k, (_, smp, _) in enumerate(chunk):
        for m, pre in enumerate(cuts[k]):
            prompts.append(prompt_text(tokenizer, smp, pre.text))
            owners.append((k, m))
    outs = generator.generate(prompts, completion_sampling(s)) if prompts else []
    jobs, job_owners = [], []
    limits = s.limits
    for (k, m), comps in zip(owners, outs, strict=True):
        p, _, tests = chunk[k]
        for c, comp in enumerate(comps):
            src = problem_program(p.meta, cuts[k][m].text + comp.text)
            if src is None:
                continue
            jobs.append(Job(src, tests, test_mode(p), p.meta.get("entry_point"), limits))
            job_owners.append(("value", k, m, c))
            if s.score_gold and p.tests:  # measured only, never used for the pairs
                jobs.append(Job(src, p.tests, test_mode(p), p.meta.get("entry_point"), limits))
                job_owners.append(("gold", k, m, c))
    counts = {
        (w, k, m, c): 0
        for w in ("value", "gold")
        for (k, m), comps in zip(owners, outs, strict=True)
        for c in range(len(comps))
    }
    for key, res in zip(job_owners, pool.run_tests_many(jobs) if jobs else [], strict=True):
        counts[key] = sum(r.passed for r in res)
    records = []
    for k, (p, _, tests) in enumerate(chunk):
        prefixes = []
        for m, pre in enumerate(cuts[k]):
            passed = [counts[("value", k, m, c)] for c in range(s.completions_per_prefix)]
            x = {
                "text": pre.text,
                "response_index": pre.response_index,
                "steps": pre.steps,
                "passed": passed,
                "value": prefix_value(passed, s.value),
            }
            if s.score_gold:
                gold = [counts[("gold", k, m, c)] for c in range(s.completions_per_prefix)]
                x.update(gold_passed=gold, gold_value=prefix_value(gold, s.value))
            prefixes.append(x)
        values = [x["value"] for x in prefixes]
        pairs = prefix_pairs(
            values,
            len(tests),
            problem_rng("code-process", "pairs", s.seed, p.id),
            lower_bound=s.lower_bound,
            margin=s.margin,
        )
        records.append(
            {
                "id": p.id,
                "tests": len(tests),
                "gold_tests": len(p.tests or []),
                "prefixes": prefixes,
                "pairs": [list(x) for x in pairs],
            }
        )
    return records


@main_only
def run_code_process(
    problems_path: str | Path,
    samples_path: str | Path,
    output: str | Path,
    generator: Generator,
    settings: CodeProcessSettings = CodeProcessSettings(),
    *,
    scores_path: str | Path | None = None,
    values_path: str | Path | None = None,
    tokenizer: Any = None,
    chunk_problems: int = 16,
    pool: SandboxPool | None = None,
) -> dict[str, Any]:
    """Value prefixes (resumable, ``values_path``; default ``OUTPUT.values.jsonl``), write the prefix pairs to
    ``output`` atomically and return the summary."""
    start = time.perf_counter()
    output = Path(output)
    values_path = side_path(output, values_path, "values")
    tokenizer = tokenizer if tokenizer is not None else getattr(generator, "tokenizer", None)
    problems = load_records(problems_path, Problem)
    samples = load_samples_by_id(samples_path)
    tests = load_tests(problems_path, scores_path, settings.labels)
    if tokenizer is None and any(not isinstance(smp.prompt, str) for smp in samples.values()):
        raise PonderError(
            "chat prompts need a tokenizer to render the prompt before the prefix (--tokenizer)"
        )
    work = [(p, samples[p.id], tests.get(p.id, [])) for p in problems if p.id in samples]
    if not work:
        raise PonderError(f"{samples_path}: no sample shares an id with the problems of {problems_path}")
    recs = score_problems(
        values_path,
        work,
        lambda pool, chunk: _value_chunk(generator, tokenizer, pool, chunk, settings),
        pool=pool,
        sandbox=settings,
        desc="value prefixes",
        chunk_problems=chunk_problems,
        fingerprinted={"settings": settings.fingerprinted, "model": model_identity(generator)},
    )
    pairs = []
    for p, smp, _ in work:
        rec = recs[p.id]
        for i, j in rec["pairs"]:
            a, b = rec["prefixes"][i], rec["prefixes"][j]
            meta = {
                "problem_id": p.id,
                "kind": "code_process",
                "prefix": True,
                "labels": settings.labels,
                "chosen_value": a["value"],
                "rejected_value": b["value"],
                "tests": rec["tests"],
                "chosen_index": a["response_index"],
                "rejected_index": b["response_index"],
            }
            pairs.append(
                Pair(
                    id=f"{p.id}-p{i}-n{j}", prompt=smp.prompt, chosen=a["text"], rejected=b["text"], meta=meta
                )
            )
    write_records(output, pairs)
    done = [recs[p.id] for p, _, _ in work]
    n_prefixes = sum(len(r["prefixes"]) for r in done)
    positives = sum(
        1
        for r in done
        for x in r["prefixes"]
        if r["tests"] and x["value"] / r["tests"] >= settings.lower_bound
    )
    out = {
        "labels": settings.labels,
        "problems": len(work),
        "problems_without_tests": sum(1 for r in done if not r["tests"]),
        "prefixes": n_prefixes,
        "completions": n_prefixes * settings.completions_per_prefix,
        "positives": positives,
        "pairs": len(pairs),
        "problems_with_pairs": sum(1 for r in done if r["pairs"]),
        "mean_value_share": (
            sum(x["value"] / r["tests"] for r in done if r["tests"] for x in r["prefixes"]) / n_prefixes
            if n_prefixes
            else 0.0
        ),
        "output": str(output),
        "values": str(values_path),
        "seconds": time.perf_counter() - start,
    }
    if settings.score_gold:
        diffs = [
            r["prefixes"][i]["gold_value"] - r["prefixes"][j]["gold_value"]
            for r in done
            for i, j in r["pairs"]
        ]
        out["pair_precision"] = sum(d > 0 for d in diffs) / len(diffs) if diffs else None
        out["pair_ties"] = sum(d == 0 for d in diffs) / len(diffs) if diffs else None
    return out


def code_process_file(
    problems_path: str | Path,
    samples_path: str | Path,
    output: str | Path,
    model: str,
    settings: CodeProcessSettings = CodeProcessSettings(),
    backend: BackendSettings = BackendSettings(),
    *,
    scores_path: str | Path | None = None,
    values_path: str | Path | None = None,
    summary_file: str | Path | None = None,
    pool: SandboxPool | None = None,
) -> dict[str, Any]:
    """The ``pairs code-process`` stage: open ``model`` (the policy) and its chat tokenizer, run
    :func:`run_code_process` and save the summary (default ``OUTPUT.summary.json``)."""
    backend.check(model)
    with backend.open(model) as generator:
        summary = run_code_process(
            problems_path,
            samples_path,
            output,
            generator,
            settings,
            scores_path=scores_path,
            values_path=values_path,
            tokenizer=backend.chat_tokenizer(generator, model),
            pool=pool,
        )
    path = Path(summary_file or summary_path(output))
    write_json(path, summary)
    return {**summary, "summary_file": str(path)}

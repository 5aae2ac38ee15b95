"""The benchmark runner behind ``ponder eval``: sample, grade, summarise, report.

A benchmark is a problem file in ponder's record format with a grading rule: ``FILE[:RULE]`` where RULE is
one of :data:`ponder.verify.rules.RULES` (``math`` by default) or ``code``; a problem's ``meta.rule``
overrides the file's rule. For each benchmark the runner

1. asks a *solver* for ``n`` attempts per problem (by default one chat turn through a Generator; a method
   can pass its own, e.g. Thinker's multi-stage inference chain), writing them as Sample records through
   :class:`~ponder.io.StageWriter` (``OUT/samples/NAME.jsonl``), so an interrupted evaluation resumes (under
   torchrun each process samples its share of the problems, :mod:`ponder.ranks`; process 0 grades and reports);
2. grades every attempt with the rule, clusters equivalent answers with the one majority vote
   (:func:`ponder.verify.rules.vote_with`), as PFPO's labels do, and writes each response's verdict and
   extracted answer back into its sample (``correct``, ``preds``);
3. summarises with :func:`ponder.eval.metrics.summarize` (accuracy = pass@1 averaged over n, pass@k, maj@k,
   mean tokens, tokens of correct answers, truncated share, reflection words, tokens per stage when the
   solver reports stages) and writes ``OUT/report.json``, ``OUT/report.md`` and ``OUT/report.png``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import PonderError
from ponder.eval.metrics import ProblemResult, summarize
from ponder.eval.report import bar_plot, markdown_table
from ponder.generation.backend import model_identity
from ponder.generation.base import Generator, SamplingParams
from ponder.io import write_json, write_records, write_text
from ponder.progress import in_chunks
from ponder.ranks import on_main, shared_output
from ponder.records import Problem, Sample, load_records, read_samples
from ponder.verify.rules import RULES, vote_with

EVAL_RULES = (*RULES, "code")


@dataclass
class Attempt:
    """One answer to a problem: the text that is graded, its generated tokens in total and per stage."""

    text: str
    num_tokens: int
    finish_reason: str
    stages: dict[str, int] = field(default_factory=dict)


# solver(problems, params) -> for each problem, params.n attempts
Solver = Callable[[Sequence[Problem], SamplingParams], list[list[Attempt]]]


@dataclass
class Benchmark:
    name: str
    path: Path
    rule: str
    problems: list[Problem]


def parse_spec(spec: str, default_rule: str = "math") -> tuple[Path, str]:
    """``"data/gsm.jsonl:number"`` -> (path, "number"); a spec without a known rule suffix uses the default."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail in EVAL_RULES:
        return Path(head), tail
    return Path(spec), default_rule


def load_benchmark(spec: str, default_rule: str = "math") -> Benchmark:
    """Read and check a benchmark file (every problem needs a gold answer, or tests for the code rule)."""
    if default_rule not in EVAL_RULES:
        raise PonderError(
            f"--rule: unknown grading rule {default_rule!r}; choose one of {', '.join(EVAL_RULES)}"
        )
    path, rule = parse_spec(spec, default_rule)
    problems = load_records(path, Problem)
    for i, p in enumerate(problems, start=1):
        r = p.meta.get("rule", rule)
        if r not in EVAL_RULES:
            raise PonderError(
                f"{path}: problem {p.id!r}: meta.rule {r!r} is not one of {', '.join(EVAL_RULES)}"
            )
        if r == "code" and not p.tests:
            raise PonderError(f"{path}: problem {p.id!r} (record {i}): the code rule needs 'tests'")
        if r != "code" and p.answer is None:
            raise PonderError(f"{path}: problem {p.id!r} (record {i}): field 'answer' is needed to grade it")
    name = path.name.removesuffix(".jsonl").removesuffix(".parquet")
    return Benchmark(name=name, path=path, rule=rule, problems=problems)


def chat_solver(generator: Generator, *, system: str | None = None) -> Solver:
    """The default solver: each problem's prompt as one chat turn (a string becomes a user message)."""

    def solve(problems: Sequence[Problem], params: SamplingParams) -> list[list[Attempt]]:
        prompts = []
        for p in problems:
            msgs = (
                [{"role": "user", "content": p.prompt}]
                if isinstance(p.prompt, str)
                else [dict(m) for m in p.prompt]
            )
            if system is not None and msgs[0]["role"] != "system":
                msgs.insert(0, {"role": "system", "content": system})
            prompts.append(msgs)
        outs = generator.generate(prompts, params)
        return [[Attempt(c.text, c.num_tokens, c.finish_reason) for c in comps] for comps in outs]

    solve.identity = {"solver": "chat", "system": system, "model": model_identity(generator)}  # type: ignore[attr-defined]
    return solve


# --------------------------------------------------------------------------- grading


def _grade_code(problem: Problem, text: str) -> tuple[bool, str | None]:
    from ponder.verify.code import run_tests
    from ponder.verify.code_program import problem_program

    source = problem_program(
        problem.meta, text
    )  # the extracted code, after meta.prompt_code when it needs it
    if source is None:
        return False, None
    mode = problem.meta.get("mode", "stdio")
    results = run_tests(
        source,
        problem.tests or [],
        mode=mode,
        entry_point=problem.meta.get("entry_point"),
        stop_on_first_failure=True,
    )
    return bool(results) and all(r.status == "passed" for r in results), None


def grade_sample(problem: Problem, sample: Sample, rule: str) -> tuple[list[bool], list[str | None]]:
    """Correctness and the extracted prediction of every response of a sample."""
    from ponder.verify.rules import grade_with

    correct, preds = [], []
    for text in sample.responses:
        if rule == "code":
            ok, pred = _grade_code(problem, text)
        else:
            v = grade_with(rule, text, problem.answer or "")
            ok, pred = v.correct, v.pred
        correct.append(bool(ok))
        preds.append(pred)
    return correct, preds


# --------------------------------------------------------------------------- running


def run_benchmark(
    bench: Benchmark,
    solver: Solver,
    params: SamplingParams,
    out_dir: Path,
    *,
    chunk_problems: int = 64,
) -> Path:
    """Write ``out_dir/samples/NAME.jsonl`` (resumable): n attempts per problem with tokens per stage.

    A solver made here (:func:`chat_solver`, the Thinker solvers) carries an ``identity`` (kind, model,
    options) that goes into each record's fingerprint with ``params``: samples made by another model or
    with other options are made again on resume."""
    path = out_dir / "samples" / f"{bench.name}.jsonl"
    settings = {"sampling": params, "solver": getattr(solver, "identity", None)}
    with shared_output(path, [p.id for p in bench.problems], settings=settings) as (writer, mine):
        share = [bench.problems[i] for i in mine]
        todo = [p for p in share if not writer.has(p.id, p)]
        total = len(share)
        for chunk, bar in in_chunks(todo, chunk_problems, total=total, desc=bench.name, unit="problem"):
            for p, attempts in zip(chunk, solver(chunk, params), strict=True):
                writer.write(
                    Sample(
                        id=p.id,
                        prompt=p.prompt,
                        responses=[a.text for a in attempts],
                        finish_reasons=[a.finish_reason for a in attempts],
                        num_tokens=[a.num_tokens for a in attempts],
                        answer=p.answer,
                        meta={"stages": [a.stages for a in attempts]}
                        if any(a.stages for a in attempts)
                        else {},
                    )
                )
                bar.update(1)
    return path


def score_benchmark(bench: Benchmark, samples_path: Path, ks: Sequence[int]) -> dict[str, Any]:
    """Grade the samples of a benchmark and summarise them (see :func:`ponder.eval.metrics.summarize`)."""
    by_id = {p.id: p for p in bench.problems}
    results: list[ProblemResult] = []
    stage_tokens: dict[str, list[int]] = {}
    graded: list[Sample] = []
    for s in read_samples(samples_path):
        p = by_id.get(s.id)
        if p is None:
            graded.append(s)
            continue
        rule = p.meta.get("rule", bench.rule)
        correct, preds = grade_sample(p, s, rule)
        graded.append(dataclasses.replace(s, correct=correct, preds=preds))
        keys = [] if rule == "code" else vote_with(rule, preds).labels(len(preds))
        results.append(
            ProblemResult(correct, keys, list(s.num_tokens), list(s.finish_reasons), list(s.responses))
        )
        for stages in s.meta.get("stages", []):
            for name, n in stages.items():
                stage_tokens.setdefault(name, []).append(n)
    # Each response's verdict beside it, so other tools (or people) can check them one by one.
    write_records(samples_path, graded)
    summary = summarize(results, ks=ks)
    summary["rule"] = bench.rule
    if stage_tokens:
        summary["mean_stage_tokens"] = {k: sum(v) / len(v) for k, v in stage_tokens.items()}
    return summary


def evaluate(
    solver: Solver,
    benchmarks: Sequence[Benchmark],
    params: SamplingParams,
    out_dir: str | Path,
    *,
    ks: Sequence[int] = (1,),
    name: str = "model",
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run, grade and report every benchmark; return the report (also written to ``out_dir``)."""
    out_dir = Path(out_dir)
    report: dict[str, Any] = {
        "name": name,
        "sampling": {
            "n": params.n,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "max_new_tokens": params.max_new_tokens,
            "seed": params.seed,
        },
        "benchmarks": {},
        **(extra or {}),
    }
    samples = [run_benchmark(bench, solver, params, out_dir) for bench in benchmarks]
    # Sampling is shared by every process; grading and the report are process 0's.
    return on_main(_report, report, benchmarks, samples, out_dir, ks)


def _report(
    report: dict[str, Any],
    benchmarks: Sequence[Benchmark],
    samples: list[Path],
    out_dir: Path,
    ks: Sequence[int],
) -> dict[str, Any]:
    for bench, path in zip(benchmarks, samples, strict=True):
        report["benchmarks"][bench.name] = score_benchmark(bench, path, ks)
    report["rows"] = rows_of(report)
    write_json(out_dir / "report.json", report)
    write_text(out_dir / "report.md", render_markdown(report) + "\n")
    if report["rows"]:
        bar_plot(out_dir / "report.png", report["rows"], ["accuracy", "mean_tokens"], title=report["name"])
    return report


def rows_of(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per benchmark: the flat metrics people compare."""
    rows = []
    for bench, s in report["benchmarks"].items():
        row = {"name": bench, **{k: v for k, v in s.items() if not isinstance(v, dict)}}
        for w, v in (s.get("reflection") or {}).items():
            row[w] = v
        for st, v in (s.get("mean_stage_tokens") or {}).items():
            row[f"tokens_{st}"] = v
        rows.append(row)
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    rows = report.get("rows") or rows_of(report)
    cols = ["name", "problems", "samples", "accuracy"]
    extra = sorted({k for r in rows for k in r if k.startswith(("pass@", "maj@")) and k != "pass@1"})
    cols += extra + ["mean_tokens", "mean_tokens_correct", "truncated_share"]
    cols += sorted({k for r in rows for k in r if k in ("wait", "hmm") or k.startswith("tokens_")})
    sp = report.get("sampling", {})
    head = f"**{report.get('name', 'model')}** — n={sp.get('n')}, temperature={sp.get('temperature')}, max_new_tokens={sp.get('max_new_tokens')}"
    return head + "\n\n" + markdown_table(rows, cols)


# --------------------------------------------------------------------------- compare


def compare_runs(run_dirs: Sequence[str | Path], metrics: Sequence[str] = ("accuracy", "mean_tokens")) -> str:
    """ThinkPO-style table over runs: one row per (benchmark, metric), one column per run, and the change in
    percent of the last run against the first."""
    import json

    from ponder.eval.metrics import change_percent

    reports = []
    for d in run_dirs:
        path = Path(d) / "report.json" if Path(d).is_dir() else Path(d)
        try:
            reports.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as e:
            raise PonderError(f"{path}: cannot read an evaluation report ({e})") from None
    names = [r.get("name") or Path(d).name for r, d in zip(reports, run_dirs, strict=True)]
    benches = list(dict.fromkeys(b for r in reports for b in r.get("benchmarks", {})))
    rows = []
    for b in benches:
        for m in metrics:
            vals = [r.get("benchmarks", {}).get(b, {}).get(m) for r in reports]
            row = {"benchmark": b, "metric": m, **dict(zip(names, vals, strict=True))}
            row["change %"] = change_percent(vals[0], vals[-1]) if len(vals) > 1 else None
            rows.append(row)
    return markdown_table(rows, ["benchmark", "metric", *names, "change %"])

"""The ``pairs code`` stage: problems (with test inputs) and sampled programs in, program pairs out.

For each problem (joined with its samples by ``id``):

1. the program of every response is extracted (:func:`ponder.verify.code_program.problem_program`);
2. ``labels="pseudo"``: every program runs on ``meta.test_inputs`` in the sandbox, the outputs are voted on
   (:mod:`ponder.feedback.pseudo_tests`) and each program's pass count over the kept pseudo tests ranks it
   (:func:`ponder.pairs.code.margin_pairs`); ``labels="gold"``: every program runs on the problem's own
   ``tests`` and those passing all of them are preferred over the others (:func:`~ponder.pairs.code.ground_truth_pairs`);
3. one *score* record per problem goes to the scores file through :class:`~ponder.io.StageWriter` (the expensive
   part, resumable): pseudo tests, pass counts and the chosen index pairs;
4. the pair file is then written in one atomic step from the scores.

``score_gold`` measures the pseudo feedback against the hidden truth when a problem has it, without using it
for the pairs: each program also runs on the problem's own tests (``gold_passed``), and its reference program
(``meta.reference``) on the pseudo inputs (``reference_agrees``: whether each voted output is the reference's).
The summary then reports ``pseudo_output_accuracy`` and ``pair_precision`` (share of pairs whose chosen program
passes more of the problem's own tests than the rejected one), and ``chosen_correct_share`` /
``rejected_correct_share`` (share of pairs whose chosen / rejected program passes all of them).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ponder.errors import InputError, PonderError
from ponder.feedback.pseudo_tests import agrees, pass_counts, pseudo_tests, vote_outputs
from ponder.feedback.test_inputs import input_mode
from ponder.io import StageWriter, write_records
from ponder.pairs.code import LABELS, cap_pairs, dedupe_pairs, ground_truth_pairs, margin_pairs, pair_records
from ponder.progress import progress
from ponder.records import Problem, Sample, iter_json_objects, load_records
from ponder.verify.code import Job, Limits, SandboxPool
from ponder.verify.code_program import problem_program


@dataclass(frozen=True)
class CodePairSettings:
    labels: str = "pseudo"
    lower_bound: float = 0.5
    margin: int = 6
    min_success: int = 5
    max_pairs_per_problem: int | None = None
    timeout_s: float = 5.0
    memory_mb: int = 512
    score_gold: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.labels not in LABELS:
            raise ValueError(f"labels must be one of {', '.join(LABELS)}, got {self.labels!r}")
        if self.margin < 1 or self.min_success < 1:
            raise ValueError("margin and min_success must be >= 1")
        if not 0 <= self.lower_bound <= 1:
            raise ValueError("lower_bound must be in [0, 1]")
        if self.max_pairs_per_problem is not None and self.max_pairs_per_problem < 1:
            raise ValueError("max_pairs_per_problem must be >= 1 (or None for all)")

    @property
    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


def test_mode(problem: Problem) -> str:
    return problem.meta.get("mode", "stdio")


def load_code_problems(path: str | Path, labels: str, score_gold: bool) -> list[Problem]:
    """Problems with what ``labels`` needs (``meta.test_inputs`` for pseudo, ``tests`` for gold); InputError
    names the file, line and field."""
    problems, first = [], {}
    for lineno, obj in iter_json_objects(path):
        p = Problem.from_dict(obj, path=path, line=lineno)
        if p.id in first:
            raise InputError(
                path, f"duplicate id {p.id!r} (first on line {first[p.id]})", line=lineno, field="id"
            )
        first[p.id] = lineno
        if labels == "pseudo" and not isinstance(p.meta.get("test_inputs"), list):
            raise InputError(
                path,
                "pseudo labels need test inputs: run `ponder tests generate` first",
                line=lineno,
                field="meta.test_inputs",
            )
        if (labels == "gold" or score_gold) and p.tests is None:
            raise InputError(
                path,
                f"{'gold labels' if labels == 'gold' else '--score-gold'} needs the problem's own tests",
                line=lineno,
                field="tests",
            )
        if (input_mode(p) == "call" or test_mode(p) == "call") and not isinstance(
            p.meta.get("entry_point"), str
        ):
            raise InputError(
                path,
                "a function problem needs the name of its function",
                line=lineno,
                field="meta.entry_point",
            )
        problems.append(p)
    return problems


def load_samples_by_id(path: str | Path) -> dict[str, Sample]:
    return {s.id: s for s in load_records(path, Sample)}


# --------------------------------------------------------------------------- scoring one chunk


def _score_chunk(
    pool: SandboxPool, chunk: Sequence[tuple[Problem, Sample]], s: CodePairSettings
) -> list[dict[str, Any]]:
    """Score records for a chunk of problems; all sandbox work of the chunk runs through the pool at once."""
    programs = [[problem_program(p.meta, r) for r in smp.responses] for p, smp in chunk]
    # Pseudo-test runs: each problem's programs on its inputs (one pool call per problem keeps them in parallel).
    input_jobs, owners = [], []
    for k, (p, _) in enumerate(chunk):
        if s.labels == "pseudo":
            inputs = p.meta["test_inputs"]
            for i, src in enumerate(programs[k]):
                if src is not None and inputs:
                    input_jobs.append(
                        Job(
                            src,
                            [{"input": x} for x in inputs],
                            input_mode(p),
                            p.meta.get("entry_point"),
                            s.limits,
                        )
                    )
                    owners.append(("run", k, i))
            ref = p.meta.get("reference")
            if s.score_gold and isinstance(ref, str) and inputs:
                input_jobs.append(
                    Job(
                        ref,
                        [{"input": x} for x in inputs],
                        input_mode(p),
                        p.meta.get("entry_point"),
                        s.limits,
                    )
                )
                owners.append(("ref", k, -1))
    test_jobs, test_owners = [], []
    for k, (p, _) in enumerate(chunk):
        if s.labels == "gold" or s.score_gold:
            for i, src in enumerate(programs[k]):
                if src is not None and p.tests:
                    test_jobs.append(Job(src, p.tests, test_mode(p), p.meta.get("entry_point"), s.limits))
                    test_owners.append((k, i))
    input_results = pool.run_inputs_many(input_jobs) if input_jobs else []
    test_results = pool.run_tests_many(test_jobs) if test_jobs else []

    runs: list[list] = [[None] * len(programs[k]) for k in range(len(chunk))]
    refs: list[Any] = [None] * len(chunk)
    for (what, k, i), res in zip(owners, input_results, strict=True):
        if what == "run":
            runs[k][i] = res
        else:
            refs[k] = res
    gold: list[list[int]] = [[0] * len(programs[k]) for k in range(len(chunk))]
    for (k, i), res in zip(test_owners, test_results, strict=True):
        gold[k][i] = sum(r.passed for r in res)

    out = []
    for k, (p, smp) in enumerate(chunk):
        rec: dict[str, Any] = {
            "id": p.id,
            "labels": s.labels,
            "programs": len(programs[k]),
            "extracted": sum(src is not None for src in programs[k]),
        }
        if s.labels == "pseudo":
            inputs = p.meta["test_inputs"]
            mode = input_mode(p)
            votes = vote_outputs(runs[k], len(inputs), min_success=s.min_success)
            tests = pseudo_tests(inputs, votes, mode)
            counts = pass_counts(runs[k], votes, mode)
            total = len(tests)
            pairs = margin_pairs(counts, total, lower_bound=s.lower_bound, margin=s.margin)
            rec.update(inputs=len(inputs), pseudo_tests=tests, passed=counts, tests=total)
            if s.score_gold and refs[k] is not None:
                rec["reference_agrees"] = [
                    agrees(refs[k][j], v, mode) if refs[k][j].ok else None
                    for j, v in enumerate(votes)
                    if v.kept
                ]
        else:
            total = len(p.tests or [])
            counts = gold[k]
            pairs = ground_truth_pairs([total > 0 and c == total for c in counts])
            rec.update(passed=counts, tests=total)
        if s.score_gold or s.labels == "gold":
            rec.update(gold_passed=gold[k], gold_tests=len(p.tests or []))
        pairs = dedupe_pairs(pairs, smp.responses)
        rng = random.Random(f"code-pairs\x00{s.seed}\x00{p.id}")
        rec["pairs"] = [list(x) for x in cap_pairs(pairs, s.max_pairs_per_problem, rng)]
        out.append(rec)
    return out


# --------------------------------------------------------------------------- the stage


def run_code_pairs(
    problems_path: str | Path,
    samples_path: str | Path,
    output: str | Path,
    settings: CodePairSettings = CodePairSettings(),
    *,
    scores_path: str | Path | None = None,
    workers: int = 0,
    chunk_problems: int = 16,
    pool: SandboxPool | None = None,
) -> dict[str, Any]:
    """Score every problem (resumable, ``scores_path``; default ``OUTPUT.scores.jsonl``), write the pairs to
    ``output`` atomically, and return the summary (also in the scores file's folder as ``OUTPUT.summary.json``
    by the command)."""
    start = time.perf_counter()
    output = Path(output)
    scores_path = (
        Path(scores_path)
        if scores_path
        else output.with_name(output.name.removesuffix(".jsonl") + ".scores.jsonl")
    )
    problems = load_code_problems(problems_path, settings.labels, settings.score_gold)
    samples = load_samples_by_id(samples_path)
    todo_all = [(p, samples[p.id]) for p in problems if p.id in samples]
    if not todo_all:
        raise PonderError(f"{samples_path}: no sample shares an id with the problems of {problems_path}")
    own_pool = pool is None
    pool = pool or SandboxPool(workers or None)
    try:
        with StageWriter(scores_path, settings=settings) as writer:
            todo = [(p, smp) for p, smp in todo_all if not writer.has(p.id, (p, smp))]
            bar = progress(
                total=len(todo_all), initial=len(todo_all) - len(todo), desc="score programs", unit="problem"
            )
            try:
                for c in range(0, len(todo), chunk_problems):
                    for rec in _score_chunk(pool, todo[c : c + chunk_problems], settings):
                        writer.write(rec)
                        bar.update(1)
            finally:
                bar.close()
    finally:
        if own_pool:
            pool.close()
    scores = {r["id"]: r for r in (obj for _, obj in iter_json_objects(scores_path))}
    pairs = []
    for p, smp in todo_all:
        rec = scores[p.id]
        idx = [tuple(x) for x in rec["pairs"]]
        pairs.extend(
            pair_records(
                p.id,
                smp.prompt,
                smp.responses,
                idx,
                rec["passed"],
                rec["tests"],
                labels=settings.labels,
                gold=rec.get("gold_passed"),
                truncated=[f == "length" for f in smp.finish_reasons],
            )
        )
    write_records(output, pairs)
    summary = summarize_scores([scores[p.id] for p, _ in todo_all], settings)
    summary.update(
        problems_in_file=len(problems),
        problems_without_samples=len(problems) - len(todo_all),
        output=str(output),
        scores=str(scores_path),
        seconds=time.perf_counter() - start,
    )
    return summary


def summarize_scores(recs: Sequence[dict[str, Any]], s: CodePairSettings) -> dict[str, Any]:
    """Counts and rates over the score records (see the module docstring for the measured ones)."""
    programs = sum(r["programs"] for r in recs)
    out: dict[str, Any] = {
        "labels": s.labels,
        "problems": len(recs),
        "programs": programs,
        "extracted_share": sum(r["extracted"] for r in recs) / programs if programs else 0.0,
        "pairs": sum(len(r["pairs"]) for r in recs),
        "problems_with_pairs": sum(1 for r in recs if r["pairs"]),
        "mean_tests": sum(r["tests"] for r in recs) / len(recs) if recs else 0.0,
    }
    if s.labels == "pseudo":
        inputs = sum(r["inputs"] for r in recs)
        out["inputs"] = inputs
        out["kept_test_share"] = sum(r["tests"] for r in recs) / inputs if inputs else 0.0
        out["problems_without_tests"] = sum(1 for r in recs if r["tests"] == 0)
        agree = [a for r in recs for a in r.get("reference_agrees", []) if a is not None]
        if s.score_gold:
            out["pseudo_output_accuracy"] = sum(agree) / len(agree) if agree else None
            out["pseudo_tests_checked"] = len(agree)
    if "gold_passed" in (recs[0] if recs else {}):
        diffs = [r["gold_passed"][i] - r["gold_passed"][j] for r in recs for i, j in r["pairs"]]
        out["pair_precision"] = sum(d > 0 for d in diffs) / len(diffs) if diffs else None
        out["pair_ties"] = sum(d == 0 for d in diffs) / len(diffs) if diffs else None
        # What DPO (and its SFT term) is pushed towards and away from: programs passing every hidden test.
        ends = [
            (r["gold_passed"][i] == r["gold_tests"], r["gold_passed"][j] == r["gold_tests"])
            for r in recs
            if r["gold_tests"]
            for i, j in r["pairs"]
        ]
        out["chosen_correct_share"] = sum(c for c, _ in ends) / len(ends) if ends else None
        out["rejected_correct_share"] = sum(r for _, r in ends) / len(ends) if ends else None
        out["programs_passing_all"] = (
            sum(1 for r in recs for g in r["gold_passed"] if r["gold_tests"] and g == r["gold_tests"])
            / programs
            if programs
            else 0.0
        )
    return out


def read_scores(path: str | Path) -> list[dict[str, Any]]:
    return [obj for _, obj in iter_json_objects(path)]

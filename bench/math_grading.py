"""Math grading: ponder against math-verify, side by side, in one run.

1. Accuracy on ponder's hand-written case set (tests/verify/cases.py): answer pairs compared with
   ``ponder.verify.math.is_equivalent`` and with math-verify's ``verify(parse(gold), parse(pred))``
   (answers wrapped in ``$...$``, the form math-verify's parser looks for), whole responses with
   ``ponder.verify.math.grade`` and ``verify(parse(gold), parse(response))``. Prints accuracy, false
   positives and false negatives per grader, per answer class, and the latency of single calls
   (caches cleared before every ponder call; math-verify keeps its own small parse cache).
2. Voting: 16 answers for each of 500 generated problems (the right answer in several written forms,
   wrong answers, unextractable ones). ponder's ``majority_vote`` against the best one can do with a
   pairwise-only grader: parse every answer once, then compare it with each cluster's first answer.

The last line is ``ratio: X``, the vote speed-up of ponder over pairwise math-verify.

Usage: python bench/math_grading.py [--problems 500] [--show-errors] [--plot accuracy.png]
Needs the bench extra (math-verify): pip install -e '.[bench]'
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from math_verify import parse as mv_parse  # noqa: E402
from math_verify import verify as mv_verify  # noqa: E402

from ponder.verify import math as vmath  # noqa: E402
from ponder.verify.answers import nodes  # noqa: E402
from ponder.verify.answers.limits import POOL  # noqa: E402
from tests.verify.cases import PAIRS, RESPONSES  # noqa: E402

logging.getLogger("math_verify").setLevel(logging.CRITICAL)


def wrap(answer: str) -> str:
    return answer if "$" in answer or "\\boxed" in answer or "\\(" in answer else f"${answer}$"


def clear_ponder_caches() -> None:
    vmath._parsed.cache_clear()
    vmath._KEYS.clear()
    nodes.canon.cache_clear()
    nodes.free.cache_clear()


def ponder_case(kind: str, pred: str, gold: str) -> bool:
    clear_ponder_caches()
    if kind == "pair":
        return vmath.is_equivalent(pred, gold)
    return vmath.grade(pred, gold).correct


def mv_case(kind: str, pred: str, gold: str) -> bool:
    g = mv_parse(wrap(gold))
    p = mv_parse(wrap(pred) if kind == "pair" else pred)
    return bool(mv_verify(g, p))


def run_cases(fn, cases):
    results, times = [], []
    for cls, kind, pred, gold, want in cases:
        t = time.perf_counter()
        try:
            got = fn(kind, pred, gold)
        except Exception:  # noqa: BLE001 - a crash counts as a wrong answer
            got = None
        times.append(time.perf_counter() - t)
        results.append((cls, pred, gold, want, got))
    return results, times


def score(results):
    ok = sum(got is want for _, _, _, want, got in results)
    fp = sum(got is True and want is False for *_, want, got in results)
    fn = sum(got is not True and want is True for *_, want, got in results)
    return ok / len(results), fp, fn


def pct(times, q):
    s = sorted(times)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


# --------------------------------------------------------------------------- vote workload


def _forms(v: Fraction, rng: random.Random) -> list[str]:
    p, q = v.numerator, v.denominator
    if q == 1:
        return [str(p), f"{p}.0", f"x = {p}", f"\\text{{{p}}}", f"{p}"]
    forms = [f"\\frac{{{p}}}{{{q}}}", f"{p}/{q}", f"\\dfrac{{{p}}}{{{q}}}", f"x = \\frac{{{p}}}{{{q}}}"]
    if 10**6 % q == 0:
        forms.append(str(float(v)))
    return forms


def vote_problem(rng: random.Random) -> list[str | None]:
    kind = rng.random()
    if kind < 0.5:
        gold = Fraction(rng.randint(-40, 40), rng.choice([1, 1, 2, 3, 4, 5, 7, 8]))
        wrong = [gold + rng.choice([-2, -1, 1, 2, Fraction(1, 2)]) for _ in range(3)]
        right_forms = _forms(gold, rng)
        wrong_forms = [f for w in wrong for f in _forms(w, rng)[:2]]
    elif kind < 0.7:
        a, b = rng.randint(1, 9), rng.choice([2, 3, 5, 6, 7])
        right_forms = [
            f"{a}\\sqrt{{{b}}}",
            f"\\sqrt{{{a * a * b}}}",
            f"{a} \\sqrt {b}",
            f"\\sqrt{{{b}}} \\cdot {a}",
        ]
        wrong_forms = [f"{a + 1}\\sqrt{{{b}}}", f"{a}\\sqrt{{{b + 1}}}", f"\\sqrt{{{a * b}}}"]
    elif kind < 0.85:
        x, y = rng.randint(-9, 9), rng.randint(-9, 9)
        right_forms = [f"({x}, {y})", f"\\left({x},{y}\\right)", f"(x, y) = ({x}, {y})"]
        wrong_forms = [f"({y}, {x})", f"({x}, {y + 1})", f"[{x}, {y}]"]
    else:
        lo, hi = sorted(rng.sample(range(-9, 10), 2))
        right_forms = [f"[{lo}, {hi})", f"{lo} \\le x < {hi}", f"\\left[{lo},{hi}\\right)"]
        wrong_forms = [f"({lo}, {hi})", f"[{lo}, {hi}]", f"[{lo}, {hi + 1})"]
    answers: list[str | None] = []
    for _ in range(16):
        r = rng.random()
        if r < 0.1:
            answers.append(None)
        elif r < 0.55:
            answers.append(rng.choice(right_forms))
        else:
            answers.append(rng.choice(wrong_forms))
    return answers


def mv_vote(answers):
    parsed = [None if a is None else mv_parse(wrap(a)) for a in answers]
    clusters: list[list] = []  # [representative parse, count, first answer]
    for a, p in zip(answers, parsed, strict=True):
        if a is None or not p:
            continue
        for c in clusters:
            if mv_verify(c[0], p):
                c[1] += 1
                break
        else:
            clusters.append([p, 1, a])
    if not clusters:
        return None, 0
    best = max(clusters, key=lambda c: c[1])
    return best[2], best[1]


def plot_classes(path: Path, res_p, res_m) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    classes = list(PAIRS) + ["responses"]
    acc_p = [score([r for r in res_p if r[0] == c])[0] for c in classes]
    acc_m = [score([r for r in res_m if r[0] == c])[0] for c in classes]
    fig, ax = plt.subplots(figsize=(10, 4.5))
    xs = range(len(classes))
    ax.bar([x - 0.2 for x in xs], acc_p, width=0.4, label="ponder")
    ax.bar([x + 0.2 for x in xs], acc_m, width=0.4, label="math-verify")
    ax.set_xticks(list(xs), [c.replace("_", " ") for c in classes], rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.2)
    ax.set_title("Grading accuracy by answer class (hand-written case set)")
    ax.legend(loc="upper right", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--plot", type=Path, help="write a PNG of accuracy by answer class")
    args = ap.parse_args()

    cases = [(cls, "pair", p, g, eq) for cls, items in PAIRS.items() for p, g, eq in items]
    cases += [("responses", "response", r, g, ok) for r, g, _, ok in RESPONSES]
    t = time.perf_counter()
    POOL.warm(60)
    warm = time.perf_counter() - t

    res_p, t_p = run_cases(ponder_case, cases)
    res_m, t_m = run_cases(mv_case, cases)
    acc_p, fp_p, fn_p = score(res_p)
    acc_m, fp_m, fn_m = score(res_m)
    n = len(cases)
    print(
        f"case set: {n} hand-written cases ({sum(c[1] == 'pair' for c in cases)} answer pairs, {len(RESPONSES)} responses)"
    )
    print(f"(ponder's symbolic worker started in {warm:.2f} s before timing)")
    print()
    print(f"| {'':28s} | {'ponder':>12s} | {'math-verify':>12s} |")
    print(f"|{'-' * 30}|{'-' * 14}|{'-' * 14}|")
    rows = [
        ("accuracy", f"{acc_p:.4f}", f"{acc_m:.4f}"),
        ("false positives", str(fp_p), str(fp_m)),
        ("false negatives", str(fn_p), str(fn_m)),
        ("calls per second", f"{n / sum(t_p):.0f}", f"{n / sum(t_m):.0f}"),
        ("median latency (ms)", f"{pct(t_p, 0.5):.2f}", f"{pct(t_m, 0.5):.2f}"),
        ("p99 latency (ms)", f"{pct(t_p, 0.99):.2f}", f"{pct(t_m, 0.99):.2f}"),
        ("max latency (ms)", f"{max(t_p) * 1000:.1f}", f"{max(t_m) * 1000:.1f}"),
    ]
    for name, a, b in rows:
        print(f"| {name:28s} | {a:>12s} | {b:>12s} |")
    print()
    print(f"| {'accuracy by class':28s} | {'ponder':>12s} | {'math-verify':>12s} | cases |")
    print(f"|{'-' * 30}|{'-' * 14}|{'-' * 14}|-------|")
    for cls in list(PAIRS) + ["responses"]:
        rp = [r for r in res_p if r[0] == cls]
        rm = [r for r in res_m if r[0] == cls]
        print(f"| {cls:28s} | {score(rp)[0]:12.3f} | {score(rm)[0]:12.3f} | {len(rp):5d} |")
    if args.plot:
        plot_classes(args.plot, res_p, res_m)
    if args.show_errors:
        for name, res in (("ponder", res_p), ("math-verify", res_m)):
            print(f"\n{name} mistakes:")
            for cls, pred, gold, want, got in res:
                if got is not want:
                    print(f"  [{cls}] {pred[:60]!r} vs {gold[:40]!r}: want {want}, got {got}")

    rng = random.Random(0)
    problems = [vote_problem(rng) for _ in range(args.problems)]
    clear_ponder_caches()
    t = time.perf_counter()
    votes_p = [vmath.majority_vote(a) for a in problems]
    time_p = time.perf_counter() - t
    t = time.perf_counter()
    votes_m = [mv_vote(a) for a in problems]
    time_m = time.perf_counter() - t
    agree = sum(
        (vp.answer is None and vm[0] is None)
        or (vp.answer is not None and vm[0] is not None and vmath.is_equivalent(vp.answer, vm[0]))
        for vp, vm in zip(votes_p, votes_m, strict=True)
    )
    print()
    print(f"vote: 16 answers x {args.problems} problems")
    print(f"  ponder majority_vote      {time_p:8.2f} s")
    print(f"  math-verify pairwise      {time_m:8.2f} s")
    print(f"  same winning answer on {agree}/{args.problems} problems")
    print(f"ratio: {time_m / time_p:.1f}")


if __name__ == "__main__":
    main()

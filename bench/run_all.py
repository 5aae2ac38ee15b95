"""Run every benchmark in bench/ and print each one's last line (its ratio against the peer).

    python bench/run_all.py            # full runs (tens of minutes on 2 cores)
    python bench/run_all.py --quick    # the short variants where a script has one

Each script runs ponder and its peer side by side in one process and ends with ``ratio: X``; this runner
only collects those lines into one table. Record results in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ("math grading vs math-verify (vote speed-up)", ["math_grading.py"], []),
    ("code execution vs a python process per test", ["code_exec.py"], []),
    ("DPO, thinkpo shape, vs TRL", ["train_dpo.py", "--shape", "thinkpo"], ["--quick"]),
    ("DPO, pfpo shape, vs TRL", ["train_dpo.py", "--shape", "pfpo"], ["--quick"]),
    ("SFT with packing vs TRL", ["train_sft.py"], ["--quick"]),
    ("training FLOP/s / bf16 matmul peak", ["train_flops.py"], ["--quick"]),
    (
        "DPO step peak RSS, Qwen vocabulary: whole logits / chunked",
        ["logprob_memory.py"],
        ["--tokens", "1024"],
    ),
    ("generation vs transformers generate", ["generation.py"], []),
    ("RL update on Thinker dialogues: stage by stage / one sequence", ["rl_dialogue_packing.py"], []),
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="use each script's --quick variant where it has one")
    args = ap.parse_args()
    rows = []
    failed = 0
    for name, cmd, quick in RUNS:
        argv = [sys.executable, str(HERE / cmd[0]), *cmd[1:], *(quick if args.quick else [])]
        print(f"== {name}: {' '.join(argv[1:])}", flush=True)
        start = time.perf_counter()
        r = subprocess.run(argv, capture_output=True, text=True)
        secs = time.perf_counter() - start
        lines = [ln for ln in r.stdout.strip().splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        if r.returncode != 0:
            failed += 1
            last = f"FAILED (exit {r.returncode}): {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ''}"
        print(r.stdout, end="")
        rows.append((name, last, secs))
    print("\n| benchmark | result | seconds |\n|---|---|---|")
    for name, last, secs in rows:
        print(f"| {name} | {last} | {secs:.0f} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
